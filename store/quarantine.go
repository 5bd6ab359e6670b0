package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Quarantined is a message kept raw because it could not be taken as mail.
type Quarantined struct {
	ID            int64      `json:"id"`
	Source        string     `json:"source"`
	EnvelopeFrom  string     `json:"envelope_from,omitempty"`
	EnvelopeTo    []string   `json:"envelope_to,omitempty"`
	Reason        string     `json:"reason"`
	Detail        string     `json:"detail,omitempty"`
	ContentSHA256 string     `json:"content_sha256"`
	Size          int        `json:"size"`
	Raw           []byte     `json:"-"`
	CreatedAt     time.Time  `json:"created_at"`
	ReplayedAt    *time.Time `json:"replayed_at,omitempty"`
}

// Quarantine stores a raw message with the reason it was not accepted. The
// same bytes quarantined twice are kept once; the id of the kept row is
// returned.
func (tx *Tx) Quarantine(ctx context.Context, q Quarantined) (int64, error) {
	var id int64
	err := tx.tx.QueryRowContext(ctx, `SELECT id FROM quarantine WHERE content_sha256 = ? AND replayed_at IS NULL`, q.ContentSHA256).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("quarantine: %w", err)
	}
	id, err = tx.tx.insertID(ctx, `INSERT INTO quarantine (source, envelope_from, envelope_to, reason, detail,
		content_sha256, raw, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		q.Source, q.EnvelopeFrom, strings.Join(q.EnvelopeTo, ","), q.Reason, q.Detail, q.ContentSHA256, q.Raw, ms(tx.Now))
	if err != nil {
		return 0, fmt.Errorf("quarantine: %w", err)
	}
	return id, nil
}

// ListQuarantine lists quarantined messages newest first (without raw bytes).
func (s *Store) ListQuarantine(ctx context.Context, limit int) ([]Quarantined, error) {
	q := `SELECT id, source, envelope_from, envelope_to, reason, detail, content_sha256, length(raw), created_at, replayed_at
		FROM quarantine ORDER BY id DESC` + limitClause(limit)
	rows, err := s.r.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var e Quarantined
		var to string
		var created int64
		var replayed sql.NullInt64
		if err := rows.Scan(&e.ID, &e.Source, &e.EnvelopeFrom, &to, &e.Reason, &e.Detail, &e.ContentSHA256,
			&e.Size, &created, &replayed); err != nil {
			return nil, fmt.Errorf("list quarantine: %w", err)
		}
		if to != "" {
			e.EnvelopeTo = strings.Split(to, ",")
		}
		e.CreatedAt, e.ReplayedAt = fromMS(created), nullTime(replayed)
		out = append(out, e)
	}
	return out, rows.Err()
}

// IMAPState returns a mailbox's saved position; zeros when unknown.
func (s *Store) IMAPState(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT uid_validity, last_uid FROM imap_state WHERE mailbox = ?`, mailbox).
		Scan(&uidValidity, &lastUID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("imap state %s: %w", mailbox, err)
	}
	return uidValidity, lastUID, nil
}

// SaveIMAPState records a mailbox's position.
func (s *Store) SaveIMAPState(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error {
	return s.Write(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO imap_state (mailbox, uid_validity, last_uid, updated_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE SET
			uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, updated_at = excluded.updated_at`,
			mailbox, uidValidity, lastUID, ms(tx.Now))
		if err != nil {
			return fmt.Errorf("save imap state %s: %w", mailbox, err)
		}
		return nil
	})
}

// QuarantinedByID reads one quarantined message with its raw bytes.
func (s *Store) QuarantinedByID(ctx context.Context, id int64) (Quarantined, error) {
	var e Quarantined
	var to string
	var created int64
	var replayed sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, source, envelope_from, envelope_to, reason, detail, content_sha256,
		length(raw), raw, created_at, replayed_at FROM quarantine WHERE id = ?`, id).Scan(&e.ID, &e.Source, &e.EnvelopeFrom,
		&to, &e.Reason, &e.Detail, &e.ContentSHA256, &e.Size, &e.Raw, &created, &replayed)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("quarantine %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("quarantine %d: %w", id, err)
	}
	if to != "" {
		e.EnvelopeTo = strings.Split(to, ",")
	}
	e.CreatedAt, e.ReplayedAt = fromMS(created), nullTime(replayed)
	return e, nil
}

// MarkReplayed records that quarantined message id was taken in by a
// replay.
func (s *Store) MarkReplayed(ctx context.Context, id int64) error {
	return s.Write(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `UPDATE quarantine SET replayed_at = ? WHERE id = ? AND replayed_at IS NULL`, ms(tx.Now), id)
		if err != nil {
			return fmt.Errorf("mark replayed %d: %w", id, err)
		}
		return nil
	})
}

// CountQuarantine counts quarantined messages not replayed yet.
func (s *Store) CountQuarantine(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM quarantine WHERE replayed_at IS NULL`).Scan(&n)
	return n, err
}
