package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// AddressStatus is what we know of one address's deliverability.
type AddressStatus struct {
	Email         string     `json:"email"`
	HardBounces   int        `json:"hard_bounces"`
	SoftBounces   int        `json:"soft_bounces"`
	Undeliverable bool       `json:"undeliverable"`
	LastBounceAt  *time.Time `json:"last_bounce_at,omitempty"`
	LastStatus    string     `json:"last_status,omitempty"`
	LastReason    string     `json:"last_reason,omitempty"` // user_unknown, mailbox_full, complaint, ...
	ClearedAt     *time.Time `json:"cleared_at,omitempty"`
	ClearedBy     string     `json:"cleared_by,omitempty"`
}

// Bounce is one delivery report, attributed to an outbox row where it
// could be.
type Bounce struct {
	OutboxID  int64  // the row it reports on; 0 when it could not be attributed
	MessageID int64  // the stored inbound report
	Recipient string // the address the report says failed
	Status    string // e.g. "5.1.1"
	Permanent bool
	Via       string // verp | relay | message_id | "" (unattributed)
	// Kind is BounceFailed (the mail did not arrive) or BounceDelayed (a
	// warning only: the mail may still arrive); "" is BounceFailed.
	Kind   string
	Reason string // why, in a short vocabulary: user_unknown, mailbox_full, delayed, ...
	Detail string // the remote answer, where known (the relay's reply to RCPT)
	// Counts: the gateway found the report trustworthy and about the
	// recipient's address; only then does it count against Recipient.
	Counts bool
}

// Kinds of bounce.
const (
	BounceFailed    = "failed"
	BounceDelayed   = "delayed"
	BounceComplaint = "complaint" // a feedback report: the recipient marked our mail as spam
)

// ReasonComplaint is an address's last reason after its owner complained.
const ReasonComplaint = "complaint"

// RecordComplaint stores a complaint attributed to outbox row b.OutboxID
// (b.Recipient is that row's recipient) and makes the address
// undeliverable, as a hard bounce limit would, until an agent clears it:
// someone who reported our mail as spam gets no more of it. It reports
// whether the address was deliverable before.
func (tx *Tx) RecordComplaint(ctx context.Context, b Bounce) (bool, error) {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO bounces (outbox_id, message_id, recipient, status, permanent, via, counted,
		kind, reason, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, nullID(b.OutboxID), nullID(b.MessageID),
		b.Recipient, b.Status, false, b.Via, true, BounceComplaint, ReasonComplaint, b.Detail, ms(tx.Now))
	if err != nil {
		return false, fmt.Errorf("record complaint: %w", err)
	}
	before, err := addressStatus(ctx, tx.tx, b.Recipient)
	if err != nil {
		return false, err
	}
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO addresses (email, undeliverable, last_bounce_at, last_status, last_reason, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (email) DO UPDATE SET undeliverable = excluded.undeliverable, last_bounce_at = excluded.last_bounce_at,
			last_status = excluded.last_status, last_reason = excluded.last_reason, updated_at = excluded.updated_at`,
		b.Recipient, true, ms(tx.Now), b.Status, ReasonComplaint, ms(tx.Now))
	if err != nil {
		return false, fmt.Errorf("record complaint: %w", err)
	}
	if _, err := tx.tx.ExecContext(ctx, `UPDATE contacts SET undeliverable = ? WHERE email = ?`, true, b.Recipient); err != nil {
		return false, fmt.Errorf("record complaint: %w", err)
	}
	return !before.Undeliverable, nil
}

// RecordBounce stores a bounce and, when it counts, counts it against its
// recipient. A permanent bounce counts as a hard bounce once per outbox
// row, so a report sent twice does not count twice; at hardLimit hard
// bounces the address becomes undeliverable. It returns the address's new
// status and whether this bounce made it undeliverable. A bounce that does
// not count is recorded and changes nothing else.
func (tx *Tx) RecordBounce(ctx context.Context, b Bounce, hardLimit int) (AddressStatus, bool, error) {
	counted := b.Counts && b.Recipient != ""
	if counted && b.Permanent && b.OutboxID != 0 {
		var seen bool
		err := tx.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM bounces WHERE outbox_id = ? AND permanent AND counted)`,
			b.OutboxID).Scan(&seen)
		if err != nil {
			return AddressStatus{}, false, fmt.Errorf("record bounce: %w", err)
		}
		counted = !seen
	}
	if b.Kind == "" {
		b.Kind = BounceFailed
	}
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO bounces (outbox_id, message_id, recipient, status, permanent, via, counted,
		kind, reason, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, nullID(b.OutboxID), nullID(b.MessageID),
		b.Recipient, b.Status, b.Permanent, b.Via, counted, b.Kind, b.Reason, b.Detail, ms(tx.Now))
	if err != nil {
		return AddressStatus{}, false, fmt.Errorf("record bounce: %w", err)
	}
	if !b.Counts || b.Recipient == "" {
		return AddressStatus{}, false, nil
	}
	before, err := addressStatus(ctx, tx.tx, b.Recipient)
	if err != nil {
		return AddressStatus{}, false, err
	}
	hard, soft := 0, 1
	if b.Permanent {
		hard, soft = 1, 0
		if !counted {
			hard = 0
		}
	}
	limit := max(hardLimit, 1)
	_, err = tx.tx.ExecContext(ctx, `INSERT INTO addresses (email, hard_bounces, soft_bounces, undeliverable, last_bounce_at,
			last_status, last_reason, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (email) DO UPDATE SET hard_bounces = addresses.hard_bounces + excluded.hard_bounces,
			soft_bounces = addresses.soft_bounces + excluded.soft_bounces,
			undeliverable = addresses.undeliverable OR addresses.hard_bounces + excluded.hard_bounces >= ?,
			last_bounce_at = excluded.last_bounce_at, last_status = excluded.last_status,
			last_reason = excluded.last_reason, updated_at = excluded.updated_at`,
		b.Recipient, hard, soft, hard >= limit, ms(tx.Now), b.Status, b.Reason, ms(tx.Now), limit)
	if err != nil {
		return AddressStatus{}, false, fmt.Errorf("record bounce: %w", err)
	}
	after, err := addressStatus(ctx, tx.tx, b.Recipient)
	if err != nil {
		return AddressStatus{}, false, err
	}
	// Keep the contact's own columns in step, for the case views.
	if _, err := tx.tx.ExecContext(ctx, `UPDATE contacts SET hard_bounces = ?, undeliverable = ? WHERE email = ?`,
		after.HardBounces, after.Undeliverable, b.Recipient); err != nil {
		return AddressStatus{}, false, fmt.Errorf("record bounce: %w", err)
	}
	return after, after.Undeliverable && !before.Undeliverable, nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// Undeliverable reports whether email is marked undeliverable.
func (tx *Tx) Undeliverable(ctx context.Context, email string) (bool, error) {
	a, err := addressStatus(ctx, tx.tx, email)
	return a.Undeliverable, err
}

// AddressStatus returns what is known of email; a zero status (with the
// email filled in) when nothing is.
func (s *Store) AddressStatus(ctx context.Context, email string) (AddressStatus, error) {
	return addressStatus(ctx, s.r, email)
}

func addressStatus(ctx context.Context, q querier, email string) (AddressStatus, error) {
	a, err := scanAddress(q.QueryRowContext(ctx, `SELECT `+addressColumns+` FROM addresses WHERE email = ?`, email))
	if errors.Is(err, ErrNotFound) {
		return AddressStatus{Email: email}, nil
	}
	if err != nil {
		return a, fmt.Errorf("address %s: %w", email, err)
	}
	return a, nil
}

const addressColumns = `email, hard_bounces, soft_bounces, undeliverable, last_bounce_at, last_status, last_reason, cleared_at, cleared_by`

func scanAddress(row scanner) (AddressStatus, error) {
	var a AddressStatus
	var last, cleared sql.NullInt64
	err := row.Scan(&a.Email, &a.HardBounces, &a.SoftBounces, &a.Undeliverable, &last, &a.LastStatus, &a.LastReason, &cleared, &a.ClearedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	a.LastBounceAt, a.ClearedAt = nullTime(last), nullTime(cleared)
	return a, err
}

// ListAddresses lists addresses with bounces, undeliverable ones only when
// onlyUndeliverable is set, most recently bounced first.
func (s *Store) ListAddresses(ctx context.Context, onlyUndeliverable bool) ([]AddressStatus, error) {
	where := ""
	if onlyUndeliverable {
		where = ` WHERE undeliverable`
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+addressColumns+` FROM addresses`+where+
		` ORDER BY last_bounce_at DESC, email`)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	defer rows.Close()
	out := []AddressStatus{}
	for rows.Next() {
		a, err := scanAddress(rows)
		if err != nil {
			return nil, fmt.Errorf("list addresses: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ClearAddress makes email deliverable again and resets its bounce counts;
// by names who did it. ErrNotFound when nothing was recorded for email.
func (s *Store) ClearAddress(ctx context.Context, email, by string) error {
	return s.Write(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE addresses SET undeliverable = FALSE, hard_bounces = 0, soft_bounces = 0,
			cleared_at = ?, cleared_by = ?, updated_at = ? WHERE email = ?`, ms(tx.Now), by, ms(tx.Now), email)
		if err != nil {
			return fmt.Errorf("clear address %s: %w", email, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("clear address %s: %w", email, ErrNotFound)
		}
		_, err = tx.tx.ExecContext(ctx, `UPDATE contacts SET undeliverable = FALSE, hard_bounces = 0 WHERE email = ?`, email)
		return err
	})
}

// RecordSuppression notes a notification that was not queued, and why.
func (tx *Tx) RecordSuppression(ctx context.Context, caseID int64, template, recipient, reason string) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO suppressions (case_id, template, recipient, reason, created_at)
		VALUES (?, ?, ?, ?, ?)`, nullID(caseID), template, recipient, reason, ms(tx.Now))
	if err != nil {
		return fmt.Errorf("record suppression: %w", err)
	}
	return nil
}

// Suppression is one notification that was not queued.
type Suppression struct {
	CaseID    int64     `json:"-"`
	Template  string    `json:"template"`
	Recipient string    `json:"recipient"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

// Suppressions lists the suppressed notifications, newest first.
func (s *Store) Suppressions(ctx context.Context, limit int) ([]Suppression, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT COALESCE(case_id, 0), template, recipient, reason, created_at
		FROM suppressions ORDER BY id DESC`+limitClause(limit))
	if err != nil {
		return nil, fmt.Errorf("suppressions: %w", err)
	}
	defer rows.Close()
	var out []Suppression
	for rows.Next() {
		var x Suppression
		var created int64
		if err := rows.Scan(&x.CaseID, &x.Template, &x.Recipient, &x.Reason, &created); err != nil {
			return nil, fmt.Errorf("suppressions: %w", err)
		}
		x.CreatedAt = fromMS(created)
		out = append(out, x)
	}
	return out, rows.Err()
}

// Budget is what SendAllowance asks about one notification: its
// recipient, case and source (either may be empty or 0), the start of the
// budgets' window, and each budget's size.
type Budget struct {
	Recipient    string
	CaseID       int64
	Source       string
	Since        time.Time
	PerRecipient int
	PerCase      int
	PerSource    int
}

// What stands in the way of a notification, as SendAllowance finds it.
const (
	LimitNone          = ""
	LimitUndeliverable = "undeliverable" // the recipient is undeliverable
	LimitRecipient     = "recipient"     // the recipient's budget is spent
	LimitCase          = "case"          // the case's budget is spent
	LimitSource        = "source"        // the source's budget is spent
)

// SendAllowance tells, in one statement, the first of these that stops a
// notification: the recipient is undeliverable; the notifications queued
// since b.Since to the recipient, about the case (when not 0), or for the
// source (when not "") reach their budget. It stops at the first that
// does, and each count reads at most its budget's index entries, however
// busy the window.
func (tx *Tx) SendAllowance(ctx context.Context, b Budget) (string, error) {
	bound := func(n int) int {
		if n <= 0 {
			return 0 // a budget of nothing: spent already
		}
		return n
	}
	var limit string
	err := tx.tx.QueryRowContext(ctx, `SELECT CASE
		WHEN EXISTS (SELECT 1 FROM addresses WHERE email = ?1 AND undeliverable) THEN 'undeliverable'
		WHEN (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE recipient = ?1 COLLATE NOCASE AND created_at >= ?2
			LIMIT ?3) AS r) >= ?3 THEN 'recipient'
		WHEN ?4 <> 0 AND (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE case_id = ?4 AND created_at >= ?2
			LIMIT ?5) AS c) >= ?5 THEN 'case'
		WHEN ?6 <> '' AND (SELECT count(*) FROM (SELECT 1 FROM outbox_sources WHERE source = ?6 AND created_at >= ?2
			LIMIT ?7) AS s) >= ?7 THEN 'source'
		ELSE '' END`,
		b.Recipient, ms(b.Since), bound(b.PerRecipient), b.CaseID, bound(b.PerCase), b.Source, bound(b.PerSource)).
		Scan(&limit)
	if err != nil {
		return "", fmt.Errorf("send allowance %s: %w", b.Recipient, err)
	}
	return limit, nil
}

// SentSince counts the mails handed to the relay since t, up to atMost
// (no bound when atMost <= 0): what the circuit breaker counts. The bound
// keeps the count's cost to the breaker's limit however busy the window.
func (s *Store) SentSince(ctx context.Context, t time.Time, atMost int) (int, error) {
	if atMost <= 0 {
		atMost = math.MaxInt32 // LIMIT -1 is SQLite's alone
	}
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM outbox_attempts
		WHERE result = 'sent' AND started_at >= ? LIMIT ?) AS recent`, ms(t), atMost).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sent since: %w", err)
	}
	return n, nil
}

// LookupSecret reads the named secret inside the transaction without
// creating it (see Store.Secret); ok is false when there is none yet.
func (tx *Tx) LookupSecret(ctx context.Context, name string) (v []byte, ok bool, err error) {
	err = tx.tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, "secret:"+name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("secret %s: %w", name, err)
	}
	return v, true, nil
}
