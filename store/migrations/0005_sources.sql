-- Budgets per source: every notification queued while handling an inbound
-- mail is counted against that mail's source (its authenticated domain,
-- else its original client), so one source cannot make the gateway send
-- more than its hourly budget, whatever the From headers say.
CREATE TABLE outbox_sources (
	outbox_id  INTEGER NOT NULL PRIMARY KEY REFERENCES outbox (id),
	source     TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX outbox_sources_source ON outbox_sources (source, created_at);
