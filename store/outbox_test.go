package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// populateOutbox writes cases and mail in every status, so the planner
// has statistics-free but non-trivial tables to plan against.
func populateOutbox(t *testing.T, st *Store, cases, perCase int) []Case {
	t.Helper()
	ctx := context.Background()
	var out []Case
	for i := 0; i < cases; i++ {
		c := newCase(t, st, fmt.Sprintf("c%d@x.example", i))
		out = append(out, c)
		err := st.Write(ctx, func(tx *Tx) error {
			for j := 0; j < perCase; j++ {
				if _, err := tx.Enqueue(ctx, OutboxMail{CaseID: c.ID, Template: "case_comment",
					Recipient: fmt.Sprintf("r%d@x.example", j%3), MessageID: fmt.Sprintf("p%d.%d@h", i, j)}, time.Hour); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Every query of the outbox path is answered from an index: EXPLAIN QUERY
// PLAN shows no full scan of a table.
func TestOutboxQueriesUseIndexes(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	populateOutbox(t, st, 20, 10)
	checkPlans(t, st)
	// With statistics, as after an operator's ANALYZE, the plans hold too.
	if _, err := st.w.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	checkPlans(t, st)
}

func checkPlans(t *testing.T, st *Store) {
	t.Helper()
	ctx := context.Background()
	queries := map[string][]any{
		dueMailSQL(0):      {1, 10},
		dueMailSQL(3):      {1, 1, 2, 3, 10},
		nextDueSQL(0):      {1},
		nextDueSQL(2):      {1, 1, 2},
		startAttemptSQL:    {1},
		insertAttemptSQL:   {1, 1},
		finishAttemptSQL:   {1, "sent", "", 1},
		finishOutboxSQL:    {"sent", "", 1, 1, 1, 1},
		releaseOwnSQL:      {"i"},
		markInterruptedSQL: {"i", 1},
		// Claims (claim.go).
		sqliteDialect.claimSQL(0): {1, 10},
		sqliteDialect.claimSQL(2): {1, 1, 2, 10},
		claimRowSQL:               {"i", 1, 1},
		claimAttemptSQL:           {1, 1, "i"},
		takeOverSQL:               {1, "", 1},
		acquireMailboxSQL:         {"box", "i", 2, 1},
		// SentSince, the circuit breaker's count, read once per batch.
		`SELECT count(*) FROM outbox_attempts WHERE started_at >= ? AND result = 'sent'`: {1},
	}
	for q, args := range queries {
		rows, err := st.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		for _, d := range plan {
			if strings.HasPrefix(d, "SCAN ") && !strings.Contains(d, "USING INDEX") && !strings.Contains(d, "USING COVERING INDEX") {
				t.Errorf("full scan in %s:\n  %s", q, strings.Join(plan, "\n  "))
				break
			}
		}
	}
}

func enqueue(t *testing.T, st *Store, caseID int64, rcpt, msgID string) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	err := st.Write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.Enqueue(ctx, OutboxMail{CaseID: caseID, Template: "case_comment", Recipient: rcpt, MessageID: msgID}, time.Hour)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func dueIDs(t *testing.T, st *Store, exclude ...int64) []int64 {
	t.Helper()
	due, err := st.DueMail(context.Background(), 100, exclude...)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, m := range due {
		ids = append(ids, m.ID)
	}
	return ids
}

// A case's mails to one recipient are due one at a time, oldest first: a
// row waits while an older one of the same case and recipient is pending,
// whether that one is being sent or waiting for its retry; mail to other
// recipients or of other cases does not wait.
func TestDueMailOneAtATimePerCaseAndRecipient(t *testing.T) {
	eachBackend(t, testDueMailOneAtATimePerCaseAndRecipient)
}

func testDueMailOneAtATimePerCaseAndRecipient(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c1, c2 := newCase(t, st, "a@x.example"), newCase(t, st, "b@x.example")
	a1 := enqueue(t, st, c1.ID, "a@x.example", "a1@h")
	a2 := enqueue(t, st, c1.ID, "A@x.example", "a2@h") // the same address
	b1 := enqueue(t, st, c1.ID, "b@x.example", "b1@h")
	a3 := enqueue(t, st, c1.ID, "a@x.example", "a3@h")
	o1 := enqueue(t, st, c2.ID, "a@x.example", "o1@h")
	check := func(got []int64, want ...int64) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("due %v, want %v", got, want)
		}
	}
	check(dueIDs(t, st), a1, b1, o1)
	check(dueIDs(t, st, a1, o1), b1) // a1 in flight holds a2 and a3 back
	if _, ok, err := st.NextDue(ctx, a1, b1, o1); ok || err != nil {
		t.Fatalf("next due with every head in flight: %v %v", ok, err)
	}
	at, err := st.StartAttempts(ctx, []int64{a1, b1})
	if err != nil || len(at) != 2 {
		t.Fatalf("start attempts: %v %v", at, err)
	}
	retry := st.Now().Add(10 * time.Minute)
	err = st.FinishAttempts(ctx, []AttemptOutcome{
		{Outbox: a1, Attempt: at[0], AttemptResult: AttemptResult{Result: AttemptTemporary, Error: "421", Next: retry}},
		{Outbox: b1, Attempt: at[1], AttemptResult: AttemptResult{Result: AttemptSent}},
	})
	if err != nil {
		t.Fatal(err)
	}
	check(dueIDs(t, st), o1) // a1 waits for its retry, and a2, a3 behind it
	if next, ok, _ := st.NextDue(ctx, o1); !ok || !next.Equal(retry) {
		t.Fatalf("next due %v %v, want a1's retry at %v", next, ok, retry)
	}
	at, _ = st.StartAttempts(ctx, []int64{a1})
	if err := st.FinishAttempts(ctx, []AttemptOutcome{{Outbox: a1, Attempt: at[0],
		AttemptResult: AttemptResult{Result: AttemptPermanent, Error: "550"}}}); err != nil {
		t.Fatal(err)
	}
	check(dueIDs(t, st), a2, o1) // a dead letter holds nothing back
	for _, id := range []int64{a1, a2, b1, a3} {
		m, _ := st.OutboxByID(ctx, id)
		want := map[int64]int{a1: 2, b1: 1}[id]
		if m.Attempts != want {
			t.Errorf("row %d: %d attempts, want %d", id, m.Attempts, want)
		}
	}
}

// StartAttempts and FinishAttempts record a batch in one transaction: a
// batch with a failing row records nothing of the others.
func TestAttemptBatchesAreAtomic(t *testing.T) { eachBackend(t, testAttemptBatchesAreAtomic) }

func testAttemptBatchesAreAtomic(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "a@x.example")
	ids := []int64{enqueue(t, st, c.ID, "a@x.example", "1@h"), enqueue(t, st, c.ID, "b@x.example", "2@h")}
	if _, err := st.StartAttempts(ctx, append(ids, 999)); err == nil {
		t.Fatal("attempt of a row that does not exist was recorded")
	}
	for _, id := range ids {
		if a, _ := st.Attempts(ctx, id); len(a) != 0 {
			t.Fatalf("row %d has %d attempts after the failed batch", id, len(a))
		}
	}
	at, err := st.StartAttempts(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.FinishAttempts(cctx, []AttemptOutcome{{Outbox: ids[0], Attempt: at[0], AttemptResult: AttemptResult{Result: AttemptSent}}}); err == nil {
		t.Fatal("finish with a cancelled context succeeded")
	}
	err = st.FinishAttempts(ctx, []AttemptOutcome{
		{Outbox: ids[0], Attempt: at[0], AttemptResult: AttemptResult{Result: AttemptSent}},
		{Outbox: ids[1], Attempt: at[1], AttemptResult: AttemptResult{Result: AttemptInterrupted, Next: st.Now()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m0, _ := st.OutboxByID(ctx, ids[0])
	m1, _ := st.OutboxByID(ctx, ids[1])
	a1, _ := st.Attempts(ctx, ids[1])
	if m0.Status != OutboxSent || m1.Status != OutboxPending || len(a1) != 1 || a1[0].Result != AttemptInterrupted {
		t.Fatalf("after the batch: %s, %s, %+v", m0.Status, m1.Status, a1)
	}
}
