-- As SQLite's migrations/0004_outbox_pool.sql: a pending row is due only
-- when no older row of the same case and recipient is pending; this index
-- answers that for one row.
CREATE INDEX outbox_pending_order ON outbox (case_id, recipient COLLATE nocase, id) WHERE status = 'pending';
-- Start-up closes the attempts a stopped process left open.
CREATE INDEX outbox_attempts_open ON outbox_attempts (result) WHERE result = 'started';
