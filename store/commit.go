package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group commit. SQLite has one writer and, with synchronous=FULL, every
// COMMIT waits for an fsync; one transaction per mail makes the disk's
// fsync rate the gateway's intake rate. So concurrent Write calls are
// gathered into one transaction:
//
//   - Callers queue their function; one committer goroutine takes
//     everything queued (at most MaxBatch calls), runs each function
//     inside its own SAVEPOINT, and commits once. A lone caller is taken
//     at once: nobody waits for company, there is no timer.
//   - A function that fails (error or panic) is rolled back to its
//     savepoint alone; its caller gets the error, the others commit.
//   - No caller hears "stored" before the shared COMMIT has returned. If
//     the COMMIT itself fails, or a failure ends the whole transaction
//     (SQLite rolls back by itself on a full disk or an I/O error), every
//     caller of the batch gets a *BatchError, which is temporary: nothing
//     of theirs was stored.
//   - A batch stops taking more functions once its statements have
//     carried MaxBatchBytes of arguments, so one batch of large mails does
//     not hold everybody else behind one huge fsync.
//   - A caller whose context ends while it waits in the queue is removed
//     from it and gets the context's error. Once its function runs, the
//     statements ignore the cancellation (an interrupted INSERT or UPDATE
//     makes SQLite roll back the whole transaction, the other callers'
//     work with it); the context is checked before each statement instead,
//     so a cancelled caller's function fails at its next statement.

// Batch bounds (defaults of Options).
const (
	defaultMaxBatch      = 128
	defaultMaxBatchBytes = 32 << 20
)

// BatchError is the failure of a whole group-commit batch: the COMMIT, or
// something that ended the shared transaction. Nothing of the caller's
// function was stored; trying again may work.
type BatchError struct{ Err error }

func (e *BatchError) Error() string { return "write batch failed: " + e.Err.Error() }
func (e *BatchError) Unwrap() error { return e.Err }

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("store closed")

// writeReq is one Write call waiting for its batch.
type writeReq struct {
	ctx   context.Context
	fn    func(*Tx) error
	done  chan struct{}
	taken atomic.Bool // set by the committer, or by the caller giving up
	err   error
	panic any
	after []func() // the function's AfterCommit calls, once it succeeded
}

// committer owns the writer connection and runs the batches.
type committer struct {
	s        *Store
	maxBatch int
	maxBytes int64

	mu     sync.Mutex
	queue  []*writeReq
	closed bool
	wake   chan struct{}
	stop   chan struct{}
	exited chan struct{}

	batches atomic.Int64
	writes  atomic.Int64
}

func newCommitter(s *Store, maxBatch int, maxBytes int64) *committer {
	if maxBatch <= 0 {
		maxBatch = defaultMaxBatch
	}
	if maxBytes <= 0 {
		maxBytes = defaultMaxBatchBytes
	}
	c := &committer{s: s, maxBatch: maxBatch, maxBytes: maxBytes,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{})}
	go c.run()
	return c
}

// WriteStats counts what the committer did: how many Write calls were
// committed or failed, in how many transactions.
type WriteStats struct {
	Batches int64 // transactions begun
	Writes  int64 // Write calls run in them
}

// WriteStats reports the group commit's counters. On PostgreSQL every
// Write is a transaction of its own.
func (s *Store) WriteStats() WriteStats {
	if s.commit == nil {
		n := s.ownTx.Load()
		return WriteStats{Batches: n, Writes: n}
	}
	return WriteStats{Batches: s.commit.batches.Load(), Writes: s.commit.writes.Load()}
}

// submit queues reqs, in order, and wakes the committer.
func (c *committer) submit(reqs ...*writeReq) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.queue = append(c.queue, reqs...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// close stops the committer after the queued calls have run.
func (c *committer) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		<-c.exited
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.exited
}

func (c *committer) run() {
	defer close(c.exited)
	for {
		batch := c.take()
		if len(batch) > 0 {
			c.runBatch(batch)
			continue
		}
		select {
		case <-c.wake:
		case <-c.stop:
			if batch := c.take(); len(batch) > 0 {
				c.runBatch(batch)
				continue
			}
			return
		}
	}
}

// take removes up to maxBatch live requests from the queue.
func (c *committer) take() []*writeReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	var batch []*writeReq
	i := 0
	for ; i < len(c.queue) && len(batch) < c.maxBatch; i++ {
		if r := c.queue[i]; r.taken.CompareAndSwap(false, true) {
			batch = append(batch, r)
		}
	}
	c.queue = append(c.queue[:0], c.queue[i:]...)
	return batch
}

// requeue puts requests a full batch could not take back at the front.
func (c *committer) requeue(reqs []*writeReq) {
	c.mu.Lock()
	c.queue = append(append([]*writeReq(nil), reqs...), c.queue...)
	c.mu.Unlock()
	for _, r := range reqs {
		r.taken.Store(false)
	}
}

// runBatch runs reqs in one transaction and tells each caller how it
// ended.
func (c *committer) runBatch(reqs []*writeReq) {
	c.batches.Add(1)
	sqlTx, err := c.s.w.BeginTx(context.Background(), nil)
	if err != nil {
		c.finish(reqs, &BatchError{Err: fmt.Errorf("begin: %w", err)})
		return
	}
	q := &txConn{tx: sqlTx, d: c.s.d}
	tx := &Tx{tx: q, Now: c.s.now().UTC()}
	var ok []*writeReq
	for i, r := range reqs {
		if i > 0 && q.bytes >= c.maxBytes {
			c.requeue(reqs[i:])
			break
		}
		c.writes.Add(1)
		if broken := c.runOne(q, tx, r); broken != nil {
			// The work of the callers before this one is lost with the
			// transaction; those after it have not run and go in the
			// next batch.
			sqlTx.Rollback()
			c.requeue(reqs[i+1:])
			c.finish(append(ok, r), broken)
			return
		}
		if r.err == nil && r.panic == nil {
			ok = append(ok, r)
		} else {
			close(r.done)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		c.finish(ok, &BatchError{Err: fmt.Errorf("commit: %w", err)})
		return
	}
	c.finish(ok, nil)
}

// runOne runs one caller's function inside a savepoint. It sets the
// caller's own error or panic; it returns a non-nil error only when the
// shared transaction can no longer be used.
func (c *committer) runOne(q *txConn, tx *Tx, r *writeReq) error {
	if err := r.ctx.Err(); err != nil {
		r.err = err
		return nil
	}
	if _, err := q.tx.Exec(`SAVEPOINT write`); err != nil { // sqlite only: no rebinding needed
		r.err = &BatchError{Err: fmt.Errorf("savepoint: %w", err)}
		return r.err
	}
	tx.memo, tx.after = txMemo{}, nil
	r.err, r.panic = call(r.fn, tx)
	if r.err == nil && r.panic == nil {
		if _, err := q.tx.Exec(`RELEASE write`); err != nil {
			r.err = &BatchError{Err: fmt.Errorf("release: %w", err)}
			return r.err
		}
		r.after = tx.after
		return nil
	}
	if _, err := q.tx.Exec(`ROLLBACK TO write`); err != nil {
		// SQLite already rolled the whole transaction back (a full disk,
		// an I/O error): the cause stays in the chain for Classify.
		cause := r.err
		if cause == nil {
			cause = fmt.Errorf("panic: %v", r.panic)
		}
		return &BatchError{Err: fmt.Errorf("transaction lost after %w: %w", cause, err)}
	}
	if _, err := q.tx.Exec(`RELEASE write`); err != nil {
		return &BatchError{Err: fmt.Errorf("release: %w", err)}
	}
	return nil
}

// call runs fn, turning a panic into a value to re-raise in the caller's
// goroutine.
func call(fn func(*Tx) error, tx *Tx) (err error, p any) {
	defer func() {
		if v := recover(); v != nil {
			p = v
		}
	}()
	return fn(tx), nil
}

// finish tells every caller in reqs how the batch ended: err, or nil
// (committed) unless the caller already has an error of its own.
func (c *committer) finish(reqs []*writeReq, err error) {
	for _, r := range reqs {
		if err != nil {
			r.err, r.panic = err, nil
		}
		close(r.done)
	}
}

// txConn runs the statements of a transaction in the backend's SQL
// (dialect.go). In a shared transaction (SQLite's group commit) it runs
// them without the callers' cancellation (see the package's group-commit
// notes), checking it before each statement instead, and counts the bytes
// of the arguments so a batch can be bounded. A transaction of its own
// (own, PostgreSQL) runs them with the caller's context.
type txConn struct {
	tx    *sql.Tx
	d     dialect
	own   bool
	bytes int64
}

// stmtCtx is the context a statement runs with.
func (q *txConn) stmtCtx(ctx context.Context) context.Context {
	if q.own {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

func (q *txConn) count(args []any) {
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			q.bytes += int64(len(v))
		case string:
			q.bytes += int64(len(v))
		}
	}
}

// insertID runs an INSERT and returns the id of the new row: RETURNING
// on PostgreSQL, whose driver has no last insert id; SQLite's own last
// insert id otherwise, since RETURNING on a table others reference puts a
// scan of each referencing table into SQLite's plan (run only while a
// deferred foreign key is violated, but a plan that reads as a scan).
func (q *txConn) insertID(ctx context.Context, query string, args ...any) (int64, error) {
	if q.d.numbered {
		var id int64
		err := q.QueryRowContext(ctx, query+` RETURNING id`, args...).Scan(&id)
		return id, err
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// ExecContext runs a statement in the transaction.
func (q *txConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.count(args)
	return q.tx.ExecContext(q.stmtCtx(ctx), q.d.query(query), q.d.args(args)...)
}

// QueryContext runs a query in the transaction.
func (q *txConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return q.tx.QueryContext(q.stmtCtx(ctx), q.d.query(query), q.d.args(args)...)
}

// QueryRowContext runs a one-row query in the transaction; a cancelled
// context shows as the row's error.
func (q *txConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if ctx.Err() != nil {
		return q.tx.QueryRowContext(ctx, q.d.query(query), args...) // fails before reaching the database
	}
	q.count(args)
	return q.tx.QueryRowContext(q.stmtCtx(ctx), q.d.query(query), q.d.args(args)...)
}

// PrepareContext prepares a statement to run several times in the
// transaction, with the same rules as ExecContext.
func (q *txConn) PrepareContext(ctx context.Context, query string) (*txStmt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := q.tx.PrepareContext(q.stmtCtx(ctx), q.d.query(query))
	if err != nil {
		return nil, err
	}
	return &txStmt{q: q, st: st}, nil
}

// txStmt is a prepared statement of a shared transaction.
type txStmt struct {
	q  *txConn
	st *sql.Stmt
}

// ExecContext runs the statement.
func (s *txStmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.q.count(args)
	return s.st.ExecContext(s.q.stmtCtx(ctx), s.q.d.args(args)...)
}

// QueryRowContext runs the statement for one row; a cancelled context
// shows as the row's error.
func (s *txStmt) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	if ctx.Err() != nil {
		return s.st.QueryRowContext(ctx, args...) // fails before reaching the database
	}
	s.q.count(args)
	return s.st.QueryRowContext(s.q.stmtCtx(ctx), s.q.d.args(args)...)
}

// Close releases the statement.
func (s *txStmt) Close() error { return s.st.Close() }
