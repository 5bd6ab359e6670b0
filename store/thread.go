package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Watcher receives every update of a case without having to act.
type Watcher struct {
	Email     string    `json:"email"`
	Name      string    `json:"name,omitempty"`
	AddedBy   string    `json:"added_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Activity is one entry of a case's thread.
type Activity struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"` // inbound | comment | state | watcher | delivery | link
	Actor     string    `json:"actor,omitempty"`
	Public    bool      `json:"public"`
	Body      string    `json:"body,omitempty"`
	MessageID int64     `json:"message_id,omitempty"` // the inbound message, for kind inbound
	CreatedAt time.Time `json:"created_at"`
}

// AddWatcher adds email to the case's watchers; it reports whether the
// address was new.
func (tx *Tx) AddWatcher(ctx context.Context, caseID int64, email, name, addedBy string) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO watchers (case_id, email, name, added_by, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, caseID, email, name, addedBy, ms(tx.Now))
	if err != nil {
		return false, fmt.Errorf("add watcher: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		delete(tx.memo.watchers, caseID) // not known whether it was added: read again
		return false, err
	}
	if n > 0 {
		tx.memo.addWatcher(caseID, Watcher{Email: tx.text(email), Name: tx.text(name), AddedBy: tx.text(addedBy),
			CreatedAt: fromMS(ms(tx.Now))})
	}
	return n > 0, nil
}

// Watchers lists a case's watchers in the order they were added.
func (tx *Tx) Watchers(ctx context.Context, caseID int64) ([]Watcher, error) {
	if ws, ok := tx.memo.watchers[caseID]; ok {
		return append([]Watcher(nil), ws...), nil
	}
	return watchers(ctx, tx.tx, caseID)
}

// Watchers lists a case's watchers in the order they were added.
func (s *Store) Watchers(ctx context.Context, caseID int64) ([]Watcher, error) {
	return watchers(ctx, s.r, caseID)
}

func watchers(ctx context.Context, q querier, caseID int64) ([]Watcher, error) {
	rows, err := q.QueryContext(ctx, `SELECT email, name, added_by, created_at FROM watchers
		WHERE case_id = ? ORDER BY created_at, rowid`, caseID)
	if err != nil {
		return nil, fmt.Errorf("watchers: %w", err)
	}
	defer rows.Close()
	var out []Watcher
	for rows.Next() {
		var w Watcher
		var created int64
		if err := rows.Scan(&w.Email, &w.Name, &w.AddedBy, &created); err != nil {
			return nil, fmt.Errorf("watchers: %w", err)
		}
		w.CreatedAt = fromMS(created)
		out = append(out, w)
	}
	return out, rows.Err()
}

// AddActivity appends an entry to a case's thread and touches the case.
func (tx *Tx) AddActivity(ctx context.Context, caseID int64, a Activity) (int64, error) {
	var msg any
	if a.MessageID != 0 {
		msg = a.MessageID
	}
	id, err := tx.tx.insertID(ctx, `INSERT INTO activities (case_id, kind, actor, public, body, message_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, caseID, a.Kind, a.Actor, a.Public, a.Body, msg, ms(tx.Now))
	if err != nil {
		return 0, fmt.Errorf("add activity: %w", err)
	}
	if err := tx.Touch(ctx, caseID); err != nil {
		return 0, fmt.Errorf("add activity: %w", err)
	}
	return id, nil
}

// Activities lists a case's thread, oldest first. An inbound entry's
// body is its message's visible reply, read from the message: the entry
// keeps no copy of it.
func (s *Store) Activities(ctx context.Context, caseID int64) ([]Activity, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT a.id, a.kind, a.actor, a.public,
		CASE WHEN m.id IS NULL THEN a.body ELSE COALESCE(m.visible, m.full_text) END,
		COALESCE(a.message_id, 0), a.created_at, COALESCE(m.chunked, 0), m.visible IS NULL
		FROM activities a LEFT JOIN messages m ON m.id = a.message_id AND a.kind = 'inbound'
		WHERE a.case_id = ? ORDER BY a.id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("activities: %w", err)
	}
	defer rows.Close()
	var out []Activity
	var chunked []int // entries whose body is in pieces
	for rows.Next() {
		var a Activity
		var created int64
		var pieces int
		var same bool
		if err := rows.Scan(&a.ID, &a.Kind, &a.Actor, &a.Public, &a.Body, &a.MessageID, &created, &pieces, &same); err != nil {
			return nil, fmt.Errorf("activities: %w", err)
		}
		a.CreatedAt = fromMS(created)
		if pieces&chunkedVisible != 0 || (same && pieces&chunkedText != 0) {
			chunked = append(chunked, len(out))
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("activities: %w", err)
	}
	rows.Close()
	for _, i := range chunked {
		m, err := s.messageTexts(ctx, out[i].MessageID)
		if err != nil {
			return nil, fmt.Errorf("activities: %w", err)
		}
		out[i].Body = m.Visible
	}
	return out, nil
}

// AddThreadID remembers a Message-ID (without angle brackets) as belonging
// to a case. A Message-ID already known keeps its first case.
func (tx *Tx) AddThreadID(ctx context.Context, messageID string, caseID int64, direction string) error {
	if messageID == "" {
		return nil
	}
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO thread_ids (message_id, case_id, direction, created_at)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, messageID, caseID, direction, ms(tx.Now))
	if err != nil {
		return fmt.Errorf("add thread id: %w", err)
	}
	switch n, err := res.RowsAffected(); {
	case err != nil:
		// Not known whether it was added: read again.
		delete(tx.memo.refs, caseID)
		delete(tx.memo.thread, caseID)
	case n == 1:
		tx.memo.addThreadID(caseID, messageID)
	}
	return nil
}

// CaseByThreadIDs returns the case of the latest of ids (a message's
// In-Reply-To first, then its References newest first) that we know, and
// which id matched. ErrNotFound when none is known.
func (tx *Tx) CaseByThreadIDs(ctx context.Context, ids []string) (Case, string, error) {
	return caseByThreadIDs(ctx, tx.tx, tx.tx.d.lockCase, ids)
}

// CaseByThreadIDs is the read-only form of Tx.CaseByThreadIDs.
func (s *Store) CaseByThreadIDs(ctx context.Context, ids []string) (Case, string, error) {
	return caseByThreadIDs(ctx, s.r, "", ids)
}

func caseByThreadIDs(ctx context.Context, q querier, lock string, ids []string) (Case, string, error) {
	for _, id := range ids {
		var caseID int64
		err := q.QueryRowContext(ctx, `SELECT case_id FROM thread_ids WHERE message_id = ?`, id).Scan(&caseID)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return Case{}, "", fmt.Errorf("thread lookup: %w", err)
		}
		c, err := scanCase(q.QueryRowContext(ctx, `SELECT `+caseColumns+caseFrom+`WHERE c.id = ?`+lock, caseID))
		if err != nil {
			return Case{}, "", fmt.Errorf("thread lookup: %w", err)
		}
		return c, id, nil
	}
	return Case{}, "", ErrNotFound
}

// ThreadRefs returns the Message-IDs a notification about the case should
// name in References: the case's first message and its latest ones, at
// most max in all (every one when max < 2), oldest first. It reads those
// rows only, from the index on case_id, however long the thread.
func (tx *Tx) ThreadRefs(ctx context.Context, caseID int64, max int) ([]string, error) {
	if refs, ok := tx.memo.threadRefs(caseID, max); ok {
		return append([]string(nil), refs...), nil
	}
	scan := func(row scanner) (string, error) {
		var n int64
		var id string
		err := row.Scan(&n, &id)
		return id, err
	}
	query, args := `SELECT rowid, message_id FROM thread_ids WHERE case_id = ? ORDER BY rowid`, []any{caseID}
	if max > 1 {
		query = `SELECT n, message_id FROM (SELECT rowid AS n, message_id FROM thread_ids WHERE case_id = ? ORDER BY rowid LIMIT 1) AS first_id
			UNION
			SELECT n, message_id FROM (SELECT rowid AS n, message_id FROM thread_ids WHERE case_id = ? ORDER BY rowid DESC LIMIT ?) AS latest_ids
			ORDER BY n`
		args = []any{caseID, caseID, max - 1}
	}
	ids, err := queryAll(ctx, tx.tx, scan, query, args...)
	if err != nil {
		return nil, fmt.Errorf("thread refs: %w", err)
	}
	tx.memo.setThreadRefs(caseID, max, ids)
	return append([]string(nil), ids...), nil
}
