package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// envOptions change the gateway a test gets.
type envOptions struct {
	Protection gateway.Protection
	Survey     bool
	PublicURL  string
	Configure  func(*gateway.Config)
}

// env is a gateway on a fresh database with a clock the test moves, its
// HTTP side, a relay that fails on command and an outbound worker
// sending to it.
type env struct {
	g     *gateway.Gateway
	h     *Handler
	st    *store.Store
	clock *gatewaytest.Clock
	relay *gatewaytest.Relay
	out   *outbound.Pool
	logs  *gatewaytest.LogBuffer
}

func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	clock := gatewaytest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "db"), store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tpl, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	logs := &gatewaytest.LogBuffer{}
	var w io.Writer = logs
	log := slog.New(slog.NewTextHandler(w, nil))
	cfg := gateway.Config{
		Hostname: "support.test", CasePrefix: "CS", From: "Support <support@support.test>",
		Addresses: []gateway.Address{{Address: "support@support.test", Kind: "case"}, {Address: "orders@support.test", Kind: "order"}},
		Agents:    []string{"@agents.test"}, UnknownSender: "new_case", MaxMessageBytes: 1 << 20,
		Protection: opts.Protection, Survey: opts.Survey, PublicURL: opts.PublicURL,
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	g, err := gateway.New(cfg, st, tpl, log)
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
		Log: log, Panicked: box.NotePanic}, box, box, box, sender)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(g, Config{Tokens: []Token{{Name: "ops", Secret: "ops-token"}}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return &env{g: g, h: h, st: st, clock: clock, relay: relay, out: out, logs: logs}
}

func newOpsEnv(t *testing.T, prot gateway.Protection) *env {
	t.Helper()
	return newEnv(t, envOptions{Protection: prot})
}

// ingest stores raw (LF line ends are fine) as if received by SMTP.
func (e *env) ingest(t *testing.T, from string, to []string, raw string) gateway.Result {
	t.Helper()
	res, err := e.g.Ingest(context.Background(), []byte(raw), gateway.Envelope{Source: "smtp", From: from, To: to})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

// sendDue runs the worker once and returns how many rows it handled.
func (e *env) sendDue(t *testing.T) int {
	t.Helper()
	n, err := e.out.SendDue(context.Background())
	if err != nil {
		t.Fatalf("send due: %v", err)
	}
	return n
}

func mailFrom(n int) string {
	return fmt.Sprintf(`From: Carol <carol%d@customer.example>
To: support@support.test
Subject: Printer %d is offline
Message-ID: <printer.%d@customer.example>

It shows E42.
`, n, n, n)
}

func failAll(code int, enh smtp.EnhancedCode) func(string) *smtp.SMTPError {
	return func(string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: "injected"}
	}
}

func (e *env) outbox(t *testing.T, id int64) store.OutboxMail {
	t.Helper()
	m, err := e.st.OutboxByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
