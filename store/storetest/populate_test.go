package storetest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/store"
)

// Populate fills every table it promises, twice in a row on the same
// store, and the cases it makes are readable through the store's API.
func TestPopulate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "db"), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for round := 1; round <= 2; round++ {
		if err := Populate(ctx, st, 1000, "CS", now); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	c, err := st.CaseByNumber(ctx, "CS0002000")
	if err != nil {
		t.Fatal(err)
	}
	// The second round's contacts are 501 to 1000, two cases each.
	if !strings.HasSuffix(c.Contact.Email, ".1000@prefill.example") || !c.CreatedAt.Before(now) {
		t.Errorf("last case: %+v", c)
	}
	msgs, err := st.CaseMessages(ctx, c.ID)
	if err != nil || len(msgs) != 2 {
		t.Errorf("messages of %s: %d %v", c.Number, len(msgs), err)
	}
	ws, err := st.Watchers(ctx, c.ID)
	if err != nil || len(ws) != 1 {
		t.Errorf("watchers of %s: %d %v", c.Number, len(ws), err)
	}
	b, err := st.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.ActiveCases[store.StateResolved] != 200 || b.ActiveCases[store.StateNew] != 200 ||
		b.OutboxPending != 20 || b.OutboxDead != 40 || b.Quarantined != 10 {
		t.Errorf("backlog %+v", b)
	}
	rows, err := st.ListOutbox(ctx, store.OutboxSent, 1)
	if err != nil || len(rows) != 1 || rows[0].SentAt == nil {
		t.Errorf("sent outbox rows: %+v %v", rows, err)
	}
}
