-- As SQLite's migrations/0005_sources.sql: every notification queued
-- while handling an inbound mail is counted against that mail's source.
CREATE TABLE outbox_sources (
	outbox_id  BIGINT NOT NULL PRIMARY KEY REFERENCES outbox (id),
	source     TEXT   NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX outbox_sources_source ON outbox_sources (source, created_at);
