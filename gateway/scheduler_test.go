package gateway

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// openGatewayAt opens a gateway on the database at loc (testDatabase) with
// clock now, as a restarted process would.
func openGatewayAt(t *testing.T, loc string, now func() time.Time) (*Gateway, *store.Store) {
	t.Helper()
	st := openStoreAt(t, loc, store.Options{Now: now})
	tpl, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{
		Hostname: "support.test", From: "support@support.test", Survey: true, AutoCloseAfter: 7 * 24 * time.Hour,
		Addresses: []Address{{Address: "support@support.test", Kind: "case"}}, Agents: []string{"@agents.test"},
	}, st, tpl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return g, st
}

func TestAutoCloseAcrossRestart(t *testing.T) {
	ctx := context.Background()
	path := testDatabase(t)
	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	g, st := openGatewayAt(t, path, func() time.Time { return start })
	c := openTestCase(t, g)
	if _, err := g.Transition(ctx, c.Number, store.StateResolved, "Fixed.", Actor{Email: agent}); err != nil {
		t.Fatal(err)
	}
	if n, err := g.AutoClose(ctx); err != nil || n != 0 {
		t.Fatalf("auto-close right after resolving: %d, %v", n, err)
	}
	st.Close()

	// The process restarts six days later: not yet due.
	g, st = openGatewayAt(t, path, func() time.Time { return start.Add(6 * 24 * time.Hour) })
	if n, err := g.AutoClose(ctx); err != nil || n != 0 {
		t.Fatalf("auto-close after 6 days: %d, %v", n, err)
	}
	st.Close()

	// And again after eight days: closed once, with notice and survey.
	g, st = openGatewayAt(t, path, func() time.Time { return start.Add(8 * 24 * time.Hour) })
	defer st.Close()
	ob := &outbox{t: t, st: st}
	ob.take()
	if n, err := g.AutoClose(ctx); err != nil || n != 1 {
		t.Fatalf("auto-close after 8 days: %d, %v", n, err)
	}
	if c, _ := st.CaseByNumber(ctx, c.Number); c.State != store.StateClosed {
		t.Fatalf("state %s", c.State)
	}
	ob.expect("auto-closed", map[string][]string{"case_closed": {contact, watcher}, "case_survey": {contact}})
	if n, _ := g.AutoClose(ctx); n != 0 {
		t.Fatalf("closed twice")
	}
}
