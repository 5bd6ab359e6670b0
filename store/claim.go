package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Claims: several instances send from one outbox.
//
// An instance claims due rows in one transaction: it picks them (on
// PostgreSQL with FOR UPDATE SKIP LOCKED, so instances claiming at the
// same moment pick different rows without waiting for each other; SQLite
// has one writer), writes its id into claimed_by and now + lease into
// claimed_until, counts the attempt and records it as started under its
// id. No other instance is offered a row under a live claim. The claimer
// renews the claims of the rows it still works on (RenewClaims), and the
// attempt's result ends the claim (FinishAttempts).
//
// A row whose claim ran out, because its instance died or lost the
// database for longer than the lease, is due again: the instance that
// claims it next closes the attempt left open as interrupted and sends the
// mail again with the same Message-ID. The late result of the instance
// that lost the row no longer moves it (finishOutboxSQL).
//
// Order: dueOrder holds a row back while an older row of its case and
// recipient is pending, claimed or not, so a case's mails to one
// recipient are claimed one at a time and in the order they were queued.

// ClaimedMail is a row claimed for sending and the attempt begun on it.
type ClaimedMail struct {
	OutboxMail
	Attempt int64
}

// The statements of a claim, each by primary key but the first.
const (
	claimRowSQL     = `UPDATE outbox SET attempts = attempts + 1, claimed_by = ?, claimed_until = ? WHERE id = ?`
	claimAttemptSQL = `INSERT INTO outbox_attempts (outbox_id, started_at, instance) VALUES (?, ?, ?) RETURNING id`
	takeOverSQL     = `UPDATE outbox_attempts SET result = 'interrupted', finished_at = ?, error = ?
		WHERE outbox_id = ? AND result = 'started'`
)

// claimSQL selects the rows to claim and the instance that held each
// before (empty if none), locking them on PostgreSQL.
func (d dialect) claimSQL(exclude int) string {
	return dueSelect(exclude, outboxColumns+`, COALESCE(o.claimed_by, '')`, d.skipLocked)
}

// ClaimMail claims for instance up to limit rows that DueMail would
// return (none of exclude), for lease, and starts an attempt of each, all
// in one transaction; it returns once that is committed, so the caller
// sends afterwards. Rows another instance held under a claim that ran out
// are taken over: their open attempts are closed as interrupted.
func (s *Store) ClaimMail(ctx context.Context, instance string, lease time.Duration, limit int, exclude ...int64) ([]ClaimedMail, error) {
	var out []ClaimedMail
	err := s.Write(ctx, func(tx *Tx) error {
		out = out[:0]
		args := make([]any, 0, len(exclude)+2)
		args = append(args, ms(tx.Now))
		for _, id := range exclude {
			args = append(args, id)
		}
		rows, prev, err := claimable(ctx, tx, s.d.claimSQL(len(exclude)), append(args, limit))
		if err != nil || len(rows) == 0 {
			return err
		}
		up, err := tx.tx.PrepareContext(ctx, claimRowSQL)
		if err != nil {
			return err
		}
		defer up.Close()
		ins, err := tx.tx.PrepareContext(ctx, claimAttemptSQL)
		if err != nil {
			return err
		}
		defer ins.Close()
		until := ms(tx.Now.Add(lease))
		for i, m := range rows {
			if prev[i] != "" {
				msg := "the claim of instance " + prev[i] + " ran out during this attempt"
				if _, err := tx.tx.ExecContext(ctx, takeOverSQL, ms(tx.Now), msg, m.ID); err != nil {
					return fmt.Errorf("outbox %d: %w", m.ID, err)
				}
			}
			if _, err := up.ExecContext(ctx, instance, until, m.ID); err != nil {
				return fmt.Errorf("outbox %d: %w", m.ID, err)
			}
			c := ClaimedMail{OutboxMail: m}
			if err := ins.QueryRowContext(ctx, m.ID, ms(tx.Now), instance).Scan(&c.Attempt); err != nil {
				return fmt.Errorf("outbox %d: %w", m.ID, err)
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	return out, nil
}

// claimable runs the claim's select: the rows, and the instance that
// claimed each before.
func claimable(ctx context.Context, tx *Tx, query string, args []any) ([]OutboxMail, []string, error) {
	rows, err := tx.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []OutboxMail
	var prev []string
	for rows.Next() {
		var p string
		m, err := scanOutbox(withExtra{rows, []any{&p}})
		if err != nil {
			return nil, nil, err
		}
		out, prev = append(out, m), append(prev, p)
	}
	return out, prev, rows.Err()
}

// withExtra scans the columns a scanner's caller knows, then extra.
type withExtra struct {
	row   scanner
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra...)...) }

// RenewClaims extends instance's claims on the rows ids to now + lease
// and returns those of ids that another instance has claimed since: this
// instance's claim on them ran out and was taken over. A row whose
// attempt's result was recorded meanwhile is neither renewed nor lost.
func (s *Store) RenewClaims(ctx context.Context, instance string, lease time.Duration, ids []int64) (lost []int64, err error) {
	if len(ids) == 0 {
		return nil, nil
	}
	in := `(?` + strings.Repeat(`, ?`, len(ids)-1) + `)`
	err = s.Write(ctx, func(tx *Tx) error {
		lost = lost[:0]
		args := make([]any, 0, len(ids)+2)
		args = append(args, ms(tx.Now.Add(lease)), instance)
		for _, id := range ids {
			args = append(args, id)
		}
		if _, err := tx.tx.ExecContext(ctx, `UPDATE outbox SET claimed_until = ? WHERE claimed_by = ? AND id IN `+in, args...); err != nil {
			return err
		}
		rows, err := tx.tx.QueryContext(ctx, `SELECT id FROM outbox WHERE claimed_by <> ? AND id IN `+in, args[1:]...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			lost = append(lost, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("renew claims: %w", err)
	}
	return lost, nil
}
