// Package storetest fills a store with history for tests and benchmarks
// that must run against a database the size of a desk that has been in use
// for a while: query plans, and the cost of a mail as the history grows.
package storetest

import (
	"context"
	"fmt"
	"time"

	"github.com/casegate/casegate/store"
)

// Populate adds n cases, numbered after the ones already stored, with what
// a year of use leaves around them: two cases per contact, an opening mail
// per case and a reply for every other one (raw bytes, thread ids,
// activities), a watcher on every fifth case, an attachment on every tenth
// mail, and per case a sent confirmation with its attempt. One case in ten
// is resolved, six are closed (with a rated survey), the rest new, open or
// awaiting information; one confirmation in fifty is dead with a hard
// bounce, one in a hundred pending with its next attempt in the future, and
// one mail in a hundred sits in quarantine. Everything is older than now.
//
// Keys that are random in real use (content hashes, Message-IDs,
// addresses) are random here too, so look-ups and inserts land all over
// their indexes as they would on a real desk. Each table is filled by one
// INSERT … SELECT, so 100,000 cases take seconds. The case numbers use prefix; the store must be otherwise empty
// of rows with the ids this creates (it starts after the largest case id).
func Populate(ctx context.Context, st *store.Store, n int, prefix string, now time.Time) error {
	if n <= 0 {
		return nil
	}
	// t0 is the first case's time: one case a minute up to an hour ago.
	t0 := now.Add(-time.Hour - time.Duration(n)*time.Minute).UnixMilli()
	for _, s := range populateSQL {
		if err := st.Exec(ctx, s, n, t0, prefix); err != nil {
			return fmt.Errorf("populate: %w\n%s", err, s)
		}
	}
	return nil
}

// populateSQL fills one table each; ?1 is n, ?2 the first case's time in
// Unix milliseconds, ?3 the case number prefix. Ids are offset by the
// largest one already there, so Populate can run on a store in use.
var populateSQL = []string{
	// Contacts: one for every two cases.
	`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < (?1 + 1) / 2),
		base(b) AS (SELECT COALESCE(max(id), 0) FROM contacts)
	INSERT INTO contacts (id, email, name, created_at)
	SELECT b + i, lower(hex(randomblob(3))) || '.' || (b + i) || '@prefill.example', 'Customer ' || (b + i), ?2 + i * 120000
	FROM k, base`,

	// Cases: states by id modulo 10, one a minute.
	`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1),
		base(b) AS (SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'cases'), 0)),
		pb(p) AS (SELECT max(id) - (?1 + 1) / 2 FROM contacts)
	INSERT INTO cases (id, number, kind, state, contact_id, subject, description, priority, created_at, updated_at,
		resolved_at, closed_at, resolutions)
	SELECT b + i, printf('%s%07d', ?3, b + i), 'case',
		CASE WHEN i % 10 < 6 THEN 'closed' WHEN i % 10 = 6 THEN 'resolved' WHEN i % 10 = 7 THEN 'open'
			WHEN i % 10 = 8 THEN 'awaiting_info' ELSE 'new' END,
		p + (i + 1) / 2, 'Prefilled case ' || (b + i), 'The prefilled case number ' || (b + i) || ' has a description.',
		'normal', ?2 + i * 60000, ?2 + i * 60000 + 30000,
		CASE WHEN i % 10 <= 6 THEN ?2 + i * 60000 + 20000 END,
		CASE WHEN i % 10 < 6 THEN ?2 + i * 60000 + 30000 END,
		i % 10 <= 6
	FROM k, base, pb`,

	// Opening mails (message id = case id offset), then replies for every
	// other case.
	`INSERT INTO messages (case_id, source, envelope_from, envelope_to, message_id, content_sha256, from_addr,
		subject, outcome, raw, full_text, visible, received_at)
	SELECT c.id, 'smtp', p.email, 'support@support.test', lower(hex(randomblob(8))) || '.' || c.id || '@prefill.example',
		lower(hex(randomblob(32))), p.email, c.subject, 'new_case',
		CAST('From: ' || p.email || char(13, 10) || 'Subject: ' || c.subject || char(13, 10, 13, 10) || c.description AS BLOB),
		c.description, c.description, c.created_at
	FROM cases c JOIN contacts p ON p.id = c.contact_id
	WHERE c.id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1`,

	`INSERT INTO messages (case_id, source, envelope_from, envelope_to, message_id, content_sha256, from_addr,
		subject, outcome, raw, full_text, visible, received_at)
	SELECT c.id, 'smtp', p.email, 'support@support.test', lower(hex(randomblob(8))) || '.' || c.id || '@prefill.example',
		lower(hex(randomblob(32))), p.email, 'Re: ' || c.subject, 'reply',
		CAST('From: ' || p.email || char(13, 10) || 'Subject: Re: ' || c.subject || char(13, 10, 13, 10) || 'Any news?' AS BLOB),
		'Any news?', 'Any news?', c.created_at + 10000
	FROM cases c JOIN contacts p ON p.id = c.contact_id
	WHERE c.id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1 AND c.id % 2 = 0`,

	`INSERT INTO thread_ids (message_id, case_id, direction, created_at)
	SELECT message_id, case_id, 'in', received_at FROM messages
	WHERE case_id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1`,

	`INSERT INTO activities (case_id, kind, actor, public, body, message_id, created_at)
	SELECT case_id, 'inbound', from_addr, 1, visible, id, received_at FROM messages
	WHERE case_id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1`,

	`INSERT INTO attachments (message_id, case_id, filename, content_type, size, sha256, content)
	SELECT id, case_id, 'log.txt', 'text/plain', 9, content_sha256, CAST('log lines' AS BLOB) FROM messages
	WHERE id % 10 = 0 AND case_id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1`,

	`INSERT INTO watchers (case_id, email, name, added_by, created_at)
	SELECT c.id, lower(hex(randomblob(3))) || '.watcher' || c.id || '@prefill.example', 'Watcher', p.email, c.created_at
	FROM cases c JOIN contacts p ON p.id = c.contact_id
	WHERE c.id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1 AND c.id % 5 = 0`,

	// A confirmation per case: sent, dead (1 in 50) or pending with its
	// next attempt in the future (1 in 100).
	`INSERT INTO outbox (case_id, template, recipient, recipient_name, role, message_id, in_reply_to, data, status,
		attempts, next_attempt_at, expires_at, last_error, created_at, sent_at)
	SELECT c.id, 'case_created', p.email, p.name, 'contact', 'cg.' || lower(hex(randomblob(12))) || '@support.test',
		(SELECT message_id FROM messages WHERE case_id = c.id ORDER BY id LIMIT 1), '{}',
		CASE WHEN c.id % 50 = 0 THEN 'dead' WHEN c.id % 100 = 1 THEN 'pending' ELSE 'sent' END,
		1, CASE WHEN c.id % 100 = 1 THEN ?2 + (?1 + 10000) * 60000 ELSE c.created_at END,
		c.created_at + 5 * 86400000, CASE WHEN c.id % 50 = 0 THEN '550 5.1.1 no such user' ELSE '' END,
		c.created_at, CASE WHEN c.id % 50 <> 0 AND c.id % 100 <> 1 THEN c.created_at + 1000 END
	FROM cases c JOIN contacts p ON p.id = c.contact_id
	WHERE c.id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1`,

	`INSERT INTO thread_ids (message_id, case_id, direction, created_at)
	SELECT message_id, case_id, 'out', created_at FROM outbox
	WHERE case_id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1`,

	`INSERT INTO outbox_attempts (outbox_id, started_at, finished_at, result, error)
	SELECT id, created_at, created_at + 1000,
		CASE status WHEN 'sent' THEN 'sent' WHEN 'dead' THEN 'permanent' ELSE 'temporary' END, last_error
	FROM outbox WHERE case_id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1`,

	`INSERT INTO bounces (outbox_id, recipient, status, permanent, via, created_at)
	SELECT id, recipient, '5.1.1', 1, 'verp', created_at + 60000 FROM outbox
	WHERE status = 'dead' AND case_id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1`,

	`INSERT INTO addresses (email, hard_bounces, undeliverable, last_bounce_at, last_status, updated_at)
	SELECT recipient, 1, 0, created_at + 60000, '5.1.1', created_at + 60000 FROM outbox
	WHERE status = 'dead' AND case_id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1
	ON CONFLICT (email) DO NOTHING`,

	`INSERT INTO surveys (case_id, rating, via, sent_at, rated_at)
	SELECT id, 1 + id % 5, 'reply', closed_at, closed_at + 3600000 FROM cases
	WHERE state = 'closed' AND id > (SELECT seq FROM sqlite_sequence WHERE name = 'cases') - ?1`,

	`WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1 / 100)
	INSERT INTO quarantine (source, envelope_from, envelope_to, reason, detail, content_sha256, raw, created_at, replayed_at)
	SELECT 'smtp', 'someone@prefill.example', 'support@support.test', 'too_many_hops', '60 Received headers, limit 50',
		lower(hex(randomblob(32))), CAST('Received: x' AS BLOB),
		?2 + i * 6000000, CASE WHEN i % 2 = 0 THEN ?2 + i * 6000000 + 60000 END FROM k`,
}
