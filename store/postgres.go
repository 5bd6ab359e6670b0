package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL. Several gateway instances share one database:
//
//   - Each Write is a transaction of its own (READ COMMITTED), committed
//     with synchronous_commit on whatever the server's default, so a
//     returned Write is as durable as on SQLite. WriteBatch runs its
//     functions one after another. There is no group commit: PostgreSQL
//     has many writers and groups the WAL flushes of concurrent commits
//     itself.
//   - A transaction that reads a case locks its row (dialect.lockCase):
//     two instances working on one case take turns, and the second one
//     decides on what the first committed.
//   - The duplicate keys of inbound mail (content hash, Message-ID) are
//     unique in the schema; InsertMessage turns a violation into
//     ErrDuplicate, which the caller answers as a duplicate after
//     rolling back.
//   - Case numbers come from an identity sequence: never handed out
//     twice, with a gap where a transaction rolled back.
//   - Migrations (migrations_pg/) run under a transaction-scoped advisory
//     lock, so instances started together apply each one once.

// migrationLockKey is the advisory lock the migrations take.
const migrationLockKey = 0x63617365676174 // "casegat"

// defaultPostgresConns bounds the pool of one instance.
const defaultPostgresConns = 16

// OpenPostgres connects to the PostgreSQL database at url (a postgres://
// URL or key=value connection string) and applies the pending
// migrations. BusyTimeout, when set, bounds how long connecting may take
// (default 5s); MaxBatch and MaxBatchBytes do not apply.
func OpenPostgres(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open store: database url: %w", redact(err))
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// 250 and exit 0 are promised after the commit is on disk: never
	// take the server's default for this.
	cfg.RuntimeParams["synchronous_commit"] = "on"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "casegate"
	}
	cfg.ConnectTimeout = opts.BusyTimeout
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(defaultPostgresConns)
	db.SetMaxIdleConns(defaultPostgresConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{d: postgresDialect, w: db, r: &conn{db: db, d: postgresDialect}, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.migrate(ctx, opts.migrateBefore); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// redact keeps a password out of a connection string parse error.
func redact(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("cannot parse the connection string")
	}
	return err
}

// writeOwn runs fn in a transaction of its own (PostgreSQL's Write).
func (s *Store) writeOwn(ctx context.Context, fn func(*Tx) error) error {
	s.ownTx.Add(1)
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return &BatchError{Err: fmt.Errorf("begin: %w", err)}
	}
	tx := &Tx{tx: &txConn{tx: sqlTx, d: s.d, own: true}, Now: s.now().UTC()}
	ferr, p := call(fn, tx)
	if p != nil || ferr != nil {
		sqlTx.Rollback()
		if p != nil {
			panic(p)
		}
		return ferr
	}
	if err := sqlTx.Commit(); err != nil {
		return &BatchError{Err: fmt.Errorf("commit: %w", err)}
	}
	runAfter(tx.after)
	return nil
}

// writeEach is PostgreSQL's WriteBatch: each function in a transaction
// of its own, in order; a panic is raised again after all have run.
func (s *Store) writeEach(ctx context.Context, fns []func(*Tx) error, errs []error) []error {
	var p any
	for i, fn := range fns {
		func() {
			defer func() {
				if v := recover(); v != nil {
					errs[i] = fmt.Errorf("panic: %v", v)
					if p == nil {
						p = v
					}
				}
			}()
			errs[i] = s.writeOwn(ctx, fn)
		}()
	}
	if p != nil {
		panic(p)
	}
	return errs
}

// lockMigrations makes the migrations of instances started together take
// turns (PostgreSQL): the lock is held until the migration's transaction
// ends, and the bookkeeping table is created under it.
func (d dialect) lockMigrations(ctx context.Context, q *txConn) error {
	if d.name != BackendPostgres {
		return nil
	}
	if _, err := q.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, int64(migrationLockKey)); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, schemaMigrations)
	return err
}

// isUniqueViolation reports whether err is a unique-key violation of one
// of the named keys: PostgreSQL's constraint or index name, or SQLite's
// "table.column".
func isUniqueViolation(err error, keys ...string) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if pe.Code != "23505" {
			return false
		}
		for _, k := range keys {
			if pe.ConstraintName == k {
				return true
			}
		}
		return false
	}
	msg := err.Error()
	if !strings.Contains(msg, "UNIQUE constraint failed") {
		return false
	}
	for _, k := range keys {
		if strings.Contains(msg, k) {
			return true
		}
	}
	return false
}
