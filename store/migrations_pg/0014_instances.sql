-- As SQLite's migrations/0014_instances.sql: outbox claims owned by an
-- instance under a lease, the instance of each attempt, and one lease per
-- polled mailbox.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until BIGINT;
ALTER TABLE outbox_attempts ADD COLUMN instance TEXT NOT NULL DEFAULT '';

CREATE TABLE mailbox_leases (
	mailbox     TEXT   NOT NULL PRIMARY KEY,
	owner       TEXT   NOT NULL,
	expires_at  BIGINT NOT NULL,
	acquired_at BIGINT NOT NULL
);
