package store

import (
	"context"
	"errors"
	"fmt"
)

// SQLite only: the PRAGMAs that give the space freed by purges and
// erasures back to the file system. They are inherently SQLite's, so
// they live here, together; a PostgreSQL backend gives space back with
// its autovacuum and has nothing to do in Reclaim.
//
// A new database is created with auto_vacuum=INCREMENTAL (the pragma is in
// dsn and takes effect before the first table exists), so Reclaim's
// PRAGMA incremental_vacuum shrinks the file. A database created by an
// older casegate has auto_vacuum=NONE, and SQLite switches it only with a
// VACUUM, which rewrites the whole file under an exclusive lock — too
// long a stop for a mail gateway to take by itself. Its freed pages are
// still reused for new mail, so the file stops growing; to shrink it and
// switch incremental vacuum on, take a backup (VACUUM INTO writes the
// copy with the connection's auto_vacuum setting, INCREMENTAL) and
// restore it, as the manual says.

// reclaimStep is how many pages one step of Reclaim frees (8 MiB of 4 KiB
// pages): between steps, the single writer takes mail again.
const reclaimStep = 2048

// Space is the size of the database file as SQLite sees it.
type Space struct {
	Pages      int64  `json:"pages"`
	FreePages  int64  `json:"free_pages"` // on the freelist: reused for new data, or given back by Reclaim
	PageSize   int64  `json:"page_size"`
	AutoVacuum string `json:"auto_vacuum"` // none | full | incremental
}

// Space reads the database's page counts and its auto_vacuum mode; on
// PostgreSQL it answers errors.ErrUnsupported.
func (s *Store) Space(ctx context.Context) (Space, error) {
	var sp Space
	if s.d.name != BackendSQLite {
		return sp, fmt.Errorf("space: %w on %s", errors.ErrUnsupported, s.d.name)
	}
	var av int
	for _, p := range []struct {
		pragma string
		into   any
	}{{"page_count", &sp.Pages}, {"freelist_count", &sp.FreePages}, {"page_size", &sp.PageSize}, {"auto_vacuum", &av}} {
		if err := s.r.QueryRowContext(ctx, `PRAGMA `+p.pragma).Scan(p.into); err != nil {
			return sp, fmt.Errorf("space: %s: %w", p.pragma, err)
		}
	}
	sp.AutoVacuum = [...]string{"none", "full", "incremental"}[min(max(av, 0), 2)]
	return sp, nil
}

// Reclaim gives the database's free pages back to the file system, in
// steps of reclaimStep pages (PRAGMA incremental_vacuum), then lets the
// WAL checkpoint so the file shrinks; it reports how many pages it
// freed. On a database without incremental auto-vacuum, and on
// PostgreSQL, it frees nothing.
func (s *Store) Reclaim(ctx context.Context) (int64, error) {
	if s.d.name != BackendSQLite {
		return 0, nil
	}
	before, err := s.Space(ctx)
	if err != nil || before.AutoVacuum != "incremental" || before.FreePages == 0 {
		return 0, err
	}
	free := before.FreePages
	for free > 0 {
		if _, err := s.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, reclaimStep)); err != nil {
			return before.FreePages - free, fmt.Errorf("reclaim: %w", Classify(err))
		}
		sp, err := s.Space(ctx)
		if err != nil {
			return before.FreePages - free, err
		}
		if sp.FreePages >= free { // nothing more to free
			break
		}
		free = sp.FreePages
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		return before.FreePages - free, fmt.Errorf("reclaim: checkpoint: %w", err)
	}
	return before.FreePages - free, nil
}
