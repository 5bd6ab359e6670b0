package store

import (
	"context"
	"fmt"
	"time"
)

// PurgeStats counts what a purge or an erasure took away.
type PurgeStats struct {
	Messages    int   `json:"messages"`
	Attachments int   `json:"attachments"`
	Bytes       int64 `json:"bytes"` // raw mail and attachment content
}

// Add sums two counts.
func (p PurgeStats) Add(q PurgeStats) PurgeStats {
	return PurgeStats{Messages: p.Messages + q.Messages, Attachments: p.Attachments + q.Attachments, Bytes: p.Bytes + q.Bytes}
}

// DueForPurge lists up to limit closed cases, closed at or before cutoff,
// whose mail was not purged yet, the oldest close first (index
// cases_retention).
func (s *Store) DueForPurge(ctx context.Context, cutoff time.Time, limit int) ([]int64, error) {
	ids, err := queryAll(ctx, s.r, scanID, `SELECT id FROM cases WHERE state = 'closed' AND purged_at IS NULL
		AND closed_at <= ? ORDER BY closed_at LIMIT ?`, ms(cutoff), limit)
	if err != nil {
		return nil, fmt.Errorf("due for purge: %w", err)
	}
	return ids, nil
}

func scanID(row scanner) (int64, error) {
	var id int64
	err := row.Scan(&id)
	return id, err
}

// PurgeCaseMail drops the raw bytes of case caseID's inbound mail and the
// content of its attachments and marks the case purged, if the case is
// closed, was closed at or before cutoff and is not purged yet; otherwise
// it changes nothing and returns ErrNotFound. The messages keep their
// text, headers and decision trace, the attachments their name, type,
// size and hash; both are marked PurgedRetention.
func (tx *Tx) PurgeCaseMail(ctx context.Context, caseID int64, cutoff time.Time) (PurgeStats, error) {
	var st PurgeStats
	res, err := tx.tx.ExecContext(ctx, `UPDATE cases SET purged_at = ? WHERE id = ? AND state = 'closed'
		AND purged_at IS NULL AND closed_at <= ?`, ms(tx.Now), caseID, ms(cutoff))
	if err != nil {
		return st, fmt.Errorf("purge case %d: %w", caseID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return st, fmt.Errorf("purge case %d: %w", caseID, ErrNotFound)
	}
	m, err := tx.purgeRows(ctx, "messages", "raw", `case_id = ?`, caseID, PurgedRetention)
	if err != nil {
		return st, fmt.Errorf("purge case %d: %w", caseID, err)
	}
	a, err := tx.purgeRows(ctx, "attachments", "content", `case_id = ?`, caseID, PurgedRetention)
	if err != nil {
		return st, fmt.Errorf("purge case %d: %w", caseID, err)
	}
	return m.Add(a), nil
}

// purgeRows empties column col (raw or content) of the rows of table
// (messages or attachments) matching where (one ? for id) that are not
// purged yet, marks them purged with why, and counts them. The names are
// the store's own constants, never input.
func (tx *Tx) purgeRows(ctx context.Context, table, col, where string, id int64, why string) (PurgeStats, error) {
	var n int
	var size int64
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(length(`+col+`)), 0) FROM `+table+
		` WHERE `+where+` AND purged = ''`, id).Scan(&n, &size)
	if err != nil {
		return PurgeStats{}, err
	}
	if n == 0 {
		return PurgeStats{}, nil
	}
	drop := tx.dropRawChunks
	if table == "attachments" {
		drop = tx.dropAttachmentChunks
	}
	pieces, err := drop(ctx, where, id)
	if err != nil {
		return PurgeStats{}, err
	}
	size += pieces
	_, err = tx.tx.ExecContext(ctx, `UPDATE `+table+` SET `+col+` = ?, purged = ?, purged_at = ?
		WHERE `+where+` AND purged = ''`, []byte{}, why, ms(tx.Now), id)
	if err != nil {
		return PurgeStats{}, err
	}
	if table == "attachments" {
		return PurgeStats{Attachments: n, Bytes: size}, nil
	}
	return PurgeStats{Messages: n, Bytes: size}, nil
}
