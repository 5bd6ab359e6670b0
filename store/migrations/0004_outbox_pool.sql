-- The outbound sender pool sends a case's mails to one recipient one at a
-- time, oldest first: a pending row is due only when no older row of the
-- same case and recipient is pending. This index answers that question
-- for one row without reading the case's other mail.
CREATE INDEX outbox_pending_order ON outbox (case_id, recipient COLLATE NOCASE, id) WHERE status = 'pending';
-- Start-up closes the attempts a stopped process left open; only those
-- are in this index.
CREATE INDEX outbox_attempts_open ON outbox_attempts (result) WHERE result = 'started';
