-- Retention and erasure.
--
-- A purged message keeps its row, its text and its decision trace; its
-- raw bytes are gone, and so is the content of its attachments. purged
-- says why: 'retention' (policy.retention after its case was closed) or
-- 'erased' (`casegate contacts forget`, which blanks the text too).
ALTER TABLE messages ADD COLUMN purged TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN purged_at INTEGER;
ALTER TABLE attachments ADD COLUMN purged TEXT NOT NULL DEFAULT '';
ALTER TABLE attachments ADD COLUMN purged_at INTEGER;

-- When a closed case's mail was purged. The retention sweep reads only
-- the closed cases not purged yet, oldest close first.
ALTER TABLE cases ADD COLUMN purged_at INTEGER;
CREATE INDEX cases_retention ON cases (closed_at) WHERE state = 'closed' AND purged_at IS NULL;

-- Tombstones of erased people: salted hashes (HMAC-SHA256 under the
-- settings key secret:forget) of the address and of the Message-IDs and
-- contents of the mail they sent, so that a re-delivered old mail is not
-- taken in again. Nothing here names anyone.
CREATE TABLE tombstones (
	hash       TEXT    NOT NULL PRIMARY KEY,
	kind       TEXT    NOT NULL, -- address | message_id | content
	created_at INTEGER NOT NULL
);
