-- Indexes for the statements every mail and every notification runs, so
-- their cost stays flat however much history the database holds, and for
-- the gauges /metrics reads at each scrape.

-- The case's Message-IDs, for the References of its notifications.
CREATE INDEX thread_ids_case ON thread_ids (case_id);

-- The circuit breaker counts recent sent attempts from the index alone;
-- it replaces the index on started_at, which nothing else reads.
CREATE INDEX outbox_attempts_result_started ON outbox_attempts (result, started_at);
DROP INDEX outbox_attempts_started;

-- outbox_case_created (case_id, created_at) serves every look-up by case
-- that outbox_case (case_id) did; one index fewer to write per mail.
DROP INDEX outbox_case;

-- Quarantined messages not yet replayed.
CREATE INDEX quarantine_replayed ON quarantine (replayed_at);
