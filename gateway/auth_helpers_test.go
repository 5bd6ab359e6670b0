package gateway

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// authEnv is a gateway whose sender authentication asks a real DNS server
// on loopback, with keys the test publishes there.
type authEnv struct {
	g    *Gateway
	st   *store.Store
	dns  *gatewaytest.DNS
	keys map[string]crypto.Signer
}

const (
	mxRelay    = "192.0.2.25"    // our MX, a trusted relay
	outsideIP  = "198.51.100.7"  // a client on the internet
	outsideIP2 = "198.51.100.99" // another one
	authservID = "mx.support.test"
)

func newAuthEnv(t *testing.T) *authEnv {
	t.Helper()
	g, st := newTestGateway(t)
	d := gatewaytest.StartDNS(t)
	r, err := NewResolver(d.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	g.cfg.Auth = AuthConfig{Resolver: r, Timeout: 5 * time.Second, AuthservID: authservID,
		TrustedRelays: []netip.Prefix{netip.MustParsePrefix(mxRelay + "/32")}}
	return &authEnv{g: g, st: st, dns: d, keys: map[string]crypto.Signer{}}
}

// publishKey makes a signing key for domain and publishes it under
// selector "sel".
func (e *authEnv) publishKey(t *testing.T, domain string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DKIMRecord(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	e.keys[domain] = key
	e.dns.TXT("sel._domainkey."+domain, rec)
}

// crlf turns LF line ends into CRLF.
func crlf(raw string) string {
	return strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
}

// sign DKIM-signs raw with domain's published key.
func (e *authEnv) sign(t *testing.T, domain, raw string) string {
	t.Helper()
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(crlf(raw)), &dkim.SignOptions{
		Domain: domain, Selector: "sel", Signer: e.keys[domain],
		HeaderKeys: []string{"From", "To", "Subject", "Message-ID", "References", "In-Reply-To"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// ingest runs raw through ingestion as if received from client by SMTP.
func (e *authEnv) ingest(t *testing.T, client, envFrom, raw string) Result {
	t.Helper()
	res, err := e.g.Ingest(context.Background(), []byte(crlf(raw)), Envelope{
		Source: "smtp", From: envFrom, To: []string{"support@support.test"}, ClientIP: client, HELO: "client.example"})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

// caseOf reads a case by number.
func (e *authEnv) caseOf(t *testing.T, number string) store.Case {
	t.Helper()
	c, err := e.st.CaseByNumber(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// step finds the first trace step named name.
func step(res Result, name string) (Step, bool) {
	for _, s := range res.Trace {
		if s.Step == name {
			return s, true
		}
	}
	return Step{}, false
}

// hasStep reports whether the trace has a step named name whose result is
// result and whose detail contains detail.
func hasStep(res Result, name, result, detail string) bool {
	for _, s := range res.Trace {
		if s.Step == name && s.Result == result && strings.Contains(s.Detail, detail) {
			return true
		}
	}
	return false
}
