-- A message's decision trace is completed after its row is written (the
-- steps that follow the insert: notifications, state changes). Updating
-- it in the messages row made SQLite write the whole row again, the raw
-- mail's pages included; the final trace now lives in a row of its own.
-- messages.decision keeps the trace as first written, for rows of before.
CREATE TABLE message_decisions (
	message_id INTEGER NOT NULL PRIMARY KEY REFERENCES messages (id),
	decision   TEXT    NOT NULL
);
