-- An attachment larger than 1 MiB is kept in pieces of at most 1 MiB, in
-- order of seq, its content column left empty and chunked set to 1, as a
-- large mail is (message_chunks): storing or serving it never needs all
-- of it in one value.
ALTER TABLE attachments ADD COLUMN chunked INTEGER NOT NULL DEFAULT 0;
CREATE TABLE attachment_chunks (
	attachment_id BIGINT  NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
	seq           INTEGER NOT NULL,
	data          BYTEA   NOT NULL,
	PRIMARY KEY (attachment_id, seq)
);
