package store

import (
	"context"
	"fmt"
)

// Tracing: with Options.Trace set, every statement the store runs is
// reported with its arguments before it runs (conn.go). Tests use it to
// check the query plan of everything a code path executes with QueryPlan.

// PlanStep is one line of SQLite's EXPLAIN QUERY PLAN: Detail is e.g.
// "SEARCH messages USING INDEX messages_content (content_sha256=?)" or
// "SCAN outbox".
type PlanStep struct {
	ID, Parent int
	Detail     string
}

// QueryPlan returns SQLite's plan for query with args, on a reader
// connection; nothing is executed. For tests and maintenance only.
func (s *Store) QueryPlan(ctx context.Context, query string, args ...any) ([]PlanStep, error) {
	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return nil, fmt.Errorf("query plan: %w", err)
	}
	defer rows.Close()
	var out []PlanStep
	for rows.Next() {
		var p PlanStep
		var unused int
		if err := rows.Scan(&p.ID, &p.Parent, &unused, &p.Detail); err != nil {
			return nil, fmt.Errorf("query plan: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
