-- What came back about a notification after the relay took it, so the
-- outbox tells the truth. A report (table bounces) is either a failure
-- (the mail did not arrive: the outbox shows a sent row as bounced) or a
-- delay warning (DSN action delayed, RFC 3464 §2.3.3: the mail may still
-- arrive; noted on the row, counts nothing). Rows with via 'relay' are
-- our relay's permanent refusal of the recipient at RCPT: no report
-- mail (message_id is NULL), detail is the relay's answer.
ALTER TABLE bounces ADD COLUMN kind   TEXT NOT NULL DEFAULT 'failed'; -- failed | delayed
ALTER TABLE bounces ADD COLUMN reason TEXT NOT NULL DEFAULT '';       -- why, in a short vocabulary: user_unknown, mailbox_full, ...
ALTER TABLE bounces ADD COLUMN detail TEXT NOT NULL DEFAULT '';       -- the remote answer, where known
