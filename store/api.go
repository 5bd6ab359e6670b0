package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// CaseSearch selects cases for SearchCases: the filter of ListCases plus
// a free-text query.
type CaseSearch struct {
	CaseFilter
	// Query matches, case-insensitively, anywhere in the number, subject
	// or description ("" matches every case). SQLite folds ASCII letters
	// only, PostgreSQL every letter.
	Query string
	// Assignee selects the cases assigned to one address; "none" the
	// unassigned ones.
	Assignee string
	// Account selects one account's cases.
	Account string
	// Oldest lists oldest first; After then means a larger id.
	Oldest bool
}

// SearchCases returns the cases matching s, newest first; s.After and
// s.Limit page through them as in ListCases.
func (s *Store) SearchCases(ctx context.Context, f CaseSearch) ([]Case, error) {
	where, args := []string{"1=1"}, []any{}
	add := func(cond string, v ...any) { where, args = append(where, cond), append(args, v...) }
	if f.State != "" {
		add("c.state = ?", f.State)
	}
	if f.Kind != "" {
		add("c.kind = ?", f.Kind)
	}
	if f.Contact != "" {
		add("p.email = ?", f.Contact) // contacts.email is COLLATE NOCASE
	}
	switch {
	case f.After > 0 && f.Oldest:
		add("c.id > ?", f.After)
	case f.After > 0:
		add("c.id < ?", f.After)
	}
	switch f.Assignee {
	case "":
	case "none":
		add("c.assignee = ''")
	default:
		add("c.assignee = ?", f.Assignee)
	}
	if f.Account != "" {
		add("c.account = ?", f.Account)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		pat := "%" + escapeLike(q) + "%"
		add(`(lower(c.number) LIKE lower(?) ESCAPE '\' OR lower(c.subject) LIKE lower(?) ESCAPE '\' OR lower(c.description) LIKE lower(?) ESCAPE '\')`, pat, pat, pat)
	}
	order := ` ORDER BY c.id DESC`
	if f.Oldest {
		order = ` ORDER BY c.id`
	}
	q := `SELECT ` + caseColumns + caseFrom + `WHERE ` + strings.Join(where, " AND ") + order
	q += limitClause(f.Limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("search cases: %w", err)
	}
	defer rows.Close()
	var out []Case
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, fmt.Errorf("search cases: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// escapeLike makes s match itself literally in a LIKE pattern with
// ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// AttachmentByID reads what is known of one attachment; its content is
// read with WriteAttachmentContent.
func (s *Store) AttachmentByID(ctx context.Context, id int64) (Attachment, error) {
	var a Attachment
	var purged sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, message_id, filename, content_type, content_id, inline, size, sha256,
		purged, purged_at FROM attachments WHERE id = ?`, id).
		Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.ContentID, &a.Inline, &a.Size, &a.SHA256,
			&a.Purged, &purged)
	a.PurgedAt = nullTime(purged)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("attachment %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("attachment %d: %w", id, err)
	}
	return a, nil
}

// WriteAttachmentContent writes the content of attachment id to w, a
// piece of at most 1 MiB at a time (writePieces; nothing for a purged
// one). An error of w ends it and is returned as it is.
func (s *Store) WriteAttachmentContent(ctx context.Context, id int64, w io.Writer) error {
	return writeStored(ctx, s.r, "attachment", id, `SELECT chunked, content FROM attachments WHERE id = ?`,
		`SELECT data FROM attachment_chunks WHERE attachment_id = ? AND seq = ?`, w)
}

// Backlog is what waits: the gauges /metrics reports. Each figure is read
// through an index and costs in proportion to what it counts (active
// cases, pending and dead mail, quarantine), never to the history. Ids
// grow with time, so the pending row with the smallest id is the oldest.
type Backlog struct {
	ActiveCases   map[string]int // every state but closed, 0 when none
	OutboxPending int
	OutboxDead    int
	OldestPending *time.Time // when the oldest pending mail was queued; nil when none is
	Quarantined   int        // not replayed yet
}

// Backlog reads the current Backlog.
func (s *Store) Backlog(ctx context.Context) (Backlog, error) {
	b := Backlog{ActiveCases: map[string]int{}}
	for _, st := range []string{StateNew, StateOpen, StateAwaitingInfo, StateOnHold, StateResolved} {
		b.ActiveCases[st] = 0
	}
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM cases
		WHERE state IN ('new', 'open', 'awaiting_info', 'on_hold', 'resolved') GROUP BY state`)
	if err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return b, fmt.Errorf("backlog: %w", err)
		}
		b.ActiveCases[st] = n
	}
	if err := rows.Err(); err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	var oldest sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM outbox WHERE status = 'pending'),
		(SELECT created_at FROM outbox WHERE id = (SELECT min(id) FROM outbox WHERE status = 'pending')),
		(SELECT count(*) FROM outbox WHERE status = 'dead'),
		(SELECT count(*) FROM quarantine WHERE replayed_at IS NULL)`).
		Scan(&b.OutboxPending, &oldest, &b.OutboxDead, &b.Quarantined)
	if err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	b.OldestPending = nullTime(oldest)
	return b, nil
}
