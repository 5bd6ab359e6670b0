package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"modernc.org/sqlite"
)

// Both pools open their connections through connector, which wraps the
// sqlite driver's connections for two things:
//
//   - A statement cache per connection. Compiling a statement costs more
//     than running most of ours (it was about 40% of the CPU time of taking
//     in a mail), and the store runs the same few dozen statements over and
//     over, so each connection keeps each statement it runs compiled, by
//     its text, and runs it again from there. A statement in use (its rows
//     still open) is not shared: a second use meanwhile compiles afresh.
//     The cache holds at most stmtCacheSize statements per connection.
//   - Options.Trace, when set, sees every statement with its arguments
//     before it runs (trace.go).

// stmtCacheSize bounds the statements one connection keeps compiled; the
// store has fewer, and statements with literal values in their text
// (a LIMIT formatted in) take turns.
const stmtCacheSize = 200

// openPool opens a pool on dsn.
func openPool(dsn string, trace func(query string, args []any)) (*sql.DB, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(connector{Connector: base, trace: trace}), nil
}

type connector struct {
	driver.Connector
	trace func(string, []any)
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("open store: the sqlite driver's connection lacks a context method")
	}
	return &cachingConn{sqliteConn: inner, trace: c.trace, stmts: map[string]*cachedStmt{}}, nil
}

// sqliteConn is what database/sql uses of the sqlite driver's connection;
// cachingConn forwards all of it.
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

type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// sqliteRows is the sqlite driver's rows with the column type methods
// database/sql looks for.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// cachingConn is one connection with its compiled statements. database/sql
// uses a connection from one goroutine at a time, so it needs no lock.
type cachingConn struct {
	sqliteConn
	trace func(string, []any)
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	sqliteStmt
	busy bool // its rows are open
}

// stmt returns the compiled statement for query, compiling and keeping it
// if needed; nil when it is in use.
func (c *cachingConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if s, ok := c.stmts[query]; ok {
		if s.busy {
			return nil, nil
		}
		return s, nil
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	inner, ok := st.(sqliteStmt)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the sqlite driver's statement lacks a context method")
	}
	if len(c.stmts) >= stmtCacheSize {
		c.evictOne()
	}
	s := &cachedStmt{sqliteStmt: inner}
	c.stmts[query] = s
	return s, nil
}

// evictOne closes one statement not in use (whichever the map gives first).
func (c *cachingConn) evictOne() {
	for q, s := range c.stmts {
		if !s.busy {
			s.Close()
			delete(c.stmts, q)
			return
		}
	}
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.trace != nil {
		c.trace(query, values(args))
	}
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	s.busy = true
	defer func() { s.busy = false }()
	return s.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.trace != nil {
		c.trace(query, values(args))
	}
	s, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	inner, ok := rows.(sqliteRows)
	if !ok {
		rows.Close()
		return nil, fmt.Errorf("the sqlite driver's rows lack a column type method")
	}
	s.busy = true
	return &cachedRows{sqliteRows: inner, s: s}, nil
}

// PrepareContext serves database/sql's own prepared statements (none of
// the store's use them) uncached, traced.
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil || c.trace == nil {
		return st, err
	}
	inner, ok := st.(sqliteStmt)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the sqlite driver's statement lacks a context method")
	}
	return &traceStmt{sqliteStmt: inner, query: query, trace: c.trace}, nil
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	for q, s := range c.stmts {
		s.Close()
		delete(c.stmts, q)
	}
	return c.sqliteConn.Close()
}

// cachedRows gives its statement back when closed.
type cachedRows struct {
	sqliteRows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.sqliteRows.Close()
	r.s.busy = false
	return err
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
