package outbound_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
)

// A relay whose certificate a private CA signed is trusted with
// tls_ca_file and refused without it, with STARTTLS and with implicit TLS.
// Refused, every attempt fails temporarily, and that is logged at ERROR
// once, not per attempt.
func TestRelayWithPrivateCA(t *testing.T) {
	for _, mode := range []string{"starttls", "implicit"} {
		t.Run(mode, func(t *testing.T) {
			caPEM, serverTLS := gatewaytest.PrivateCA(t)
			caFile := filepath.Join(t.TempDir(), "ca.pem")
			if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
				t.Fatal(err)
			}
			relay := gatewaytest.StartRelayWith(t, gatewaytest.RelayOptions{TLS: serverTLS, Implicit: mode == "implicit"})
			e := newEnv(t)
			ids := e.queue(t, "dave@customer.example", 1)
			ids = append(ids, e.queue(t, "erin@customer.example", 1)...)

			without := relayTLS(t, relay, mode, "", e)
			p := e.pool(t, outbound.Config{Concurrency: 1}, without, nil)
			if n, err := p.SendDue(context.Background()); err != nil || n != 3 {
				t.Fatalf("send due: %d, %v", n, err)
			}
			for _, id := range ids {
				m := e.outbox(t, id)
				if m.Status != store.OutboxPending || !strings.Contains(m.LastError, "certificate") {
					t.Fatalf("without the CA: %s, %q; want pending after a certificate error", m.Status, m.LastError)
				}
			}
			if n := strings.Count(e.logs.String(), "relay TLS fails"); n != 1 {
				t.Fatalf("TLS failure logged %d times for 3 attempts, want once:\n%s", n, e.logs)
			}
			if !strings.Contains(e.logs.String(), `level=ERROR msg="relay TLS fails`) {
				t.Fatalf("TLS failure not logged at ERROR:\n%s", e.logs)
			}
			if len(relay.Mails()) != 0 {
				t.Fatal("the relay got mail over an untrusted connection")
			}

			with := relayTLS(t, relay, mode, caFile, e)
			fresh := e.queue(t, "frank@customer.example", 1)[0]
			p = e.pool(t, outbound.Config{Concurrency: 1}, with, nil)
			if n, err := p.SendDue(context.Background()); err != nil || n != 1 {
				t.Fatalf("send due with the CA: %d, %v", n, err)
			}
			if m := e.outbox(t, fresh); m.Status != store.OutboxSent {
				t.Fatalf("with the CA: %s, %q", m.Status, m.LastError)
			}
			if got := relay.Mails(); len(got) != 1 || got[0].To[0] != "frank@customer.example" {
				t.Fatalf("relay got %d mails", len(got))
			}
		})
	}
}

// A relay that does not offer STARTTLS is refused in starttls mode, and
// that too is a TLS failure logged once.
func TestRelayWithoutSTARTTLS(t *testing.T) {
	relay := gatewaytest.StartRelay(t)
	e := newEnv(t)
	e.queue(t, "dave@customer.example", 2)
	p := e.pool(t, outbound.Config{Concurrency: 1}, relayTLS(t, relay, "starttls", "", e), nil)
	if n, err := p.SendDue(context.Background()); err != nil || n != 2 {
		t.Fatalf("send due: %d, %v", n, err) // the confirmation and dave's first
	}
	if n := strings.Count(e.logs.String(), `level=ERROR msg="relay TLS fails`); n != 1 {
		t.Fatalf("TLS failure logged %d times at ERROR, want once:\n%s", n, e.logs)
	}
	if len(relay.Mails()) != 0 {
		t.Fatal("mail went without TLS")
	}
}

func relayTLS(t *testing.T, relay *gatewaytest.Relay, mode, caFile string, e *env) *outbound.RelaySender {
	t.Helper()
	s, err := outbound.NewRelaySender(outbound.RelayConfig{Address: relay.Addr, TLS: mode, CAFile: caFile,
		HELO: "support.test", Timeout: 5 * time.Second, Log: newLogger(e)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A CA file with no certificate in it is refused at start.
func TestRelayCAFileWithoutCertificate(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := outbound.NewRelaySender(outbound.RelayConfig{Address: "127.0.0.1:25", TLS: "starttls", CAFile: f}); err == nil {
		t.Fatal("a CA file without a certificate was accepted")
	}
	if _, err := outbound.NewRelaySender(outbound.RelayConfig{Address: "127.0.0.1:25", TLS: "starttls",
		CAFile: f + ".missing"}); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}
