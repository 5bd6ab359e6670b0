package store

import (
	"errors"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrStorageFull marks an error that happened because the disk holding
// the database (or the user's quota on it) is full. It is temporary: once
// space is freed the same write succeeds, and nothing was committed.
var ErrStorageFull = errors.New("insufficient storage")

// Classify marks err with ErrStorageFull when it says the disk is full:
// SQLite's SQLITE_FULL, PostgreSQL's disk_full, or ENOSPC / EDQUOT from
// the file system. Any other
// error, and nil, is returned unchanged. The mark keeps the original:
// errors.Is finds ErrStorageFull and whatever err wrapped.
func Classify(err error) error {
	if err == nil || errors.Is(err, ErrStorageFull) || !diskFull(err) {
		return err
	}
	return &fullError{err: err}
}

func diskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" { // disk_full
		return true
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

type fullError struct{ err error }

func (e *fullError) Error() string   { return "insufficient storage: " + e.err.Error() }
func (e *fullError) Unwrap() []error { return []error{ErrStorageFull, e.err} }
