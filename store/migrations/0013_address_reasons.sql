-- Why an address last failed, in the bounce reasons' vocabulary
-- (user_unknown, mailbox_full, ...), and "complaint" for one whose owner
-- reported our mail as spam; shown by `casegate addresses list` and the
-- API beside the last status code.
ALTER TABLE addresses ADD COLUMN last_reason TEXT NOT NULL DEFAULT '';
