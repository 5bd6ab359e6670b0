-- SQLite's 0009_single_copy for PostgreSQL: each text of an inbound mail
-- is kept once, and a large mail in pieces.

-- messages.visible holds the visible reply only where it differs from the
-- full text; NULL means it is the full text (read back with COALESCE).
ALTER TABLE messages ALTER COLUMN visible DROP NOT NULL, ALTER COLUMN visible DROP DEFAULT;
UPDATE messages SET visible = NULL WHERE visible = full_text;

-- A part larger than 1 MiB in pieces of message_chunks; see SQLite's.
ALTER TABLE messages ADD COLUMN chunked INTEGER NOT NULL DEFAULT 0;
CREATE TABLE message_chunks (
	message_id BIGINT  NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	part       TEXT    NOT NULL CHECK (part IN ('raw', 'text', 'visible')),
	seq        INTEGER NOT NULL,
	data       BYTEA   NOT NULL,
	PRIMARY KEY (message_id, part, seq)
);

-- An inbound activity reads its text from its message.
UPDATE activities SET body = '' WHERE kind = 'inbound' AND message_id IS NOT NULL;
