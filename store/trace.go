package store

import (
	"context"
	"fmt"

	"modernc.org/sqlite"
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

// PageCounts are the writer connection's page cache counters since it
// opened (SQLite's sqlite3_db_status): pages found in its cache, pages it
// had to read from the file system, and pages it wrote out. For
// benchmarks and maintenance: they tell how much of the database a write
// touches, without the noise of timings.
type PageCounts struct {
	Hits, Misses, Writes int
}

// WriterPageCounts reads the writer connection's PageCounts; it waits for
// the writer to be free.
func (s *Store) WriterPageCounts(ctx context.Context) (PageCounts, error) {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return PageCounts{}, fmt.Errorf("page counts: %w", err)
	}
	defer conn.Close()
	var pc PageCounts
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*cachingConn)
		if !ok {
			return fmt.Errorf("driver connection is a %T", dc)
		}
		st, ok := c.sqliteConn.(sqlite.DBStatus)
		if !ok {
			return fmt.Errorf("the sqlite driver's connection has no status")
		}
		for _, f := range []struct {
			op   sqlite.DBStatusOp
			into *int
		}{{sqlite.DBStatusCacheHit, &pc.Hits}, {sqlite.DBStatusCacheMiss, &pc.Misses}, {sqlite.DBStatusCacheWrite, &pc.Writes}} {
			if *f.into, _, err = st.Status(f.op, false); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return PageCounts{}, fmt.Errorf("page counts: %w", err)
	}
	return pc, nil
}
