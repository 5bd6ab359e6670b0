package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// CaseSearch selects cases for SearchCases: the filter of ListCases plus
// a free-text query.
type CaseSearch struct {
	CaseFilter
	// Query matches, case-insensitively, anywhere in the number, subject
	// or description ("" matches every case). SQLite folds ASCII letters
	// only.
	Query string
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
	if f.After > 0 {
		add("c.id < ?", f.After)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		pat := "%" + escapeLike(q) + "%"
		add(`(c.number LIKE ? ESCAPE '\' OR c.subject LIKE ? ESCAPE '\' OR c.description LIKE ? ESCAPE '\')`, pat, pat, pat)
	}
	q := `SELECT ` + caseColumns + caseFrom + `WHERE ` + strings.Join(where, " AND ") + ` ORDER BY c.id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
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

// AttachmentByID reads one attachment with its content.
func (s *Store) AttachmentByID(ctx context.Context, id int64) (Attachment, error) {
	var a Attachment
	var purged sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT id, message_id, filename, content_type, content_id, inline, size, sha256, content,
		purged, purged_at FROM attachments WHERE id = ?`, id).
		Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.ContentID, &a.Inline, &a.Size, &a.SHA256, &a.Content,
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

// Counts are the numbers /metrics reports. Every known state, status and
// outcome is present, with 0 when there is no row.
type Counts struct {
	CasesByState      map[string]int
	OutboxByStatus    map[string]int
	MessagesByOutcome map[string]int
	Quarantined       int
}

// Count reads the current Counts.
func (s *Store) Count(ctx context.Context) (Counts, error) {
	c := Counts{
		CasesByState:      zeros(StateNew, StateOpen, StateAwaitingInfo, StateOnHold, StateResolved, StateClosed),
		OutboxByStatus:    zeros(OutboxPending, OutboxSent, OutboxDead),
		MessagesByOutcome: zeros(OutcomeNewCase, OutcomeReply, OutcomeIgnored, OutcomeBounce, OutcomeAutoReply),
	}
	for _, g := range []struct {
		query string
		into  map[string]int
	}{
		{`SELECT state, count(*) FROM cases GROUP BY state`, c.CasesByState},
		{`SELECT status, count(*) FROM outbox GROUP BY status`, c.OutboxByStatus},
		{`SELECT outcome, count(*) FROM messages GROUP BY outcome`, c.MessagesByOutcome},
	} {
		if err := s.countGroups(ctx, g.query, g.into); err != nil {
			return c, err
		}
	}
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM quarantine WHERE replayed_at IS NULL`).Scan(&c.Quarantined); err != nil {
		return c, fmt.Errorf("count quarantine: %w", err)
	}
	return c, nil
}

func (s *Store) countGroups(ctx context.Context, query string, into map[string]int) error {
	rows, err := s.r.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return fmt.Errorf("count: %w", err)
		}
		into[k] = n
	}
	return rows.Err()
}

func zeros(keys ...string) map[string]int {
	m := make(map[string]int, len(keys))
	for _, k := range keys {
		m[k] = 0
	}
	return m
}
