package gateway

import (
	"context"
	"fmt"
	"testing"
)

// One source (here one client address, whatever the From headers say)
// may cause at most its budget of notifications an hour; another source's
// confirmation still goes out. Behind our MX, the client its Received
// field names is the source, not the MX.
func TestBudgetPerSource(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	e.g.cfg.Protection.BudgetPerSource = 3
	newCase := func(client, from, id string, extra string) Result {
		return e.ingest(t, client, from, extra+fmt.Sprintf("From: <%s>\nTo: support@support.test\nSubject: Help %s\nMessage-ID: <%s@x.example>\n\nPlease help.\n", from, id, id))
	}
	for i := range 5 {
		newCase(outsideIP, fmt.Sprintf("user%d@forged%d.example", i, i), fmt.Sprintf("flood%d", i), "")
	}
	queued := func() (n int) {
		rows, err := e.st.ListOutbox(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	if n := queued(); n != 3 {
		t.Fatalf("one client's 5 mails queued %d notifications, want its budget of 3", n)
	}
	sup, err := e.st.Suppressions(ctx, 0)
	if err != nil || len(sup) != 2 || sup[0].Reason != SuppressBudgetSource {
		t.Fatalf("suppressions = %+v (%v), want 2 budget_source", sup, err)
	}
	// Another client's confirmation is not held.
	newCase(outsideIP2, "real@customer.example", "real", "")
	if n := queued(); n != 4 {
		t.Fatalf("another client's confirmation was held: %d queued", n)
	}
	// Through our MX, each original client is its own source.
	for i, client := range []string{"203.0.113.1", "203.0.113.2"} {
		newCase(mxRelay, "c@customer.example", fmt.Sprintf("mx%d", i), received(client))
	}
	if n := queued(); n != 6 {
		t.Fatalf("mails through our MX from two clients: %d queued, want 6", n)
	}
}
