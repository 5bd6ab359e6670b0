package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A backup taken while another goroutine keeps writing is one consistent
// snapshot that opens as a database of its own; an existing file is never
// overwritten.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := Open(ctx, filepath.Join(dir, "casegate.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	addContact := func(i int) {
		t.Helper()
		if err := st.Write(ctx, func(tx *Tx) error {
			_, err := tx.UpsertContact(ctx, fmt.Sprintf("c%d@customer.example", i), "", "")
			return err
		}); err != nil {
			t.Error(err)
		}
	}
	for i := 0; i < 100; i++ {
		addContact(i)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 100; ; i++ {
			select {
			case <-stop:
				return
			default:
				addContact(i)
			}
		}
	}()
	backup := filepath.Join(dir, "backup.db")
	err = st.Backup(ctx, backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}

	copy, err := Open(ctx, backup, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer copy.Close()
	var inCopy, inLive int
	if err := copy.r.QueryRowContext(ctx, `SELECT count(*) FROM contacts`).Scan(&inCopy); err != nil {
		t.Fatal(err)
	}
	if err := st.r.QueryRowContext(ctx, `SELECT count(*) FROM contacts`).Scan(&inLive); err != nil {
		t.Fatal(err)
	}
	if inCopy < 100 || inCopy > inLive {
		t.Fatalf("backup holds %d contacts; at least 100 and at most the %d of the live database", inCopy, inLive)
	}
	// Consistent: the contacts are exactly c0 … c(n-1), a prefix of the writes.
	var maxID, n int
	if err := copy.r.QueryRowContext(ctx, `SELECT max(id), count(*) FROM contacts`).Scan(&maxID, &n); err != nil {
		t.Fatal(err)
	}
	if maxID != n {
		t.Fatalf("backup has %d contacts up to id %d: not one snapshot", n, maxID)
	}

	if err := st.Backup(ctx, backup); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
