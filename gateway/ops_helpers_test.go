package gateway

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// opsEnv is a gateway on a fresh database with a clock the test moves, a
// relay that fails on command and an outbound worker sending to it.
type opsEnv struct {
	g     *Gateway
	st    *store.Store
	clock *gatewaytest.Clock
	relay *gatewaytest.Relay
	out   *outbound.Pool
	logs  *gatewaytest.LogBuffer
	path  string // the database file
}

func newOpsEnv(t *testing.T, prot Protection) *opsEnv {
	t.Helper()
	clock := gatewaytest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	path := testDatabase(t)
	st := openStoreAt(t, path, store.Options{Now: clock.Now})
	t.Cleanup(func() { st.Close() })
	tpl, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	logs := &gatewaytest.LogBuffer{}
	var w io.Writer = logs
	g, err := New(Config{
		Hostname: "support.test", CasePrefix: "CS", From: "Support <support@support.test>",
		Addresses: []Address{{Address: "support@support.test", Kind: "case"}, {Address: "orders@support.test", Kind: "order"}},
		Agents:    []string{"@agents.test"}, UnknownSender: "new_case", MaxMessageBytes: 1 << 20,
		Protection: prot,
	}, st, tpl, slog.New(slog.NewTextHandler(w, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := g.Panics(); n != 0 {
			t.Errorf("%d panics recovered", n)
		}
	})
	relay := gatewaytest.StartRelay(t)
	sender, err := outbound.NewRelaySender(outbound.RelayConfig{Address: relay.Addr, TLS: "none", HELO: "support.test", Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	box := g.Outbox()
	out, err := outbound.New(outbound.Config{Retry: outbound.RetryPolicy{First: 5 * time.Minute, Max: time.Hour},
		Log: g.log, Panicked: box.NotePanic}, box, box, box, sender)
	if err != nil {
		t.Fatal(err)
	}
	return &opsEnv{g: g, st: st, clock: clock, relay: relay, out: out, logs: logs, path: path}
}

// ingest stores raw (LF line ends are fine) as if received by SMTP.
func (e *opsEnv) ingest(t *testing.T, from string, to []string, raw string) Result {
	t.Helper()
	res, err := e.g.Ingest(context.Background(), []byte(raw), Envelope{Source: "smtp", From: from, To: to})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

// sendDue runs the worker once and returns how many rows it handled.
func (e *opsEnv) sendDue(t *testing.T) int {
	t.Helper()
	n, err := e.out.SendDue(context.Background())
	if err != nil {
		t.Fatalf("send due: %v", err)
	}
	return n
}

func (e *opsEnv) outbox(t *testing.T, id int64) store.OutboxMail {
	t.Helper()
	m, err := e.st.OutboxByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *opsEnv) outboxAll(t *testing.T) []store.OutboxMail {
	t.Helper()
	rows, err := e.st.ListOutbox(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
