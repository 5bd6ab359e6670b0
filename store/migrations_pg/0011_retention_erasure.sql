-- As SQLite's migrations/0010_retention_erasure.sql: what was purged and
-- when, the retention sweep's index, and the tombstones of erased people.
ALTER TABLE messages ADD COLUMN purged TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN purged_at BIGINT;
ALTER TABLE attachments ADD COLUMN purged TEXT NOT NULL DEFAULT '';
ALTER TABLE attachments ADD COLUMN purged_at BIGINT;
ALTER TABLE cases ADD COLUMN purged_at BIGINT;
CREATE INDEX cases_retention ON cases (closed_at) WHERE state = 'closed' AND purged_at IS NULL;

CREATE TABLE tombstones (
	hash       TEXT   NOT NULL PRIMARY KEY,
	kind       TEXT   NOT NULL,
	created_at BIGINT NOT NULL
);
