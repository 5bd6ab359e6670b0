package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// newTestGateway builds a gateway on a fresh database with a controlled clock.
func newTestGateway(t testing.TB) (*Gateway, *store.Store) {
	t.Helper()
	st := openTestStore(t, store.Options{Now: func() time.Time { return testTime }})
	return newTestGatewayOn(t, st), st
}

// testTime is the test gateways' clock reading.
var testTime = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// newTestGatewayAt is newTestGateway on the SQLite database at path.
func newTestGatewayAt(t testing.TB, path string) (*Gateway, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), path, store.Options{Now: func() time.Time { return testTime }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newTestGatewayOn(t, st), st
}

// newTestGatewayOn builds a gateway on st, as another instance sharing
// the database would.
func newTestGatewayOn(t testing.TB, st *store.Store) *Gateway {
	t.Helper()
	tpl, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{
		Hostname: "support.test", CasePrefix: "CS", From: "Support <support@support.test>",
		Addresses: []Address{{Address: "support@support.test", Kind: "case"}, {Address: "orders@support.test", Kind: "order"}},
		Agents:    []string{"@agents.test"}, UnknownSender: "new_case", MaxMessageBytes: 1 << 20,
	}, st, tpl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := g.Panics(); n != 0 {
			t.Errorf("%d panics recovered", n)
		}
	})
	return g
}

// startSMTP serves g's SMTP listener on 127.0.0.1:0.
func startSMTP(t *testing.T, g *Gateway, cfg SMTPConfig) string {
	t.Helper()
	s := g.NewSMTPServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// smtpSend sends one message and returns the SMTP error of the first
// refused step.
func smtpSend(t *testing.T, addr, from string, to []string, raw string) error {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	return c.SendMail(from, to, strings.NewReader(raw))
}

func smtpCode(t *testing.T, err error) (int, smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("want an SMTP error, got %v", err)
	}
	return se.Code, se.EnhancedCode
}

const simpleMail = `From: Carol <carol@customer.example>
To: support@support.test
Cc: dave@customer.example
Subject: VPN drops every hour
Message-ID: <vpn.1@customer.example>

The VPN disconnects every hour on the hour.
`

func countRows(t *testing.T, st *store.Store) (cases, msgs, outbox int) {
	t.Helper()
	ctx := context.Background()
	cs, err := st.ListCases(ctx, store.CaseFilter{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.CountMessages(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ob, err := st.ListOutbox(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return len(cs), n, len(ob)
}

func TestSMTPFailingStoreAnswers451AndLeavesNothing(t *testing.T) {
	g, st := newTestGateway(t)
	addr := startSMTP(t, g, SMTPConfig{MaxMessageBytes: 1 << 20})
	ctx := context.Background()
	// The store fails in the middle of the transaction: after the case,
	// the message and the watcher were written, at the outbox row.
	failOutbox, dropTrigger := `CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
		`DROP TRIGGER fail_outbox`
	if st.Backend() == store.BackendPostgres {
		failOutbox = `CREATE FUNCTION fail_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
			CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION fail_outbox()`
		dropTrigger = `DROP TRIGGER fail_outbox ON outbox`
	}
	if err := st.Exec(ctx, failOutbox); err != nil {
		t.Fatal(err)
	}
	err := smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"}, simpleMail)
	if code, enh := smtpCode(t, err); code != 451 || enh != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("answer %d %v, want 451 4.3.0", code, enh)
	}
	if strings.Contains(err.Error(), "injected") {
		t.Errorf("the client saw the internal error: %v", err)
	}
	if c, m, o := countRows(t, st); c != 0 || m != 0 || o != 0 {
		t.Fatalf("half-written: %d cases, %d messages, %d outbox rows", c, m, o)
	}
	// The sender retries once the store works again: one case, no gap.
	if err := st.Exec(ctx, dropTrigger); err != nil {
		t.Fatal(err)
	}
	if err := smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"}, simpleMail); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if c, m, o := countRows(t, st); c != 1 || m != 1 || o != 2 {
		t.Fatalf("after retry: %d cases, %d messages, %d outbox rows; want 1, 1, 2", c, m, o)
	}
	// SQLite numbers without a gap; PostgreSQL's sequence keeps the
	// number the failed transaction took.
	if _, err := st.CaseByNumber(ctx, "CS0000001"); err != nil && st.Backend() == store.BackendSQLite {
		t.Fatalf("retried mail is not CS0000001: %v", err)
	}
}

func TestSMTPClosedStoreAnswers451(t *testing.T) {
	g, st := newTestGateway(t)
	addr := startSMTP(t, g, SMTPConfig{MaxMessageBytes: 1 << 20})
	st.Close()
	err := smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"}, simpleMail)
	if code, _ := smtpCode(t, err); code != 451 {
		t.Fatalf("answer %d, want 451", code)
	}
}

func TestSMTPRecipientsAndSize(t *testing.T) {
	g, st := newTestGateway(t)
	addr := startSMTP(t, g, SMTPConfig{MaxMessageBytes: 4096, MaxRecipients: 2})
	check := func(to []string, raw string, wantCode int, wantEnh smtp.EnhancedCode) {
		t.Helper()
		err := smtpSend(t, addr, "carol@customer.example", to, raw)
		if code, enh := smtpCode(t, err); code != wantCode || enh != wantEnh {
			t.Errorf("to %v: %d %v, want %d %v", to, code, enh, wantCode, wantEnh)
		}
	}
	check([]string{"someone@elsewhere.example"}, simpleMail, 550, smtp.EnhancedCode{5, 1, 1})
	check([]string{"support@support.test.evil.example"}, simpleMail, 550, smtp.EnhancedCode{5, 1, 1})
	check([]string{"support@support.test"}, simpleMail+strings.Repeat("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", 80), 552, smtp.EnhancedCode{5, 3, 4})
	check([]string{"support@support.test", "orders@support.test", "support+x@support.test"}, simpleMail, 452, smtp.EnhancedCode{4, 5, 3})
	if c, m, _ := countRows(t, st); c != 0 || m != 0 {
		t.Fatalf("refused mail stored: %d cases, %d messages", c, m)
	}
	// Plus-addressing and upper case reach the support address.
	if err := smtpSend(t, addr, "carol@customer.example", []string{"Support+Anything@Support.Test"}, simpleMail); err != nil {
		t.Fatalf("plus address refused: %v", err)
	}
}
