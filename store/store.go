// Package store persists casegate's cases, contacts, watchers, activity
// thread, inbound messages (raw bytes kept exactly), attachments, threading
// Message-IDs, the durable outbox, the quarantine and the IMAP pollers'
// positions, in SQLite (modernc.org/sqlite, no cgo; Open) or in PostgreSQL
// (github.com/jackc/pgx/v5; OpenPostgres, postgres.go). The API is the same
// on both; the SQL is written once and the few differences live in
// dialect.go.
//
// Design on SQLite:
//   - Two connection pools on one database file in WAL mode: a writer with
//     exactly one connection (SQLite has one writer; queueing in Go is
//     cheaper and fairer than SQLITE_BUSY retries) whose transactions begin
//     IMMEDIATE, and a reader pool for queries.
//   - synchronous=FULL: a committed transaction survives a power cut, which
//     is what lets the SMTP listener answer 250 after Write returns.
//   - Schema changes are embedded migrations/NNNN_name.sql files, each run
//     with its bookkeeping row in one transaction.
//   - Every write goes through Write(ctx, fn): fn runs in a transaction
//     and its work is committed, or rolled back entirely on any error.
//     Concurrent Write calls share one transaction and one fsync, each in
//     a savepoint of its own (group commit, commit.go). Tx carries the
//     transaction's Now, taken from the injected clock, so tests control
//     time.
//
// On PostgreSQL (postgres.go) several gateway instances share the
// database: each Write is a transaction of its own, a case row is locked
// while a transaction works on it, and the duplicate keys of inbound mail
// are unique in the database, so a check-then-insert race ends as
// ErrDuplicate instead of a second copy.
//
// The store never sends mail and never imports the gateway: the case rules
// live in the gateway and run inside Write's callback.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql migrations_pg/*.sql
var migrations embed.FS

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store is the database. It is safe for concurrent use.
type Store struct {
	d      dialect
	w      *sql.DB // SQLite: one connection, the single writer, used by commit; PostgreSQL: the pool
	r      *conn   // readers (on PostgreSQL the same pool as w)
	now    func() time.Time
	commit *committer // SQLite's group commit; nil on PostgreSQL

	ckStop, ckDone chan struct{} // the background checkpoints (checkpoint.go)

	ownTx atomic.Int64 // PostgreSQL: transactions run by Write
}

// Options configure Open.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// BusyTimeout is how long a statement waits for another process's
	// lock before failing (default 10s); pipe mode uses it to fail fast
	// with a temporary error.
	BusyTimeout time.Duration
	// MaxBatch and MaxBatchBytes bound one group-commit transaction: at
	// most MaxBatch Write calls (default 128), and no further call once
	// the batch's statements carried MaxBatchBytes of arguments (default
	// 32 MiB).
	MaxBatch      int
	MaxBatchBytes int64
	// BackgroundCheckpoint moves SQLite's WAL checkpoints off the writer
	// (checkpoint.go): for a long-running gateway, not for a short-lived
	// process.
	BackgroundCheckpoint bool
	// Trace, when set, is called with every statement and its arguments
	// before it runs (trace.go); for tests.
	Trace func(query string, args []any)
	// migrateBefore, when set, applies only the migrations whose names
	// sort before it: a database of an earlier version, for the tests of
	// a migration.
	migrateBefore string
}

// Open opens (creating if needed) the database at path and applies the
// pending migrations.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{d: sqliteDialect, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 10 * time.Second
	}
	rdb, err := openPool(dsn(path, false, busy), opts.Trace)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	rdb.SetMaxOpenConns(8)
	s.r = &conn{db: rdb, d: s.d}
	if s.w, err = openPool(dsn(path, true, busy), opts.Trace); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.commit = newCommitter(s, opts.MaxBatch, opts.MaxBatchBytes)
	if err := s.migrate(ctx, opts.migrateBefore); err != nil {
		s.Close()
		return nil, err
	}
	if opts.BackgroundCheckpoint {
		if err := s.startCheckpointer(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	return s, nil
}

// writerCacheKiB is the writer's page cache, as SQLite's cache_size
// takes it (negative: KiB): SQLite's default. A large mail's pages fill
// whatever the cache holds, and a 64 MiB cache added as much to the
// memory a 25 MB mail took; the index pages the ingestion path reads
// mostly stay in 2 MiB (BenchmarkIngestNewCase on a history of 100,000
// cases reads 1.5 pages per mail from the file system with it, 1.2 with
// 64 MiB, at the same CPU time).
const writerCacheKiB = -2048

// dsn builds the connection string; pragmas are per connection, so they
// live in the DSN and apply to every connection the pool opens.
func dsn(path string, writer bool, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	// Takes effect when the database is created (before the first table)
	// and for a copy VACUUM INTO writes; a no-op otherwise (space.go).
	q.Add("_pragma", "auto_vacuum(2)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	// 64 MiB of page cache per reader (SQLite's default is 2 MiB): the
	// indexes the ingestion path reads stay in memory instead of being
	// read back from the file on every lookup. The writer's cache is
	// smaller: every page a transaction writes passes through it, a large
	// mail's many pages too, and what it holds it keeps for the life of
	// the connection.
	cache := -65536
	if writer {
		cache = writerCacheKiB
		q.Set("_txlock", "immediate")
		// Each caller's work in a shared transaction runs in a savepoint
		// (commit.go), and the first change to a page within it copies
		// the page to the statement journal. That journal spilled to a
		// temporary file past 64 KiB, which a new case's 25 or so pages
		// passed: a write system call per page, 18 % of the CPU time of
		// a batch. In memory it holds one caller's pages at a time.
		q.Add("_pragma", "temp_store(2)")
	}
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", cache))
	return "file:" + path + "?" + q.Encode()
}

// Close runs the Write calls already queued, then closes both pools.
// Write fails with ErrClosed afterwards.
func (s *Store) Close() error {
	var err error
	s.stopCheckpointer()
	if s.commit != nil {
		s.commit.close()
	}
	if s.w != nil {
		err = s.w.Close()
	}
	if s.r != nil && s.r.db != s.w {
		err = errors.Join(err, s.r.db.Close())
	}
	return err
}

// Backend names the database the store runs on: BackendSQLite or
// BackendPostgres.
func (s *Store) Backend() string { return s.d.name }

// Now returns the store's clock reading.
func (s *Store) Now() time.Time { return s.now() }

// Tx is one write transaction. Its methods run SQL inside it.
type Tx struct {
	tx  *txConn
	Now time.Time
	// memo is what this caller's work already knows of rows it wrote,
	// so that it is not read back (memo.go). It is the caller's own:
	// forgotten before each function a shared transaction runs, since
	// an earlier one's work may have been rolled back to its savepoint.
	memo txMemo
	// after are this caller's AfterCommit functions.
	after []func()
}

// AfterCommit has f run once the caller's work is committed, by Write (or
// WriteBatch) in the caller's goroutine before it returns; never when the
// work is rolled back. It is for what must not happen for work that is
// not stored, and need not hold up the single writer: a log line, a wake
// up.
func (tx *Tx) AfterCommit(f func()) { tx.after = append(tx.after, f) }

// runAfter runs the AfterCommit functions of a committed caller.
func runAfter(fs []func()) {
	for _, f := range fs {
		f()
	}
}

// Write runs fn in a write transaction and returns once its work is
// committed (nil) or rolled back (fn's error, a *BatchError, or ctx's
// error when ctx ended before fn ran). Any error from fn, or a panic,
// rolls back fn's work alone; a panic is raised again in the caller.
// fn may run on another goroutine, in a transaction shared with other
// callers (commit.go): it must only use tx for the database.
func (s *Store) Write(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.commit == nil {
		return s.writeOwn(ctx, fn)
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	if err := s.commit.submit(req); err != nil {
		return err
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		if req.taken.CompareAndSwap(false, true) {
			return ctx.Err() // still queued: it will never run
		}
		<-req.done // running: its outcome is decided by the batch
	}
	if req.panic != nil {
		panic(req.panic)
	}
	if req.err == nil {
		runAfter(req.after)
	}
	return req.err
}

// WriteBatch runs fns as Write calls queued together, in order: they
// share a transaction (or a few, when they pass the batch bounds; on
// PostgreSQL each has its own, one after another) and a later function
// sees what an earlier one wrote. Each function's work is
// committed or rolled back on its own, as with Write; errs[i] is fns[i]'s
// outcome. A panic in a function is raised again here, after every
// function has finished.
func (s *Store) WriteBatch(ctx context.Context, fns []func(*Tx) error) []error {
	errs := make([]error, len(fns))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if s.commit == nil {
		return s.writeEach(ctx, fns, errs)
	}
	reqs := make([]*writeReq, len(fns))
	for i, fn := range fns {
		reqs[i] = &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	}
	if err := s.commit.submit(reqs...); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	var p any
	for i, r := range reqs {
		<-r.done
		errs[i] = r.err
		if r.panic != nil && p == nil {
			p = r.panic
		}
		if r.err == nil && r.panic == nil {
			runAfter(r.after)
		}
	}
	if p != nil {
		panic(p)
	}
	return errs
}

// Exec runs a statement outside the case model; for tests and
// maintenance only (fault injection, pragmas).
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.w.ExecContext(ctx, s.d.query(query), s.d.args(args)...)
	return err
}

// migrationsDir is the folder of the backend's migrations.
func (d dialect) migrationsDir() string {
	if d.name == BackendPostgres {
		return "migrations_pg"
	}
	return "migrations"
}

// schemaMigrations is the bookkeeping table of the migrations.
const schemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`

// migrate applies the pending migrations, those named before before only
// when before is set.
func (s *Store) migrate(ctx context.Context, before string) error {
	if s.d.name == BackendSQLite {
		if _, err := s.w.ExecContext(ctx, schemaMigrations); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	names, err := fs.Glob(migrations, s.d.migrationsDir()+"/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if before != "" && path.Base(name) >= before {
			break
		}
		if err := s.migrateOne(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

// migrateOne applies one migration file and records it, atomically.
func (s *Store) migrateOne(ctx context.Context, name string) error {
	base := path.Base(name)
	return s.Write(ctx, func(tx *Tx) error {
		if err := s.d.lockMigrations(ctx, tx.tx); err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
		var n int
		if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, base).Scan(&n); err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
		if n > 0 {
			return nil
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
		if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migrate %s: %w", base, err)
		}
		_, err = tx.tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, base, ms(tx.Now))
		return err
	})
}

// ms converts a time to the schema's Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts the schema's Unix milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullTime converts a nullable millisecond column.
func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.r.db.PingContext(ctx)
}
