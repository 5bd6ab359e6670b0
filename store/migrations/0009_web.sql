-- The pages: sign-in links and sessions live in the database, so every
-- instance sharing it honours them. Only hashes of the secrets are kept
-- (SHA-256, hex) in these tables.
CREATE TABLE web_logins (
	token_hash TEXT   NOT NULL PRIMARY KEY,
	kind       TEXT   NOT NULL, -- customer | agent
	email      TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT
);
CREATE INDEX web_logins_expires ON web_logins (expires_at);

CREATE TABLE web_sessions (
	id_hash    TEXT   NOT NULL PRIMARY KEY,
	kind       TEXT   NOT NULL, -- customer | agent
	email      TEXT   NOT NULL, -- an address, or the name of the API token used to sign in
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);
