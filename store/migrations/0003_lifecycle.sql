-- The case life cycle: satisfaction surveys (one rating per case) and
-- gateway settings such as the key that signs links in mails.

CREATE TABLE surveys (
	case_id  INTEGER NOT NULL PRIMARY KEY REFERENCES cases (id),
	rating   INTEGER CHECK (rating BETWEEN 1 AND 5),
	comment  TEXT    NOT NULL DEFAULT '',
	via      TEXT    NOT NULL DEFAULT '', -- reply | link
	sent_at  INTEGER NOT NULL,
	rated_at INTEGER
);

CREATE TABLE settings (
	key   TEXT NOT NULL PRIMARY KEY,
	value BLOB NOT NULL
);

-- How many times a case was resolved: signed accept/reject links are bound
-- to one resolution and refused after the case was reopened.
ALTER TABLE cases ADD COLUMN resolutions INTEGER NOT NULL DEFAULT 0;

CREATE INDEX cases_resolved ON cases (state, resolved_at);
