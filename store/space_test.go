package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// A database created before incremental auto-vacuum keeps auto_vacuum
// none: Reclaim frees nothing (its free pages are reused). A backup of it
// comes out with incremental auto-vacuum, so restoring one switches it on
// — the way the manual gives.
func TestOldDatabaseSwitchesByBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE leftover (x BLOB)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO leftover VALUES (zeroblob(1000000))`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Exec(ctx, `DROP TABLE leftover`); err != nil {
		t.Fatal(err)
	}
	sp, err := st.Space(ctx)
	if err != nil || sp.AutoVacuum != "none" || sp.FreePages == 0 {
		t.Fatalf("old database: %+v, %v", sp, err)
	}
	if n, err := st.Reclaim(ctx); err != nil || n != 0 {
		t.Fatalf("reclaim on auto_vacuum none: %d, %v", n, err)
	}
	copyPath := filepath.Join(dir, "copy.db")
	if err := st.Backup(ctx, copyPath); err != nil {
		t.Fatal(err)
	}
	restored, err := Open(ctx, copyPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if sp, err := restored.Space(ctx); err != nil || sp.AutoVacuum != "incremental" || sp.FreePages != 0 {
		t.Fatalf("the backup: %+v, %v", sp, err)
	}
}
