package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database to path while the
// gateway keeps running: SQLite's VACUUM INTO reads one snapshot (a read
// transaction, so writers go on) into a fresh, compact file. The copy is
// written under a temporary name beside path, synced, checked with
// PRAGMA quick_check and only then renamed to path, so path is either a
// whole, checked backup or absent. An existing path is refused.
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.d.name != BackendSQLite {
		return errors.New("backup: the database is PostgreSQL; back it up with pg_dump or the server's own backups")
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("backup: %s exists; remove it or name another file", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("backup: %w", Classify(err))
	}
	tmpPath := tmp.Name()
	tmp.Close()
	os.Remove(tmpPath) // VACUUM INTO wants to create the file itself
	defer os.Remove(tmpPath)
	if _, err := s.r.ExecContext(ctx, `VACUUM INTO ?`, tmpPath); err != nil {
		return fmt.Errorf("backup: %w", Classify(err))
	}
	if err := checkCopy(ctx, tmpPath); err != nil {
		return err
	}
	if err := syncFile(tmpPath); err != nil {
		return fmt.Errorf("backup: %w", Classify(err))
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return syncFile(filepath.Dir(path))
}

// checkCopy opens the copy on its own and runs SQLite's quick check.
func checkCopy(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return fmt.Errorf("backup: check: %w", err)
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&result); err != nil {
		return fmt.Errorf("backup: check: %w", err)
	}
	if result != "ok" {
		return fmt.Errorf("backup: the copy fails its check: %s", result)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
