package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"modernc.org/sqlite"
)

// Tracing: with Options.Trace set, both pools open their connections
// through a connector that reports every statement the store runs, with its
// arguments, before running it. Tests use it to check the query plan of
// everything a code path executes (see QueryPlan). Without it the pools
// are opened exactly as before, so tracing costs nothing when it is off.

// openPool opens a pool on dsn, tracing its statements when trace is set.
func openPool(dsn string, trace func(query string, args []any)) (*sql.DB, error) {
	if trace == nil {
		return sql.Open("sqlite", dsn)
	}
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(traceConnector{Connector: base, trace: trace}), nil
}

type traceConnector struct {
	driver.Connector
	trace func(string, []any)
}

func (c traceConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("trace: the sqlite driver's connection lacks a context method")
	}
	return &traceConn{sqliteConn: inner, trace: c.trace}, nil
}

// sqliteConn is what database/sql uses of the sqlite driver's connection;
// traceConn forwards all of it so a traced pool behaves like a plain one.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type traceConn struct {
	sqliteConn
	trace func(string, []any)
}

func (c *traceConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.trace(query, values(args))
	return c.sqliteConn.ExecContext(ctx, query, args)
}

func (c *traceConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.trace(query, values(args))
	return c.sqliteConn.QueryContext(ctx, query, args)
}

func (c *traceConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	inner, ok := st.(sqliteStmt)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("trace: the sqlite driver's statement lacks a context method")
	}
	return &traceStmt{sqliteStmt: inner, query: query, trace: c.trace}, nil
}

type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type traceStmt struct {
	sqliteStmt
	query string
	trace func(string, []any)
}

func (s *traceStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.trace(s.query, values(args))
	return s.sqliteStmt.ExecContext(ctx, args)
}

func (s *traceStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.trace(s.query, values(args))
	return s.sqliteStmt.QueryContext(ctx, args)
}

// values are a statement's arguments in order, as QueryPlan takes them.
func values(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}

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
