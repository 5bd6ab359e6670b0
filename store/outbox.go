package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Outbox statuses.
const (
	OutboxPending = "pending"
	OutboxSent    = "sent"
	OutboxDead    = "dead"
)

// Attempt results.
const (
	AttemptStarted   = "started"
	AttemptSent      = "sent"
	AttemptTemporary = "temporary"
	AttemptPermanent = "permanent"
	AttemptExpired   = "expired"
)

// OutboxMail is one notification to one recipient.
type OutboxMail struct {
	ID            int64      `json:"id"`
	CaseID        int64      `json:"-"`
	CaseNumber    string     `json:"case,omitempty"`
	Template      string     `json:"template"`
	Recipient     string     `json:"recipient"`
	RecipientName string     `json:"recipient_name,omitempty"`
	Role          string     `json:"role,omitempty"`
	MessageID     string     `json:"message_id"`
	InReplyTo     string     `json:"in_reply_to,omitempty"`
	References    []string   `json:"references,omitempty"`
	Data          string     `json:"-"` // JSON snapshot for the template
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
}

// Enqueue writes an outbox row, due now, and remembers its Message-ID for
// threading replies to the case.
func (tx *Tx) Enqueue(ctx context.Context, m OutboxMail, lifetime time.Duration) (int64, error) {
	var caseID any
	if m.CaseID != 0 {
		caseID = m.CaseID
	}
	id, err := tx.tx.insertID(ctx, `INSERT INTO outbox (case_id, template, recipient, recipient_name, role,
		message_id, in_reply_to, refs, data, next_attempt_at, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		caseID, m.Template, m.Recipient, m.RecipientName, m.Role, m.MessageID, m.InReplyTo,
		strings.Join(m.References, " "), orJSON(m.Data, "{}"), ms(tx.Now), ms(tx.Now.Add(lifetime)), ms(tx.Now))
	if err != nil {
		return 0, fmt.Errorf("enqueue %s to %s: %w", m.Template, m.Recipient, err)
	}
	if m.CaseID != 0 {
		if err := tx.AddThreadID(ctx, m.MessageID, m.CaseID, "out"); err != nil {
			return 0, err
		}
	}
	return id, nil
}

const outboxColumns = `o.id, COALESCE(o.case_id, 0), COALESCE(c.number, ''), o.template, o.recipient, o.recipient_name,
	o.role, o.message_id, o.in_reply_to, o.refs, o.data, o.status, o.attempts, o.next_attempt_at, o.expires_at,
	o.last_error, o.created_at, o.sent_at`

const outboxFrom = ` FROM outbox o LEFT JOIN cases c ON c.id = o.case_id `

func scanOutbox(row scanner) (OutboxMail, error) {
	var m OutboxMail
	var refs string
	var next, expires, created int64
	var sent sql.NullInt64
	err := row.Scan(&m.ID, &m.CaseID, &m.CaseNumber, &m.Template, &m.Recipient, &m.RecipientName,
		&m.Role, &m.MessageID, &m.InReplyTo, &refs, &m.Data, &m.Status, &m.Attempts, &next, &expires,
		&m.LastError, &created, &sent)
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNotFound
	}
	if refs != "" {
		m.References = strings.Fields(refs)
	}
	m.NextAttemptAt, m.ExpiresAt, m.CreatedAt, m.SentAt = fromMS(next), fromMS(expires), fromMS(created), nullTime(sent)
	return m, err
}

// DueMail returns pending mail whose next attempt is due, oldest first.
func (s *Store) DueMail(ctx context.Context, limit int) ([]OutboxMail, error) {
	return s.listOutbox(ctx, `WHERE o.status = 'pending' AND o.next_attempt_at <= ? ORDER BY o.next_attempt_at, o.id LIMIT ?`,
		ms(s.now()), limit)
}

// NextDue returns when the earliest pending mail is due; ok is false when
// nothing is pending.
func (s *Store) NextDue(ctx context.Context) (t time.Time, ok bool, err error) {
	var v sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM outbox WHERE status = 'pending'`).Scan(&v)
	if err != nil || !v.Valid {
		return time.Time{}, false, err
	}
	return fromMS(v.Int64), true, nil
}

// ListOutbox lists outbox rows with status ("" = all), newest first.
func (s *Store) ListOutbox(ctx context.Context, status string, limit int) ([]OutboxMail, error) {
	return s.listOutbox(ctx, `WHERE ? = '' OR o.status = ? ORDER BY o.id DESC`+limitClause(limit), status, status)
}

// OutboxByID reads one outbox row.
func (s *Store) OutboxByID(ctx context.Context, id int64) (OutboxMail, error) {
	m, err := scanOutbox(s.r.QueryRowContext(ctx, `SELECT `+outboxColumns+outboxFrom+`WHERE o.id = ?`, id))
	if err != nil {
		return m, fmt.Errorf("outbox %d: %w", id, err)
	}
	return m, nil
}

func (s *Store) listOutbox(ctx context.Context, where string, args ...any) ([]OutboxMail, error) {
	out, err := queryAll(ctx, s.r, scanOutbox, `SELECT `+outboxColumns+outboxFrom+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return out, nil
}

// StartAttempt records, before the relay is dialled, that a send of mail
// id begins; it returns the attempt's id.
func (s *Store) StartAttempt(ctx context.Context, id int64) (int64, error) {
	var attempt int64
	err := s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1 WHERE id = ?`, id); err != nil {
			return err
		}
		var err error
		attempt, err = tx.tx.insertID(ctx, `INSERT INTO outbox_attempts (outbox_id, started_at) VALUES (?, ?)`, id, ms(tx.Now))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("start attempt %d: %w", id, err)
	}
	return attempt, nil
}

// AttemptResult is how one send attempt ended.
type AttemptResult struct {
	Result string    // AttemptSent, AttemptTemporary, AttemptPermanent, AttemptExpired
	Error  string    // what the relay or the network said
	Next   time.Time // for AttemptTemporary: when to try again
}

// FinishAttempt records an attempt's result and moves the mail to sent,
// dead, or back to pending for its next attempt.
func (s *Store) FinishAttempt(ctx context.Context, id, attempt int64, r AttemptResult) error {
	status := OutboxPending
	switch r.Result {
	case AttemptSent:
		status = OutboxSent
	case AttemptPermanent, AttemptExpired:
		status = OutboxDead
	}
	err := s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, `UPDATE outbox_attempts SET finished_at = ?, result = ?, error = ? WHERE id = ?`,
			ms(tx.Now), r.Result, r.Error, attempt); err != nil {
			return err
		}
		var sent any
		if status == OutboxSent {
			sent = ms(tx.Now)
		}
		_, err := tx.tx.ExecContext(ctx, `UPDATE outbox SET status = ?, last_error = ?, next_attempt_at = ?, sent_at = ?
			WHERE id = ?`, status, r.Error, ms(r.Next), sent, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish attempt %d: %w", id, err)
	}
	return nil
}

// RetryOutbox puts a dead mail back in the queue, due now, with a fresh
// lifetime; its Message-ID stays the same.
func (s *Store) RetryOutbox(ctx context.Context, id int64, lifetime time.Duration) error {
	return s.Write(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE outbox SET status = 'pending', next_attempt_at = ?, expires_at = ?
			WHERE id = ? AND status = 'dead'`, ms(tx.Now), ms(tx.Now.Add(lifetime)), id)
		if err != nil {
			return fmt.Errorf("retry outbox %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("retry outbox %d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// OutboxByID reads one outbox row inside the transaction.
func (tx *Tx) OutboxByID(ctx context.Context, id int64) (OutboxMail, error) {
	m, err := scanOutbox(tx.tx.QueryRowContext(ctx, `SELECT `+outboxColumns+outboxFrom+`WHERE o.id = ?`, id))
	if err != nil {
		return m, fmt.Errorf("outbox %d: %w", id, err)
	}
	return m, nil
}

// OutboxByMessageID reads the outbox row that sent messageID (without
// angle brackets).
func (tx *Tx) OutboxByMessageID(ctx context.Context, messageID string) (OutboxMail, error) {
	m, err := scanOutbox(tx.tx.QueryRowContext(ctx, `SELECT `+outboxColumns+outboxFrom+`WHERE o.message_id = ?`, messageID))
	if err != nil {
		return m, fmt.Errorf("outbox %s: %w", messageID, err)
	}
	return m, nil
}

// Attempt is one recorded send attempt of an outbox row.
type Attempt struct {
	ID         int64      `json:"id"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Result     string     `json:"result"`
	Error      string     `json:"error,omitempty"`
}

// Attempts lists the attempts of outbox row id, oldest first. An attempt
// still "started" after its process died shows how far it got.
func (s *Store) Attempts(ctx context.Context, id int64) ([]Attempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, started_at, finished_at, result, error FROM outbox_attempts
		WHERE outbox_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("attempts %d: %w", id, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&a.ID, &started, &finished, &a.Result, &a.Error); err != nil {
			return nil, fmt.Errorf("attempts %d: %w", id, err)
		}
		a.StartedAt, a.FinishedAt = fromMS(started), nullTime(finished)
		out = append(out, a)
	}
	return out, rows.Err()
}

// CountOutbox counts outbox rows by status.
func (s *Store) CountOutbox(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT status, count(*) FROM outbox GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count outbox: %w", err)
	}
	defer rows.Close()
	out := map[string]int{OutboxPending: 0, OutboxSent: 0, OutboxDead: 0}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count outbox: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// AttemptInterrupted is the result of an attempt the process died in: the
// mail may or may not have reached the relay, and is sent again with the
// same Message-ID.
const AttemptInterrupted = "interrupted"

// MarkInterrupted closes the attempts a previous process left started; it
// reports how many there were. Call it at start-up, before the worker runs.
func (s *Store) MarkInterrupted(ctx context.Context) (int64, error) {
	var n int64
	err := s.Write(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE outbox_attempts SET result = 'interrupted', finished_at = ?,
			error = 'the process stopped during this attempt' WHERE result = 'started'`, ms(tx.Now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark interrupted attempts: %w", err)
	}
	return n, nil
}
