-- Several instances share the outbox and the polled mailboxes.
--
-- A row being sent is claimed by one instance (claimed_by, its instance
-- id) until claimed_until, a lease the instance renews while it works on
-- the row; no other instance sends it meanwhile. Each attempt names the
-- instance that made it, so start-up recovery closes only its own.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;
ALTER TABLE outbox_attempts ADD COLUMN instance TEXT NOT NULL DEFAULT '';

-- Each polled mailbox is leased by one instance at a time: its owner
-- renews expires_at while it polls; once that passed, another instance
-- may take the mailbox over.
CREATE TABLE mailbox_leases (
	mailbox     TEXT    NOT NULL PRIMARY KEY,
	owner       TEXT    NOT NULL,
	expires_at  INTEGER NOT NULL,
	acquired_at INTEGER NOT NULL
);
