-- Deliverability and loop protection: what we know of each address we
-- mail (hard bounces, undeliverable), every bounce attributed to an outbox
-- row, and every notification that loop protection or a budget kept from
-- being queued. Timestamps are Unix milliseconds (UTC).

-- One row per address we ever had a bounce for. Contacts and watchers are
-- both addresses; an address is undeliverable for every case at once.
CREATE TABLE addresses (
	email          TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
	hard_bounces   INTEGER NOT NULL DEFAULT 0,
	soft_bounces   INTEGER NOT NULL DEFAULT 0,
	undeliverable  INTEGER NOT NULL DEFAULT 0,
	last_bounce_at INTEGER,
	last_status    TEXT    NOT NULL DEFAULT '',
	cleared_at     INTEGER,
	cleared_by     TEXT    NOT NULL DEFAULT '',
	updated_at     INTEGER NOT NULL
);
CREATE INDEX addresses_undeliverable ON addresses (undeliverable) WHERE undeliverable = 1;

-- Delivery reports (DSNs) and other bounces, attributed to the outbox row
-- they report on when we could tell which one.
CREATE TABLE bounces (
	id         INTEGER PRIMARY KEY,
	outbox_id  INTEGER REFERENCES outbox (id),
	message_id INTEGER REFERENCES messages (id), -- the inbound report
	recipient  TEXT    NOT NULL DEFAULT '',
	status     TEXT    NOT NULL DEFAULT '',
	permanent  INTEGER NOT NULL DEFAULT 0,
	via        TEXT    NOT NULL DEFAULT '', -- verp | message_id
	created_at INTEGER NOT NULL
);
CREATE INDEX bounces_outbox ON bounces (outbox_id);

-- Notifications that were not queued, and why (undeliverable, budget,
-- own address, ...): nothing disappears without a trace.
CREATE TABLE suppressions (
	id         INTEGER PRIMARY KEY,
	case_id    INTEGER REFERENCES cases (id),
	template   TEXT    NOT NULL,
	recipient  TEXT    NOT NULL,
	reason     TEXT    NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX suppressions_recipient ON suppressions (recipient, created_at);

-- Budgets count the notifications queued per recipient and per case.
CREATE INDEX outbox_recipient_created ON outbox (recipient COLLATE NOCASE, created_at);
CREATE INDEX outbox_case_created ON outbox (case_id, created_at);
-- The circuit breaker counts recent attempts.
CREATE INDEX outbox_attempts_started ON outbox_attempts (started_at);
