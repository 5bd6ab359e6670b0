-- The first schema: cases and their people, the activity thread, every
-- inbound message with its raw bytes, the Message-IDs used for threading,
-- the durable outbox, the quarantine and the IMAP pollers' positions.
-- Timestamps are Unix milliseconds (UTC).

CREATE TABLE contacts (
	id            INTEGER PRIMARY KEY,
	email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
	name          TEXT    NOT NULL DEFAULT '',
	account       TEXT    NOT NULL DEFAULT '',
	undeliverable INTEGER NOT NULL DEFAULT 0,
	hard_bounces  INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
);

-- AUTOINCREMENT: a case number, once committed, is never handed out again,
-- even if the case row were ever deleted.
CREATE TABLE cases (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	number         TEXT    NOT NULL UNIQUE,
	kind           TEXT    NOT NULL CHECK (kind IN ('case', 'order')),
	state          TEXT    NOT NULL CHECK (state IN ('new', 'open', 'awaiting_info', 'on_hold', 'resolved', 'closed')),
	contact_id     INTEGER NOT NULL REFERENCES contacts (id),
	account        TEXT    NOT NULL DEFAULT '',
	subject        TEXT    NOT NULL DEFAULT '',
	description    TEXT    NOT NULL DEFAULT '',
	priority       TEXT    NOT NULL DEFAULT 'normal',
	impact         TEXT    NOT NULL DEFAULT '',
	affected_item  TEXT    NOT NULL DEFAULT '',
	customer_ref   TEXT    NOT NULL DEFAULT '',
	assignee       TEXT    NOT NULL DEFAULT '',
	linked_case_id INTEGER REFERENCES cases (id),
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	resolved_at    INTEGER,
	closed_at      INTEGER
);
CREATE INDEX cases_state ON cases (state, id);
CREATE INDEX cases_contact ON cases (contact_id, id);

CREATE TABLE watchers (
	case_id    INTEGER NOT NULL REFERENCES cases (id),
	email      TEXT    NOT NULL COLLATE NOCASE,
	name       TEXT    NOT NULL DEFAULT '',
	added_by   TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	PRIMARY KEY (case_id, email)
);

-- Every inbound message, byte for byte, with what was made of it.
CREATE TABLE messages (
	id             INTEGER PRIMARY KEY,
	case_id        INTEGER REFERENCES cases (id),
	source         TEXT    NOT NULL,            -- smtp | imap | pipe | replay
	envelope_from  TEXT    NOT NULL DEFAULT '',
	envelope_to    TEXT    NOT NULL DEFAULT '', -- comma-separated
	message_id     TEXT    NOT NULL DEFAULT '',
	content_sha256 TEXT    NOT NULL,
	from_addr      TEXT    NOT NULL DEFAULT '',
	subject        TEXT    NOT NULL DEFAULT '',
	outcome        TEXT    NOT NULL,            -- new_case | reply | ignored | bounce | auto_reply
	raw            BLOB    NOT NULL,
	full_text      TEXT    NOT NULL DEFAULT '',
	visible        TEXT    NOT NULL DEFAULT '',
	headers        TEXT    NOT NULL DEFAULT '{}', -- JSON: headers of interest
	decision       TEXT    NOT NULL DEFAULT '[]', -- JSON: the decision trace
	received_at    INTEGER NOT NULL
);
CREATE INDEX messages_case ON messages (case_id, id);
CREATE INDEX messages_message_id ON messages (message_id) WHERE message_id <> '';
CREATE UNIQUE INDEX messages_content ON messages (content_sha256);

CREATE TABLE attachments (
	id           INTEGER PRIMARY KEY,
	message_id   INTEGER NOT NULL REFERENCES messages (id),
	case_id      INTEGER REFERENCES cases (id),
	filename     TEXT    NOT NULL DEFAULT '',
	content_type TEXT    NOT NULL DEFAULT '',
	content_id   TEXT    NOT NULL DEFAULT '',
	inline       INTEGER NOT NULL DEFAULT 0,
	size         INTEGER NOT NULL,
	sha256       TEXT    NOT NULL,
	content      BLOB    NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_case ON attachments (case_id);

-- Message-IDs we sent or ingested, for threading replies to their case.
CREATE TABLE thread_ids (
	message_id TEXT    NOT NULL PRIMARY KEY,
	case_id    INTEGER NOT NULL REFERENCES cases (id),
	direction  TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
	created_at INTEGER NOT NULL
);

CREATE TABLE activities (
	id         INTEGER PRIMARY KEY,
	case_id    INTEGER NOT NULL REFERENCES cases (id),
	kind       TEXT    NOT NULL, -- inbound | comment | state | watcher | delivery | link
	actor      TEXT    NOT NULL DEFAULT '',
	public     INTEGER NOT NULL DEFAULT 1,
	body       TEXT    NOT NULL DEFAULT '',
	message_id INTEGER REFERENCES messages (id),
	created_at INTEGER NOT NULL
);
CREATE INDEX activities_case ON activities (case_id, id);

-- The durable outbox: one row per mail to one recipient, written in the
-- transaction of the event that causes it.
CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY,
	case_id         INTEGER REFERENCES cases (id),
	template        TEXT    NOT NULL,
	recipient       TEXT    NOT NULL,
	recipient_name  TEXT    NOT NULL DEFAULT '',
	role            TEXT    NOT NULL DEFAULT '', -- contact | watcher | agent
	message_id      TEXT    NOT NULL UNIQUE,     -- ours, fixed at enqueue: retries reuse it
	in_reply_to     TEXT    NOT NULL DEFAULT '',
	refs            TEXT    NOT NULL DEFAULT '', -- space-separated
	data            TEXT    NOT NULL DEFAULT '{}', -- JSON snapshot for the template
	status          TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	last_error      TEXT    NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_case ON outbox (case_id);

CREATE TABLE outbox_attempts (
	id          INTEGER PRIMARY KEY,
	outbox_id   INTEGER NOT NULL REFERENCES outbox (id),
	started_at  INTEGER NOT NULL,
	finished_at INTEGER,
	result      TEXT    NOT NULL DEFAULT 'started', -- started | sent | temporary | permanent
	error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_attempts_outbox ON outbox_attempts (outbox_id);

-- What could not be taken as a mail, kept raw for operators to replay.
CREATE TABLE quarantine (
	id             INTEGER PRIMARY KEY,
	source         TEXT    NOT NULL,
	envelope_from  TEXT    NOT NULL DEFAULT '',
	envelope_to    TEXT    NOT NULL DEFAULT '',
	reason         TEXT    NOT NULL,
	detail         TEXT    NOT NULL DEFAULT '',
	content_sha256 TEXT    NOT NULL,
	raw            BLOB    NOT NULL,
	created_at     INTEGER NOT NULL,
	replayed_at    INTEGER
);
CREATE INDEX quarantine_content ON quarantine (content_sha256);

CREATE TABLE imap_state (
	mailbox      TEXT    NOT NULL PRIMARY KEY,
	uid_validity INTEGER NOT NULL,
	last_uid     INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
);
