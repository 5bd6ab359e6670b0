package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Survey is a case's satisfaction survey.
type Survey struct {
	Rating  int        `json:"rating,omitempty"`
	Comment string     `json:"comment,omitempty"`
	Via     string     `json:"via,omitempty"`
	SentAt  time.Time  `json:"sent_at"`
	RatedAt *time.Time `json:"rated_at,omitempty"`
}

// OpenSurvey records that a survey was sent for a case (once).
func (tx *Tx) OpenSurvey(ctx context.Context, caseID int64) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO surveys (case_id, sent_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, caseID, ms(tx.Now))
	if err != nil {
		return fmt.Errorf("open survey: %w", err)
	}
	return nil
}

// ErrAlreadyRated is returned when a survey already has its rating.
var ErrAlreadyRated = errors.New("survey already rated")

// RateSurvey stores a case's rating; a survey is rated once. ErrNotFound
// when no survey was sent.
func (tx *Tx) RateSurvey(ctx context.Context, caseID int64, rating int, comment, via string) error {
	s, err := tx.Survey(ctx, caseID)
	if err != nil {
		return err
	}
	if s.RatedAt != nil {
		return ErrAlreadyRated
	}
	_, err = tx.tx.ExecContext(ctx, `UPDATE surveys SET rating = ?, comment = ?, via = ?, rated_at = ? WHERE case_id = ?`,
		rating, comment, via, ms(tx.Now), caseID)
	if err != nil {
		return fmt.Errorf("rate survey: %w", err)
	}
	return nil
}

// Survey reads a case's survey inside the transaction.
func (tx *Tx) Survey(ctx context.Context, caseID int64) (Survey, error) {
	return survey(ctx, tx.tx, caseID)
}

// Survey reads a case's survey.
func (s *Store) Survey(ctx context.Context, caseID int64) (Survey, error) {
	return survey(ctx, s.r, caseID)
}

func survey(ctx context.Context, q querier, caseID int64) (Survey, error) {
	var s Survey
	var rating sql.NullInt64
	var sent int64
	var rated sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT rating, comment, via, sent_at, rated_at FROM surveys WHERE case_id = ?`, caseID).
		Scan(&rating, &s.Comment, &s.Via, &sent, &rated)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("survey: %w", err)
	}
	s.Rating, s.SentAt, s.RatedAt = int(rating.Int64), fromMS(sent), nullTime(rated)
	return s, nil
}

// Secret returns the named secret, creating 32 random bytes the first time.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	// Instances starting together each offer a key; the first stored
	// is everybody's.
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	var v []byte
	err := s.Write(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
			"secret:"+name, fresh)
		if err != nil {
			return err
		}
		return tx.tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, "secret:"+name).Scan(&v)
	})
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return v, nil
}

// DueForAutoClose lists resolved cases resolved before cutoff.
func (s *Store) DueForAutoClose(ctx context.Context, cutoff time.Time, limit int) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT number FROM cases WHERE state = 'resolved' AND resolved_at <= ?
		ORDER BY resolved_at, id`+limitClause(limit), ms(cutoff))
	if err != nil {
		return nil, fmt.Errorf("auto-close: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// RemoveWatcher removes email from a case's watchers; it reports whether it
// was one.
func (tx *Tx) RemoveWatcher(ctx context.Context, caseID int64, email string) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `DELETE FROM watchers WHERE case_id = ? AND email = ?`, caseID, email)
	if err != nil {
		return false, fmt.Errorf("remove watcher: %w", err)
	}
	tx.memo.removeWatcher(caseID, email)
	n, err := res.RowsAffected()
	return n > 0, err
}

// CasePatch changes agent-set fields; nil fields stay as they are.
type CasePatch struct {
	Assignee *string `json:"assignee,omitempty"`
	Priority *string `json:"priority,omitempty"`
	Impact   *string `json:"impact,omitempty"`
}

// PatchCase applies p to a case.
func (tx *Tx) PatchCase(ctx context.Context, caseID int64, p CasePatch) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE cases SET
		assignee = COALESCE(?, assignee), priority = COALESCE(?, priority), impact = COALESCE(?, impact),
		updated_at = ? WHERE id = ?`, p.Assignee, p.Priority, p.Impact, ms(tx.Now), caseID)
	if err != nil {
		return fmt.Errorf("patch case: %w", err)
	}
	return nil
}

// SetDecision replaces a stored message's decision trace (JSON), so the
// trace records what happened after the message row was written. It is
// kept beside the row (message_decisions): updating the row itself would
// write the raw mail again.
func (tx *Tx) SetDecision(ctx context.Context, messageID int64, decision string) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO message_decisions (message_id, decision) VALUES (?, ?)
		ON CONFLICT (message_id) DO UPDATE SET decision = excluded.decision`, messageID, decision)
	if err != nil {
		return fmt.Errorf("set decision: %w", err)
	}
	return nil
}
