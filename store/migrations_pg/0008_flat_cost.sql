-- The indexes of SQLite's 0008_flat_cost for PostgreSQL, so that every
-- statement on the path of a mail or a notification stays an index look-up
-- however much history the database holds. (thread_ids already has its
-- index on case_id here, since 0001.)

-- The circuit breaker counts recent sent attempts from the index alone.
CREATE INDEX outbox_attempts_result_started ON outbox_attempts (result, started_at);
DROP INDEX outbox_attempts_started;

-- outbox_case_created (case_id, created_at) serves every look-up by case.
DROP INDEX outbox_case;

-- Quarantined messages not yet replayed.
CREATE INDEX quarantine_replayed ON quarantine (replayed_at);
