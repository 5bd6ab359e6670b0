package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unsafe"
)

// Quarantined is a message kept raw because it could not be taken as mail.
type Quarantined struct {
	ID            int64    `json:"id"`
	Source        string   `json:"source"`
	EnvelopeFrom  string   `json:"envelope_from,omitempty"`
	EnvelopeTo    []string `json:"envelope_to,omitempty"`
	Reason        string   `json:"reason"`
	Detail        string   `json:"detail,omitempty"`
	ContentSHA256 string   `json:"content_sha256"`
	Size          int      `json:"size"`
	// Raw holds the message's bytes to store; RawFrom, when set, holds
	// them instead, in a file read in pieces. Reads leave both empty:
	// WriteQuarantinedRaw streams the bytes.
	Raw        []byte            `json:"-"`
	RawFrom    *io.SectionReader `json:"-"`
	CreatedAt  time.Time         `json:"created_at"`
	ReplayedAt *time.Time        `json:"replayed_at,omitempty"`
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
	// A mail over chunkSize is kept in pieces (quarantine_chunks), as a
	// large accepted one is: never bound whole as one value.
	raw, chunked := q.Raw, 0
	size := int64(len(q.Raw))
	if q.RawFrom != nil {
		size = q.RawFrom.Size()
	}
	switch {
	case size > chunkSize:
		raw, chunked = []byte{}, 1
	case q.RawFrom != nil:
		raw = make([]byte, size)
		if err := readAtFull(q.RawFrom, raw, 0); err != nil {
			return 0, fmt.Errorf("quarantine: read: %w", err)
		}
	}
	id, err = tx.tx.insertID(ctx, `INSERT INTO quarantine (source, envelope_from, envelope_to, reason, detail,
		content_sha256, raw, chunked, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		q.Source, q.EnvelopeFrom, strings.Join(q.EnvelopeTo, ","), q.Reason, q.Detail, q.ContentSHA256, raw, chunked, ms(tx.Now))
	if err != nil {
		return 0, fmt.Errorf("quarantine: %w", err)
	}
	if chunked != 0 {
		if err := tx.insertQuarantineChunks(ctx, id, q.Raw, q.RawFrom); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// insertQuarantineChunks writes the raw bytes of quarantined mail id in
// pieces, from r when set, from raw otherwise.
func (tx *Tx) insertQuarantineChunks(ctx context.Context, id int64, raw []byte, r *io.SectionReader) error {
	put := func(seq int, piece []byte) error {
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO quarantine_chunks (quarantine_id, seq, data) VALUES (?, ?, ?)`,
			id, seq, piece)
		return err
	}
	var err error
	if r != nil {
		err = readerPieces(r, put)
	} else {
		err = stringPieces(unsafe.String(unsafe.SliceData(raw), len(raw)), put)
	}
	if err != nil {
		return fmt.Errorf("quarantine %d: %w", id, err)
	}
	return nil
}

// quarantineSize is the size of a quarantined mail (alias q), kept whole
// or in pieces.
const quarantineSize = `CASE WHEN q.chunked = 0 THEN length(q.raw)
	ELSE (SELECT COALESCE(sum(length(c.data)), 0) FROM quarantine_chunks c WHERE c.quarantine_id = q.id) END`

// ListQuarantine lists quarantined messages newest first (without raw bytes).
func (s *Store) ListQuarantine(ctx context.Context, limit int) ([]Quarantined, error) {
	q := `SELECT q.id, q.source, q.envelope_from, q.envelope_to, q.reason, q.detail, q.content_sha256, ` + quarantineSize + `,
		q.created_at, q.replayed_at FROM quarantine q ORDER BY q.id DESC` + limitClause(limit)
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

// QuarantinedByID reads what is known of one quarantined message; its
// bytes are read with WriteQuarantinedRaw.
func (s *Store) QuarantinedByID(ctx context.Context, id int64) (Quarantined, error) {
	var e Quarantined
	var to string
	var created int64
	var replayed sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT q.id, q.source, q.envelope_from, q.envelope_to, q.reason, q.detail,
		q.content_sha256, `+quarantineSize+`, q.created_at, q.replayed_at FROM quarantine q WHERE q.id = ?`, id).Scan(&e.ID,
		&e.Source, &e.EnvelopeFrom, &to, &e.Reason, &e.Detail, &e.ContentSHA256, &e.Size, &created, &replayed)
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

// WriteQuarantinedRaw writes the raw bytes of quarantined message id to
// w, a piece of at most 1 MiB at a time (writePieces). An error of w ends
// it and is returned as it is.
func (s *Store) WriteQuarantinedRaw(ctx context.Context, id int64, w io.Writer) error {
	return writeQuarantinedRaw(ctx, s.r, id, w)
}

// writeQuarantinedRaw is WriteQuarantinedRaw inside a transaction.
func writeQuarantinedRaw(ctx context.Context, q querier, id int64, w io.Writer) error {
	return writeStored(ctx, q, "quarantine", id, `SELECT chunked, raw FROM quarantine WHERE id = ?`,
		`SELECT data FROM quarantine_chunks WHERE quarantine_id = ? AND seq = ?`, w)
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
