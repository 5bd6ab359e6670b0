package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

func TestClassifyStorageFull(t *testing.T) {
	// A real SQLITE_FULL: the database may not grow past its page limit.
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var pages int
	if err := st.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if err := st.Exec(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+1)); err != nil {
		t.Fatal(err)
	}
	sqliteFull := st.Write(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `CREATE TABLE filler (b BLOB); INSERT INTO filler VALUES (zeroblob(1000000))`)
		return err
	})
	if sqliteFull == nil {
		t.Fatal("the write past max_page_count succeeded")
	}
	inner := errors.New("boom")
	for _, c := range []struct {
		name string
		err  error
		full bool
	}{
		{"sqlite full", sqliteFull, true},
		{"enospc", fmt.Errorf("write maildir: %w", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}), true},
		{"edquot", fmt.Errorf("open: %w", syscall.EDQUOT), true},
		{"other", fmt.Errorf("insert: %w", inner), false},
		{"not found", ErrNotFound, false},
		{"nil", nil, false},
	} {
		got := Classify(c.err)
		if errors.Is(got, ErrStorageFull) != c.full {
			t.Errorf("%s: Classify(%v) full = %v, want %v", c.name, c.err, !c.full, c.full)
		}
		if c.err != nil && !errors.Is(got, c.err) {
			t.Errorf("%s: the classified error lost the original", c.name)
		}
		if Classify(got) != got {
			t.Errorf("%s: classifying twice wraps twice", c.name)
		}
	}
}
