-- A quarantined mail larger than 1 MiB is kept in pieces of at most 1 MiB,
-- in order of seq, its raw column left empty and chunked set to 1, as a
-- large accepted mail is (message_chunks): storing or reading it never
-- needs all of it in one value.
ALTER TABLE quarantine ADD COLUMN chunked INTEGER NOT NULL DEFAULT 0;
CREATE TABLE quarantine_chunks (
	quarantine_id INTEGER NOT NULL REFERENCES quarantine (id) ON DELETE CASCADE,
	seq           INTEGER NOT NULL,
	data          BLOB    NOT NULL,
	PRIMARY KEY (quarantine_id, seq)
);
