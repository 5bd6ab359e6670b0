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
	// OutboxBounced is no stored status: a sent row whose delivery a
	// report later said failed reads as bounced (reports.go).
	OutboxBounced = "bounced"
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
	NextAttemptAt time.Time  `json:"next_attempt_at,omitzero"` // zero once sent or dead
	ExpiresAt     time.Time  `json:"expires_at"`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	// Bounce is the last report that this mail did not arrive (or the
	// relay's refusal of its recipient); Delayed the last delay warning.
	// Read by ListOutbox and OutboxByID only (reports.go).
	Bounce  *DeliveryReport `json:"bounce,omitempty"`
	Delayed *DeliveryReport `json:"delayed,omitempty"`
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

// dueOrder is the condition that makes a pending row the next of its
// case and recipient: no older row of the same case and recipient is
// pending (index outbox_pending_order). Rows without a case are not
// ordered.
const dueOrder = ` AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.case_id = o.case_id
	AND p.recipient COLLATE NOCASE = o.recipient AND p.status = 'pending' AND p.id < o.id)`

// unclaimed is the condition that no instance holds a row under a live
// claim (claim.go): ?1 is now.
const unclaimed = ` AND (o.claimed_until IS NULL OR o.claimed_until <= ?1)`

// dueMailSQL selects the due rows; notIn adds the exclusion list.
func dueMailSQL(exclude int) string { return dueSelect(exclude, outboxColumns, "") }

// dueSelect selects columns of the due rows, the earliest due first, with
// lock appended (claim.go); its arguments are now, the ids of exclude and
// the limit.
func dueSelect(exclude int, columns, lock string) string {
	return `SELECT ` + columns + outboxFrom + `WHERE o.status = 'pending' AND o.next_attempt_at <= ?1` + unclaimed +
		notIn(exclude) + dueOrder + ` ORDER BY o.next_attempt_at, o.id LIMIT ?` + lock
}

// nextDueSQL selects when the next row that DueMail could return is due;
// its arguments are now and the ids of exclude.
func nextDueSQL(exclude int) string {
	return `SELECT o.next_attempt_at FROM outbox o WHERE o.status = 'pending'` + unclaimed + notIn(exclude) + dueOrder +
		` ORDER BY o.next_attempt_at LIMIT 1`
}

// notIn is "AND o.id NOT IN (?, ...)" for n ids, or nothing.
func notIn(n int) string {
	if n == 0 {
		return ""
	}
	return ` AND o.id NOT IN (?` + strings.Repeat(`, ?`, n-1) + `)`
}

// DueMail returns up to limit pending rows whose next attempt is due,
// the earliest due first. It leaves out the rows in exclude (mail being
// sent), the rows an instance holds under a live claim (claim.go), and
// every row behind an older pending row of the same case and recipient,
// so that a case's mails to one recipient go one at a time and in the
// order they were queued: a row waiting for its retry holds back the
// newer ones until it is sent or dead.
func (s *Store) DueMail(ctx context.Context, limit int, exclude ...int64) ([]OutboxMail, error) {
	args := make([]any, 0, len(exclude)+2)
	args = append(args, ms(s.now()))
	for _, id := range exclude {
		args = append(args, id)
	}
	out, err := queryAll(ctx, s.r, scanOutbox, dueMailSQL(len(exclude)), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("due mail: %w", err)
	}
	return out, nil
}

// NextDue returns when the earliest row that DueMail could return becomes
// due, leaving out the rows in exclude; ok is false when there is none. A
// row under another instance's live claim is left out too: it comes back
// only if that claim runs out.
func (s *Store) NextDue(ctx context.Context, exclude ...int64) (t time.Time, ok bool, err error) {
	args := make([]any, 0, len(exclude)+1)
	args = append(args, ms(s.now()))
	for _, id := range exclude {
		args = append(args, id)
	}
	var v int64
	err = s.r.QueryRowContext(ctx, nextDueSQL(len(exclude)), args...).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	return fromMS(v), true, nil
}

// ListOutbox lists outbox rows with status ("" = all), newest first,
// with their delivery reports. Status bounced selects the sent rows a
// report said failed, and sent the others.
func (s *Store) ListOutbox(ctx context.Context, status string, limit int) ([]OutboxMail, error) {
	where, args := statusWhere(status)
	out, err := s.listOutbox(ctx, where+` ORDER BY o.id DESC`+limitClause(limit), args...)
	if err != nil {
		return nil, err
	}
	if err := s.attachReports(ctx, out); err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return out, nil
}

// OutboxByID reads one outbox row with its delivery reports.
func (s *Store) OutboxByID(ctx context.Context, id int64) (OutboxMail, error) {
	m, err := scanOutbox(s.r.QueryRowContext(ctx, `SELECT `+outboxColumns+outboxFrom+`WHERE o.id = ?`, id))
	if err != nil {
		return m, fmt.Errorf("outbox %d: %w", id, err)
	}
	rows := []OutboxMail{m}
	if err := s.attachReports(ctx, rows); err != nil {
		return m, fmt.Errorf("outbox %d: %w", id, err)
	}
	return rows[0], nil
}

func (s *Store) listOutbox(ctx context.Context, where string, args ...any) ([]OutboxMail, error) {
	out, err := queryAll(ctx, s.r, scanOutbox, `SELECT `+outboxColumns+outboxFrom+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	return out, nil
}

// The statements of an attempt's bookkeeping, each by primary key.
const (
	startAttemptSQL  = `UPDATE outbox SET attempts = attempts + 1 WHERE id = ?`
	insertAttemptSQL = `INSERT INTO outbox_attempts (outbox_id, started_at) VALUES (?, ?) RETURNING id`
	finishAttemptSQL = `UPDATE outbox_attempts SET finished_at = ?, result = ?, error = ? WHERE id = ?`
	// The result of an attempt moves its row on and ends the row's claim,
	// unless a later attempt began meanwhile: another instance took the
	// row over after this one's claim ran out, and the row is its now.
	finishOutboxSQL = `UPDATE outbox SET status = ?, last_error = ?, next_attempt_at = ?, sent_at = ?,
		claimed_by = NULL, claimed_until = NULL
		WHERE id = ? AND NOT EXISTS (SELECT 1 FROM outbox_attempts a WHERE a.outbox_id = outbox.id AND a.id > ?)`
)

// StartAttempt records, before the relay is dialled, that a send of mail
// id begins; it returns the attempt's id.
func (s *Store) StartAttempt(ctx context.Context, id int64) (int64, error) {
	attempts, err := s.StartAttempts(ctx, []int64{id})
	if err != nil {
		return 0, err
	}
	return attempts[0], nil
}

// StartAttempts records, in one transaction, that a send of each of the
// mails ids begins; attempts[i] is the attempt of ids[i]. It returns once
// the records are committed, so a sender calls it before dialling: a crash
// afterwards leaves the attempts "started" for MarkInterrupted.
func (s *Store) StartAttempts(ctx context.Context, ids []int64) (attempts []int64, err error) {
	err = s.Write(ctx, func(tx *Tx) error {
		attempts = make([]int64, 0, len(ids))
		up, err := tx.tx.PrepareContext(ctx, startAttemptSQL)
		if err != nil {
			return err
		}
		defer up.Close()
		ins, err := tx.tx.PrepareContext(ctx, insertAttemptSQL)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, id := range ids {
			if _, err := up.ExecContext(ctx, id); err != nil {
				return fmt.Errorf("outbox %d: %w", id, err)
			}
			var a int64
			if err := ins.QueryRowContext(ctx, id, ms(tx.Now)).Scan(&a); err != nil {
				return fmt.Errorf("outbox %d: %w", id, err)
			}
			attempts = append(attempts, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("start attempts: %w", err)
	}
	return attempts, nil
}

// AttemptResult is how one send attempt ended.
type AttemptResult struct {
	Result string    // AttemptSent, AttemptTemporary, AttemptPermanent, AttemptExpired, AttemptInterrupted
	Error  string    // what the relay or the network said
	Next   time.Time // for AttemptTemporary and AttemptInterrupted: when to try again
}

// AttemptOutcome is the result of attempt Attempt of outbox row Outbox.
type AttemptOutcome struct {
	Outbox  int64
	Attempt int64
	AttemptResult
	// Queued is when the row was queued, for the caller's metrics; the
	// store does not read it.
	Queued time.Time
}

// status is the outbox status a result moves the mail to.
func (r AttemptResult) status() string {
	switch r.Result {
	case AttemptSent:
		return OutboxSent
	case AttemptPermanent, AttemptExpired:
		return OutboxDead
	}
	return OutboxPending
}

// FinishAttempt records an attempt's result and moves the mail to sent,
// dead, or back to pending for its next attempt.
func (s *Store) FinishAttempt(ctx context.Context, id, attempt int64, r AttemptResult) error {
	return s.FinishAttempts(ctx, []AttemptOutcome{{Outbox: id, Attempt: attempt, AttemptResult: r}})
}

// FinishAttempts records the results of several attempts in one
// transaction, each as FinishAttempt does: all of them or none.
func (s *Store) FinishAttempts(ctx context.Context, outcomes []AttemptOutcome) error {
	err := s.Write(ctx, func(tx *Tx) error {
		att, err := tx.tx.PrepareContext(ctx, finishAttemptSQL)
		if err != nil {
			return err
		}
		defer att.Close()
		out, err := tx.tx.PrepareContext(ctx, finishOutboxSQL)
		if err != nil {
			return err
		}
		defer out.Close()
		for _, o := range outcomes {
			if _, err := att.ExecContext(ctx, ms(tx.Now), o.Result, o.Error, o.Attempt); err != nil {
				return fmt.Errorf("attempt %d: %w", o.Attempt, err)
			}
			status := o.status()
			var sent any
			if status == OutboxSent {
				sent = ms(tx.Now)
			}
			if _, err := out.ExecContext(ctx, status, o.Error, ms(o.Next), sent, o.Outbox, o.Attempt); err != nil {
				return fmt.Errorf("outbox %d: %w", o.Outbox, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish attempts: %w", err)
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
	Instance   string     `json:"instance,omitempty"` // the instance that made it (claim.go)
}

// Attempts lists the attempts of outbox row id, oldest first. An attempt
// still "started" after its process died shows how far it got.
func (s *Store) Attempts(ctx context.Context, id int64) ([]Attempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, started_at, finished_at, result, error, instance FROM outbox_attempts
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
		if err := rows.Scan(&a.ID, &started, &finished, &a.Result, &a.Error, &a.Instance); err != nil {
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

// The statements of start-up recovery. releaseOwnSQL ends this
// instance's claims (?1) on the rows it had attempts open on;
// markInterruptedSQL closes the open attempts of this instance, and those
// whose row no live claim covers (?2 is now): their instance is gone. An
// open attempt on a row another instance holds under a live claim is left
// alone.
const (
	releaseOwnSQL = `UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ?1
		AND id IN (SELECT outbox_id FROM outbox_attempts WHERE result = 'started' AND instance = ?1)`
	markInterruptedSQL = `UPDATE outbox_attempts SET result = 'interrupted', finished_at = ?2,
		error = 'the process stopped during this attempt' WHERE result = 'started' AND (instance = ?1
		OR NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = outbox_attempts.outbox_id AND o.claimed_until > ?2))`
)

// MarkInterrupted closes the attempts a stopped process left started and
// reports how many there were; their mails go again with the same
// Message-ID. Call it at start-up, before the worker runs, with this
// instance's id: it closes the attempts of this id (a restart under the
// same id), whose rows are due again at once, and those of instances whose
// claims ran out; never the attempts of another instance whose claim is
// live.
func (s *Store) MarkInterrupted(ctx context.Context, instance string) (int64, error) {
	var n int64
	err := s.Write(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, releaseOwnSQL, instance); err != nil {
			return err
		}
		res, err := tx.tx.ExecContext(ctx, markInterruptedSQL, instance, ms(tx.Now))
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
