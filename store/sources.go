package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// NoteSource records that outbox row outboxID was queued while handling a
// mail from source, for the budget per source.
func (tx *Tx) NoteSource(ctx context.Context, outboxID int64, source string) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO outbox_sources (outbox_id, source, created_at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, outboxID, source, ms(tx.Now))
	if err != nil {
		return fmt.Errorf("note source: %w", err)
	}
	return nil
}

// ThreadID is a Message-ID we know and the case it belongs to.
type ThreadID struct {
	MessageID string
	CaseID    int64
	Direction string // out: one we sent; in: one we received
}

// ThreadIDs returns those of ids that we know, in the order of ids.
func (tx *Tx) ThreadIDs(ctx context.Context, ids []string) ([]ThreadID, error) {
	var out []ThreadID
	for _, id := range ids {
		t := ThreadID{MessageID: id}
		err := tx.tx.QueryRowContext(ctx, `SELECT case_id, direction FROM thread_ids WHERE message_id = ?`, id).
			Scan(&t.CaseID, &t.Direction)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("thread ids: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}
