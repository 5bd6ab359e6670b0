-- Each text of an inbound mail is kept once, and a large mail in pieces.
--
-- messages.visible holds the visible reply only where it differs from the
-- full text; NULL means it is the full text (read back with COALESCE).
-- SQLite cannot make a column nullable in place: the column is made anew
-- and the old one dropped, which rewrites the table once.
ALTER TABLE messages ADD COLUMN visible_differs TEXT;
UPDATE messages SET visible_differs = visible WHERE visible <> full_text;
ALTER TABLE messages DROP COLUMN visible;
ALTER TABLE messages RENAME COLUMN visible_differs TO visible;

-- A part of a message larger than 1 MiB (its raw bytes, its full text, a
-- visible reply that differs) is kept in message_chunks in pieces of at
-- most 1 MiB, in order of seq, its column in messages left empty and its
-- bit set in messages.chunked (1 raw, 2 full text, 4 visible reply), so
-- that neither storing nor reading a large mail needs all of it in one
-- value.
ALTER TABLE messages ADD COLUMN chunked INTEGER NOT NULL DEFAULT 0;
CREATE TABLE message_chunks (
	message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	part       TEXT    NOT NULL CHECK (part IN ('raw', 'text', 'visible')),
	seq        INTEGER NOT NULL,
	data       BLOB    NOT NULL,
	PRIMARY KEY (message_id, part, seq)
);

-- An inbound activity reads its text from its message.
UPDATE activities SET body = '' WHERE kind = 'inbound' AND message_id IS NOT NULL;
