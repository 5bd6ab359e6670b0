package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
)

// The outbound pool's keys are checked at start, naming the key.
func TestConfigOutboundPoolAndCAFile(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "relay-ca.pem")
	if err := os.WriteFile(ca, []byte("-"), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func(yaml string) (Config, error) {
		t.Helper()
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return loadConfig(p)
	}
	for _, tc := range []struct{ yaml, key string }{
		{"outbound:\n  concurrency: 0\n", "outbound.concurrency"},
		{"outbound:\n  concurrency: 1000\n", "outbound.concurrency"},
		{"outbound:\n  relay: relay.example:25\n  tls: none\n  tls_ca_file: relay-ca.pem\n", "outbound.tls_ca_file"},
		{"outbound:\n  tls_ca_file: relay-ca.pem\n", "outbound.tls_ca_file"}, // no relay
		{"outbound:\n  relay: relay.example:25\n  tls_ca_file: missing.pem\n", "outbound.tls_ca_file"},
	} {
		if _, err := load(tc.yaml); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: err = %v, want it to name %s", tc.yaml, err, tc.key)
		}
	}
	cfg, err := load("outbound:\n  relay: relay.example:25\n  tls_ca_file: relay-ca.pem\n")
	if err != nil || cfg.Outbound.TLSCAFile != ca || cfg.Outbound.Concurrency != 8 {
		t.Fatalf("ca file %q, concurrency %d, %v; want %s beside the config and the default 8",
			cfg.Outbound.TLSCAFile, cfg.Outbound.Concurrency, err, ca)
	}
}

// serve sends through a STARTTLS relay whose certificate a private CA
// signed, once outbound.tls_ca_file names that CA.
func TestServeRelayWithPrivateCA(t *testing.T) {
	caPEM, serverTLS := gatewaytest.PrivateCA(t)
	ca := filepath.Join(t.TempDir(), "relay-ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	relay := gatewaytest.StartRelayWith(t, gatewaytest.RelayOptions{TLS: serverTLS})
	m := startMain(t, nil, func(c *Config) {
		c.Outbound.Relay, c.Outbound.TLS, c.Outbound.TLSCAFile, c.Outbound.Concurrency = relay.Addr, "starttls", ca, 2
	})
	mustSend(t, m.SMTPAddr, "alice@customer.example", []string{"support@localhost"},
		"From: Alice <alice@customer.example>\nTo: support@localhost\nSubject: Scanner jams\nMessage-ID: <tls.1@customer.example>\n\nIt jams.\n")
	got := relay.Wait(t, 1, 30*time.Second)
	if got[0].To[0] != "alice@customer.example" || !strings.HasPrefix(got[0].Header.Get("Subject"), "[CS0000001]") {
		t.Fatalf("relay got %v %q", got[0].To, got[0].Header.Get("Subject"))
	}
}
