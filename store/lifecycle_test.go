package store

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// Cases due for auto-close are the resolved ones, oldest resolution
// first; a case resolved and then reopened, or closed, is not among them.
func TestDueForAutoClose(t *testing.T) { eachBackend(t, testDueForAutoClose) }

func testDueForAutoClose(t *testing.T, b backend) {
	ctx := context.Background()
	now := testClock
	st := b.openAt(t, b.newDB(t), Options{Now: func() time.Time { return now }})
	setState := func(c Case, states ...string) {
		t.Helper()
		for _, state := range states {
			if err := st.Write(ctx, func(tx *Tx) error { return tx.SetState(ctx, c.ID, state) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	fresh := newCase(t, st, "new@customer.example")
	first := newCase(t, st, "first@customer.example")
	second := newCase(t, st, "second@customer.example")
	reopened := newCase(t, st, "reopened@customer.example")
	closed := newCase(t, st, "closed@customer.example")
	setState(second, StateOpen, StateResolved) // resolved first, at testClock
	now = now.Add(time.Minute)
	setState(first, StateResolved)
	setState(reopened, StateResolved, StateOpen)
	setState(closed, StateResolved, StateClosed)
	now = now.Add(time.Minute)
	setState(fresh, StateAwaitingInfo, StateOnHold)

	for _, tc := range []struct {
		cutoff time.Time
		want   []string
	}{
		{testClock.Add(-time.Second), nil},
		{testClock, []string{second.Number}},
		{testClock.Add(time.Hour), []string{second.Number, first.Number}},
	} {
		got, err := st.DueForAutoClose(ctx, tc.cutoff, 10)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("due at %s: %v, want %v", tc.cutoff.Format(time.TimeOnly), got, tc.want)
		}
	}
	if got, err := st.DueForAutoClose(ctx, testClock.Add(time.Hour), 1); err != nil || !slices.Equal(got, []string{second.Number}) {
		t.Errorf("due, at most 1: %v %v, want [%s]", got, err, second.Number)
	}

	if b.name != BackendSQLite {
		return
	}
	// The index holds the two resolved cases alone (in an index b-tree
	// every cell is an entry, interior ones included).
	var entries int
	if err := st.r.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(ncell), 0) FROM dbstat WHERE name = 'cases_resolved'`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 2 {
		t.Errorf("cases_resolved holds %d entries, want 2 (the resolved cases)", entries)
	}
	// The look-up reads the partial index of resolved cases, in its order:
	// no scan, no sort.
	plan, err := st.QueryPlan(ctx, `SELECT number FROM cases WHERE state = 'resolved' AND resolved_at <= ?
		ORDER BY resolved_at, id LIMIT 100`, ms(testClock))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, p := range plan {
		steps = append(steps, p.Detail)
	}
	joined := strings.Join(steps, "; ")
	if !strings.Contains(joined, "USING INDEX cases_resolved") || strings.Contains(joined, "TEMP B-TREE") {
		t.Errorf("plan of the auto-close look-up: %s", joined)
	}
}
