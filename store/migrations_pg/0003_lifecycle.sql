-- The case life cycle, as SQLite's migrations/0003_lifecycle.sql.

CREATE TABLE surveys (
	case_id  BIGINT  NOT NULL PRIMARY KEY REFERENCES cases (id),
	rating   INTEGER CHECK (rating BETWEEN 1 AND 5),
	comment  TEXT    NOT NULL DEFAULT '',
	via      TEXT    NOT NULL DEFAULT '',
	sent_at  BIGINT  NOT NULL,
	rated_at BIGINT
);

CREATE TABLE settings (
	key   TEXT  NOT NULL PRIMARY KEY,
	value BYTEA NOT NULL
);

ALTER TABLE cases ADD COLUMN resolutions INTEGER NOT NULL DEFAULT 0;

CREATE INDEX cases_resolved ON cases (state, resolved_at);
