-- A message's final decision trace, in a row of its own (see SQLite's
-- 0012_message_decisions: updating the messages row rewrote the raw mail).
CREATE TABLE message_decisions (
	message_id BIGINT NOT NULL PRIMARY KEY REFERENCES messages (id),
	decision   TEXT   NOT NULL
);
