package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openBatchTest opens a store with a scratch table for the group-commit
// tests.
func openBatchTest(t *testing.T, opts Options) *Store {
	t.Helper()
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Exec(context.Background(), `CREATE TABLE scratch (k TEXT PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	return st
}

func insertScratch(ctx context.Context, k string) func(*Tx) error {
	return func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO scratch (k, v) VALUES (?, ?)`, k, []byte(k))
		return err
	}
}

func scratchKeys(t *testing.T, st *Store) map[string]bool {
	t.Helper()
	rows, err := st.r.QueryContext(context.Background(), `SELECT k FROM scratch`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[k] = true
	}
	return out
}

// holdCommitter occupies the committer with a Write that waits until the
// returned release is called, so that the writes queued meanwhile form
// one batch.
func holdCommitter(t *testing.T, st *Store) (release func()) {
	t.Helper()
	running, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- st.Write(context.Background(), func(tx *Tx) error {
			close(running)
			<-gate
			return nil
		})
	}()
	<-running
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// waitQueued waits until n writes are queued behind the one running.
func waitQueued(t *testing.T, st *Store, n int) {
	t.Helper()
	for i := 0; i < 5000; i++ {
		st.commit.mu.Lock()
		q := len(st.commit.queue)
		st.commit.mu.Unlock()
		if q >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d writes queued", n)
}

func TestGroupCommitOneFailingCallerAmongMany(t *testing.T) {
	st := openBatchTest(t, Options{})
	ctx := context.Background()
	release := holdCommitter(t, st)
	before := st.WriteStats()

	const n = 20
	boom := errors.New("boom")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprintf("k%02d", i)
			errs[i] = st.Write(ctx, func(tx *Tx) error {
				if err := insertScratch(ctx, k)(tx); err != nil {
					return err
				}
				if i == 7 {
					return boom // after writing: the savepoint must undo it
				}
				return nil
			})
		}()
	}
	waitQueued(t, st, n)
	release()
	wg.Wait()

	keys := scratchKeys(t, st)
	for i, err := range errs {
		k := fmt.Sprintf("k%02d", i)
		if i == 7 {
			if !errors.Is(err, boom) || keys[k] {
				t.Errorf("failing caller: err %v, row kept %v", err, keys[k])
			}
			continue
		}
		if err != nil || !keys[k] {
			t.Errorf("caller %d: err %v, row stored %v", i, err, keys[k])
		}
	}
	after := st.WriteStats()
	if b := after.Batches - before.Batches; b != 1 {
		t.Errorf("%d writes took %d transactions after the held one, want 1", n, b)
	}
}

func TestGroupCommitPanicStaysWithItsCaller(t *testing.T) {
	st := openBatchTest(t, Options{})
	ctx := context.Background()
	release := holdCommitter(t, st)
	var wg sync.WaitGroup
	var recovered any
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer func() { recovered = recover() }()
		_ = st.Write(ctx, func(tx *Tx) error {
			_ = insertScratch(ctx, "panicker")(tx)
			panic("bad input")
		})
	}()
	var okErr error
	go func() {
		defer wg.Done()
		okErr = st.Write(ctx, insertScratch(ctx, "fine"))
	}()
	waitQueued(t, st, 2)
	release()
	wg.Wait()
	keys := scratchKeys(t, st)
	if recovered != "bad input" || keys["panicker"] {
		t.Errorf("panic: recovered %v in the caller, row kept %v", recovered, keys["panicker"])
	}
	if okErr != nil || !keys["fine"] {
		t.Errorf("other caller: %v, stored %v", okErr, keys["fine"])
	}
}

func TestGroupCommitCommitFailureFailsEveryCaller(t *testing.T) {
	st := openBatchTest(t, Options{})
	ctx := context.Background()
	// A deferred foreign key is checked at COMMIT, not at the statement:
	// one caller's orphan row makes the shared COMMIT itself fail.
	if err := st.Exec(ctx, `CREATE TABLE parent (id INTEGER PRIMARY KEY);
		CREATE TABLE child (pid INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
	release := holdCommitter(t, st)
	const n = 5
	errs := make([]error, n)
	var after atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.Write(ctx, func(tx *Tx) error {
				tx.AfterCommit(func() { after.Add(1) })
				if i == 2 {
					_, err := tx.tx.ExecContext(ctx, `INSERT INTO child (pid) VALUES (42)`)
					return err
				}
				return insertScratch(ctx, fmt.Sprint("c", i))(tx)
			})
		}()
	}
	waitQueued(t, st, n)
	release()
	wg.Wait()
	for i, err := range errs {
		var be *BatchError
		if !errors.As(err, &be) || !strings.Contains(err.Error(), "commit") {
			t.Errorf("caller %d: err = %v, want a commit BatchError", i, err)
		}
	}
	if n := after.Load(); n != 0 {
		t.Errorf("%d AfterCommit functions ran for a failed commit", n)
	}
	if keys := scratchKeys(t, st); len(keys) != 0 {
		t.Errorf("rows stored by a failed commit: %v", keys)
	}
	// The writer connection is usable again afterwards.
	if err := st.Write(ctx, insertScratch(ctx, "after")); err != nil {
		t.Fatalf("write after a failed commit: %v", err)
	}
	if !scratchKeys(t, st)["after"] {
		t.Fatal("write after a failed commit not stored")
	}
}

func TestGroupCommitCancelWhileQueued(t *testing.T) {
	st := openBatchTest(t, Options{})
	ctx := context.Background()
	release := holdCommitter(t, st)

	cctx, cancel := context.WithCancel(ctx)
	ran := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	go func() {
		cancelled <- st.Write(cctx, func(tx *Tx) error {
			ran <- struct{}{}
			return insertScratch(ctx, "cancelled")(tx)
		})
	}()
	other := make(chan error, 1)
	waitQueued(t, st, 1)
	go func() { other <- st.Write(ctx, insertScratch(ctx, "other")) }()
	waitQueued(t, st, 2)
	cancel()
	// The cancelled caller hears of it while the committer is still busy.
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	release()
	if err := <-other; err != nil {
		t.Fatalf("other caller: %v", err)
	}
	select {
	case <-ran:
		t.Fatal("the cancelled caller's function ran")
	default:
	}
	if keys := scratchKeys(t, st); keys["cancelled"] || !keys["other"] {
		t.Fatalf("rows = %v", keys)
	}
}

func TestGroupCommitLoneWriterCommitsAtOnce(t *testing.T) {
	st := openBatchTest(t, Options{})
	ctx := context.Background()
	before := st.WriteStats()
	// With nobody else writing, each Write is its own transaction and
	// returns without waiting for company (there is no timer to wait
	// for: a lone caller that waited would never return here).
	for i := range 3 {
		if err := st.Write(ctx, insertScratch(ctx, fmt.Sprint("lone", i))); err != nil {
			t.Fatal(err)
		}
		if !scratchKeys(t, st)[fmt.Sprint("lone", i)] {
			t.Fatalf("write %d not visible to readers after Write returned", i)
		}
	}
	after := st.WriteStats()
	if after.Batches-before.Batches != 3 || after.Writes-before.Writes != 3 {
		t.Fatalf("3 lone writes: %+v -> %+v", before, after)
	}
}

func TestGroupCommitBoundedBatches(t *testing.T) {
	st := openBatchTest(t, Options{MaxBatch: 4, MaxBatchBytes: 10 << 10})
	ctx := context.Background()
	release := holdCommitter(t, st)
	before := st.WriteStats()
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			blob := make([]byte, 4<<10) // three of these pass 10 KiB
			errs[i] = st.Write(ctx, func(tx *Tx) error {
				_, err := tx.tx.ExecContext(ctx, `INSERT INTO scratch (k, v) VALUES (?, ?)`, fmt.Sprint("b", i), blob)
				return err
			})
		}()
	}
	waitQueued(t, st, n)
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if got := len(scratchKeys(t, st)); got != n {
		t.Fatalf("%d rows stored, want %d", got, n)
	}
	// Three 4 KiB writes fill a 10 KiB batch: 12 writes need 4 batches
	// (the count bound of 4 alone would allow 3).
	if b := st.WriteStats().Batches - before.Batches; b != 4 {
		t.Fatalf("%d batches, want 4", b)
	}
}

func TestGroupCommitClose(t *testing.T) {
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := st.Write(context.Background(), func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

func TestWriteBatchInOrderEachOnItsOwn(t *testing.T) {
	st := openBatchTest(t, Options{})
	ctx := context.Background()
	before := st.WriteStats()
	boom := errors.New("boom")
	var fns []func(*Tx) error
	for i := range 10 {
		fns = append(fns, func(tx *Tx) error {
			if i > 0 && i != 4 {
				// Each function sees what the earlier ones committed
				// (the failed fourth excepted).
				prev := i - 1
				if prev == 4 {
					prev = 3
				}
				var n int
				if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM scratch WHERE k = ?`, fmt.Sprint("w", prev)).Scan(&n); err != nil || n != 1 {
					return fmt.Errorf("function %d does not see w%d: %v", i, prev, err)
				}
			}
			if err := insertScratch(ctx, fmt.Sprint("w", i))(tx); err != nil {
				return err
			}
			if i == 4 {
				return boom
			}
			return nil
		})
	}
	errs := st.WriteBatch(ctx, fns)
	keys := scratchKeys(t, st)
	for i, err := range errs {
		if i == 4 {
			if !errors.Is(err, boom) || keys["w4"] {
				t.Errorf("failing function: %v, kept %v", err, keys["w4"])
			}
			continue
		}
		if err != nil || !keys[fmt.Sprint("w", i)] {
			t.Errorf("function %d: %v, stored %v", i, err, keys[fmt.Sprint("w", i)])
		}
	}
	if b := st.WriteStats().Batches - before.Batches; b != 1 {
		t.Errorf("a batch of 10 took %d transactions", b)
	}
}

// With background checkpoints the writer never checkpoints itself, and
// the log is still copied into the database and reused.
func TestBackgroundCheckpoint(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(context.Background(), filepath.Join(dir, "test.db"), Options{BackgroundCheckpoint: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var auto int
	if err := st.w.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("the writer's wal_autocheckpoint = %d, %v; want 0", auto, err)
	}
	if err := st.Exec(ctx, `CREATE TABLE scratch (k TEXT PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 64<<10)
	for i := range 200 { // about 3,200 pages of log: past SQLite's automatic threshold three times
		if err := st.Write(ctx, func(tx *Tx) error {
			_, err := tx.tx.ExecContext(ctx, `INSERT INTO scratch (k, v) VALUES (?, ?)`, fmt.Sprint(i), blob)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// In WAL mode only a checkpoint writes the database file: it grows to
	// hold the 12.5 MiB of rows although nobody but the background
	// checkpointer checkpoints.
	path := filepath.Join(dir, "test.db")
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 12<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file holds %d bytes: the log was not checkpointed", fi.Size())
		}
		time.Sleep(checkpointEvery)
	}
}
