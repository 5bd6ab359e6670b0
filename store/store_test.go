package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/casegate/casegate/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend is one database engine the store suite runs against.
type backend struct {
	name string
	// newDB makes a fresh empty database: a file path or a URL.
	newDB func(t testing.TB) string
}

// backends are the engines every store test runs on. PostgreSQL's tests
// skip where it is not installed (see pgtest.RequireEnv).
var backends = []backend{
	{BackendSQLite, func(t testing.TB) string { return filepath.Join(t.TempDir(), "test.db") }},
	{BackendPostgres, pgtest.Database},
}

// eachBackend runs fn as a subtest per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// openAt opens the store at loc (from newDB), closed when the test ends.
func (b backend) openAt(t testing.TB, loc string, opts Options) *Store {
	t.Helper()
	var st *Store
	var err error
	if b.name == BackendPostgres {
		st, err = OpenPostgres(context.Background(), loc, opts)
	} else {
		st, err = Open(context.Background(), loc, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// testClock is the fixed time of the store tests.
var testClock = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// open opens a store on a fresh database with the fixed clock.
func (b backend) open(t testing.TB) *Store {
	t.Helper()
	return b.openAt(t, b.newDB(t), Options{Now: func() time.Time { return testClock }})
}

// openTest opens a SQLite store (the group-commit tests).
func openTest(t *testing.T) *Store {
	t.Helper()
	return backends[0].open(t)
}

func newCase(t *testing.T, st *Store, email string) Case {
	t.Helper()
	ctx := context.Background()
	var c Case
	err := st.Write(ctx, func(tx *Tx) error {
		p, err := tx.UpsertContact(ctx, email, "", "")
		if err != nil {
			return err
		}
		c, err = tx.CreateCase(ctx, NewCase{Prefix: "CS", Kind: "case", ContactID: p.ID, Subject: "s"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMigrationsIdempotent(t *testing.T) { eachBackend(t, testMigrationsIdempotent) }

func testMigrationsIdempotent(t *testing.T, b backend) {
	loc := b.newDB(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		st := b.openAt(t, loc, Options{})
		var n int
		if err := st.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("open %d: no migration recorded", i)
		}
		st.Close()
	}
}

func TestCaseNumbersSequentialNeverReused(t *testing.T) { eachBackend(t, testCaseNumbers) }

func testCaseNumbers(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	if c := newCase(t, st, "a@x.example"); c.Number != "CS0000001" || c.State != StateNew {
		t.Fatalf("first case = %s %s", c.Number, c.State)
	}
	// A transaction that fails after creating a case leaves nothing behind.
	boom := errors.New("boom")
	err := st.Write(ctx, func(tx *Tx) error {
		p, _ := tx.UpsertContact(ctx, "b@x.example", "", "")
		if _, err := tx.CreateCase(ctx, NewCase{Prefix: "CS", Kind: "case", ContactID: p.ID}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := st.CaseByNumber(ctx, "CS0000002"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rolled back case visible: %v", err)
	}
	// SQLite numbers without gaps; PostgreSQL's sequence leaves one
	// where a transaction rolled back.
	c2 := newCase(t, st, "c@x.example")
	if want := "CS0000002"; c2.Number != want && (b.name == BackendSQLite || c2.Number <= want) {
		t.Fatalf("second committed case = %s", c2.Number)
	}
	// Even a deleted case's number is never handed out again.
	if err := st.Exec(ctx, `DELETE FROM cases WHERE id = ?`, c2.ID); err != nil {
		t.Fatal(err)
	}
	if c3 := newCase(t, st, "d@x.example"); c3.Number <= c2.Number || b.name == BackendSQLite && c3.Number != "CS0000003" {
		t.Fatalf("after delete of %s = %s", c2.Number, c3.Number)
	}
	// Cases created in one transaction take consecutive numbers.
	var two [2]Case
	err = st.Write(ctx, func(tx *Tx) error {
		for i := range two {
			p, err := tx.UpsertContact(ctx, fmt.Sprintf("e%d@x.example", i), "", "")
			if err != nil {
				return err
			}
			if two[i], err = tx.CreateCase(ctx, NewCase{Prefix: "CS", Kind: "case", ContactID: p.ID}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if two[1].ID != two[0].ID+1 || two[1].Number != FormatNumber("CS", two[1].ID) {
		t.Fatalf("two cases in one transaction: %s (id %d) and %s (id %d)", two[0].Number, two[0].ID, two[1].Number, two[1].ID)
	}
	for _, c := range two {
		if got, err := st.CaseByNumber(ctx, c.Number); err != nil || got.ID != c.ID {
			t.Fatalf("case %s: %v, id %d", c.Number, err, got.ID)
		}
	}
}

func TestThreadIDsAndRefs(t *testing.T) { eachBackend(t, testThreadIDsAndRefs) }

func testThreadIDsAndRefs(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "a@x.example")
	err := st.Write(ctx, func(tx *Tx) error {
		for _, id := range []string{"m1@x", "m2@x", "m3@x", "m4@x"} {
			if err := tx.AddThreadID(ctx, id, c.ID, "in"); err != nil {
				return err
			}
		}
		refs, err := tx.ThreadRefs(ctx, c.ID, 3)
		if err != nil {
			return err
		}
		if len(refs) != 3 || refs[0] != "m1@x" || refs[1] != "m3@x" || refs[2] != "m4@x" {
			t.Errorf("refs = %v, want first and two latest", refs)
		}
		got, id, err := tx.CaseByThreadIDs(ctx, []string{"unknown@x", "m2@x"})
		if err != nil || got.Number != c.Number || id != "m2@x" {
			t.Errorf("lookup = %v %q %v", got.Number, id, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOutboxAttempts(t *testing.T) { eachBackend(t, testOutboxAttempts) }

func testOutboxAttempts(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "a@x.example")
	var id int64
	err := st.Write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.Enqueue(ctx, OutboxMail{CaseID: c.ID, Template: "case_created", Recipient: "a@x.example", MessageID: "o1@h"}, time.Hour)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	due, err := st.DueMail(ctx, 10)
	if err != nil || len(due) != 1 || due[0].CaseNumber != c.Number {
		t.Fatalf("due = %+v, %v", due, err)
	}
	a, err := st.StartAttempt(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	next := st.Now().Add(5 * time.Minute)
	if err := st.FinishAttempt(ctx, id, a, AttemptResult{Result: AttemptTemporary, Error: "421", Next: next}); err != nil {
		t.Fatal(err)
	}
	if due, _ := st.DueMail(ctx, 10); len(due) != 0 {
		t.Fatalf("retry due too early: %+v", due)
	}
	m, err := st.OutboxByID(ctx, id)
	if err != nil || m.Status != OutboxPending || m.Attempts != 1 || !m.NextAttemptAt.Equal(next) {
		t.Fatalf("after temporary failure: %+v %v", m, err)
	}
	a, _ = st.StartAttempt(ctx, id)
	if err := st.FinishAttempt(ctx, id, a, AttemptResult{Result: AttemptPermanent, Error: "550"}); err != nil {
		t.Fatal(err)
	}
	if dead, _ := st.ListOutbox(ctx, OutboxDead, 0); len(dead) != 1 || dead[0].MessageID != "o1@h" {
		t.Fatalf("dead = %+v", dead)
	}
	if err := st.RetryOutbox(ctx, id, time.Hour); err != nil {
		t.Fatal(err)
	}
	if due, _ := st.DueMail(ctx, 10); len(due) != 1 || due[0].MessageID != "o1@h" {
		t.Fatalf("retried mail not due with same Message-ID: %+v", due)
	}
	if err := st.RetryOutbox(ctx, id, time.Hour); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retry of a pending mail: %v", err)
	}
}

func TestMarkInterrupted(t *testing.T) { eachBackend(t, testMarkInterrupted) }

func testMarkInterrupted(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "a@x.example")
	var id int64
	err := st.Write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.Enqueue(ctx, OutboxMail{CaseID: c.ID, Template: "case_created", Recipient: "a@x.example", MessageID: "i1@h"}, time.Hour)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.StartAttempt(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n, err := st.MarkInterrupted(ctx, "i1"); err != nil || n != 1 {
		t.Fatalf("marked %d, %v", n, err)
	}
	if n, _ := st.MarkInterrupted(ctx, "i1"); n != 0 {
		t.Fatalf("marked again: %d", n)
	}
	if due, _ := st.DueMail(ctx, 10); len(due) != 1 || due[0].MessageID != "i1@h" {
		t.Fatalf("interrupted mail is not due again with its Message-ID: %+v", due)
	}
}
