package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// trustWorld is the internet as the gateway's resolver sees it: a DNS
// server on loopback publishing the agents' and the customer's DKIM keys
// and DMARC policies.
type trustWorld struct {
	dns  *gatewaytest.DNS
	keys map[string]ed25519.PrivateKey
}

func newTrustWorld(t *testing.T) *trustWorld {
	t.Helper()
	w := &trustWorld{dns: gatewaytest.StartDNS(t), keys: map[string]ed25519.PrivateKey{}}
	for _, domain := range []string{"agents.example", "customer.example"} {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := gateway.DKIMRecord(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		w.keys[domain] = key
		w.dns.TXT("s1._domainkey."+domain, rec)
		w.dns.TXT("_dmarc."+domain, "v=DMARC1; p=reject")
	}
	return w
}

// sign DKIM-signs raw (LF line ends) as domain.
func (w *trustWorld) sign(t *testing.T, domain, raw string) string {
	t.Helper()
	var out bytes.Buffer
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	if err := dkim.Sign(&out, strings.NewReader(raw), &dkim.SignOptions{Domain: domain, Selector: "s1", Signer: w.keys[domain]}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// lastTrace is the decision trace of the latest stored message.
func lastTrace(t *testing.T, m *Main, number string) string {
	t.Helper()
	c, err := m.Store.CaseByNumber(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := m.Store.CaseMessages(context.Background(), c.ID)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("messages of %s: %v", number, err)
	}
	return msgs[len(msgs)-1].Decision
}

// Over SMTP against the real wiring, with the resolver pointed at the
// test DNS server: who a mail is from decides what it may do.
func TestEndToEndSenderAuthentication(t *testing.T) {
	ctx := context.Background()
	w := newTrustWorld(t)
	m := startMain(t, nil, func(c *Config) { c.Auth.Resolver = w.dns.Addr })
	send := func(envFrom, raw string) { mustSend(t, m.SMTPAddr, envFrom, []string{"support@localhost"}, raw) }
	state := func() store.Case {
		c, err := m.Store.CaseByNumber(ctx, "CS0000001")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	send("carol@customer.example", w.sign(t, "customer.example",
		"From: Carol <carol@customer.example>\nTo: support@localhost\nSubject: VPN\nMessage-ID: <o1@customer.example>\n\nIt drops.\n"))
	if tr := lastTrace(t, m, "CS0000001"); !strings.Contains(tr, `"step":"auth","result":"pass"`) {
		t.Fatalf("signed opening mail: %s", tr)
	}

	agentMail := "From: Grace <grace@agents.example>\nTo: support@localhost\nSubject: Re: [CS0000001] VPN\nMessage-ID: <%s@agents.example>\n\n#assign me\n#state resolved\nReplaced the client.\n"
	// A spoofed agent: agent From, foreign envelope, no signature.
	send("mallory@evil.example", strings.Replace(agentMail, "%s", "spoof", 1))
	if c := state(); c.State != store.StateNew || c.Assignee != "" {
		t.Fatalf("spoofed agent mail acted: state %s assignee %q", c.State, c.Assignee)
	}
	// The same mail signed with the key published for agents.example.
	send("grace@agents.example", w.sign(t, "agents.example", strings.Replace(agentMail, "%s", "real", 1)))
	if c := state(); c.State != store.StateResolved || c.Assignee != "grace@agents.example" {
		t.Fatalf("signed agent mail: state %s assignee %q", c.State, c.Assignee)
	}

	contactMail := "From: Carol <carol@customer.example>\nTo: support@localhost\nSubject: Re: [CS0000001] VPN\nMessage-ID: <%s@customer.example>\n\naccept\n"
	// A forged contact on a p=reject domain cannot accept the resolution.
	send("carol@customer.example", strings.Replace(contactMail, "%s", "forged", 1))
	if c := state(); c.State != store.StateResolved {
		t.Fatalf("forged accept: state %s", c.State)
	}
	if cases, _ := m.Store.ListCases(ctx, store.CaseFilter{}); len(cases) != 3 {
		t.Fatalf("%d cases, want the spoofed and the forged mail as cases of their own", len(cases))
	}
	send("carol@customer.example", w.sign(t, "customer.example", strings.Replace(contactMail, "%s", "real", 1)))
	if c := state(); c.State != store.StateClosed {
		t.Fatalf("signed accept: state %s", c.State)
	}

	// DNS down: the mail is still taken (250) and stored, as temperror.
	w.dns.SetDown(true)
	send("dan@other.example", "From: dan@other.example\nTo: support@localhost\nSubject: Printer\nMessage-ID: <d1@other.example>\n\nBroken.\n")
	cases, _ := m.Store.ListCases(ctx, store.CaseFilter{})
	if len(cases) != 4 {
		t.Fatalf("mail during a DNS outage: %d cases", len(cases))
	}
	if tr := lastTrace(t, m, cases[0].Number); !strings.Contains(tr, `"step":"auth","result":"temperror"`) {
		t.Fatalf("trace during a DNS outage: %s", tr)
	}
}

// casegate classify --json shows the verdict, with SPF for an assumed
// client address.
func TestClassifyShowsAuthVerdict(t *testing.T) {
	w := newTrustWorld(t)
	w.dns.TXT("customer.example", "v=spf1 ip4:203.0.113.0/24 -all")
	dir := t.TempDir()
	conf := filepath.Join(dir, "casegate.yaml")
	if err := os.WriteFile(conf, []byte("data_dir: data\nauth:\n  resolver: "+w.dns.Addr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	raw := "From: carol@customer.example\nTo: support@localhost\nSubject: Printer\nMessage-ID: <k1@customer.example>\n\nBroken.\n"
	code := run(context.Background(), []string{"classify", "--config", conf, "--json", "--from", "carol@customer.example",
		"--client-ip", "203.0.113.5", "--helo", "mail.customer.example"}, strings.NewReader(raw), &out, &errOut)
	if code != 0 {
		t.Fatalf("classify exit %d: %s", code, errOut.String())
	}
	var v struct {
		Decision struct {
			Auth gateway.AuthVerdict `json:"auth"`
		} `json:"decision"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	a := v.Decision.Auth
	if !a.Authenticated || a.Via != "spf" || a.SPF.Result != "pass" || a.DMARC.Result != "pass" || a.DMARC.Policy != "reject" {
		t.Fatalf("auth = %+v", a)
	}
}

func TestDKIMKeygen(t *testing.T) {
	for _, kind := range []string{"rsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dkim.pem")
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"dkim", "keygen", "--type", kind, "--selector", "cg1",
				"--domain", "support.example", "--out", path}, nil, &out, &errOut)
			if code != 0 {
				t.Fatalf("keygen exit %d: %s", code, errOut.String())
			}
			if !strings.Contains(out.String(), "cg1._domainkey.support.example. IN TXT") || !strings.Contains(out.String(), "k="+kind) {
				t.Fatalf("keygen printed %q", out.String())
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v %v", fi, err)
			}
			if _, err := gateway.LoadDKIMKey(path); err != nil {
				t.Fatal(err)
			}
			// It never overwrites a key.
			if code := run(context.Background(), []string{"dkim", "keygen", "--selector", "cg1", "--domain", "support.example",
				"--out", path}, nil, &out, &errOut); code == 0 {
				t.Fatal("keygen overwrote an existing key")
			}
			// The key signs the gateway's mail once configured.
			cfg := defaultConfig()
			cfg.DKIM = DKIMConfig{Domain: "localhost", Selector: "cg1", KeyFile: path}
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			cfg.DKIM.Domain = "elsewhere.example"
			if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "dkim.domain") {
				t.Fatalf("unaligned dkim.domain accepted: %v", err)
			}
		})
	}
}

// Behind our MX (a trusted relay on 127.0.0.1): its Authentication-Results
// and spam verdicts are believed, and the client its Received field names
// is the original one.
func TestEndToEndBehindTrustedMX(t *testing.T) {
	ctx := context.Background()
	w := newTrustWorld(t)
	m := startMain(t, nil, func(c *Config) {
		c.Auth.Resolver, c.Auth.AuthservID, c.Auth.TrustedRelays = w.dns.Addr, "mx.localhost", []string{"127.0.0.0/8"}
	})
	rcvd := "Received: from mail.example (mail.example [198.51.100.7])\n\tby mx.localhost (Postfix) with ESMTPS id 1A2B; Mon, 23 Nov 2026 10:00:00 +0000\n"
	mustSend(t, m.SMTPAddr, "carol@other.example", []string{"support@localhost"}, rcvd+
		"From: carol@other.example\nTo: support@localhost\nSubject: VPN\nMessage-ID: <o1@other.example>\n\nIt drops.\n")
	mustSend(t, m.SMTPAddr, "grace@agents.example", []string{"support@localhost"},
		"Authentication-Results: mx.localhost; dkim=pass header.d=agents.example; dmarc=pass header.from=agents.example\n"+rcvd+
			"From: grace@agents.example\nTo: support@localhost\nSubject: Re: [CS0000001] VPN\nMessage-ID: <a1@agents.example>\n\n#state resolved\nFixed.\n")
	c, err := m.Store.CaseByNumber(ctx, "CS0000001")
	if err != nil || c.State != store.StateResolved {
		t.Fatalf("agent mail authenticated by our MX: %+v %v", c, err)
	}
	if tr := lastTrace(t, m, "CS0000001"); !strings.Contains(tr, "by authentication_results") {
		t.Fatalf("trace: %s", tr)
	}
	mustSend(t, m.SMTPAddr, "bob@spam.example", []string{"support@localhost"}, "X-Spam-Flag: YES\n"+rcvd+
		"From: bob@spam.example\nTo: support@localhost\nSubject: Pills\nMessage-ID: <s1@spam.example>\n\nBuy.\n")
	q, err := m.Store.ListQuarantine(ctx, 0)
	if err != nil || len(q) != 1 || q[0].Reason != "spam" {
		t.Fatalf("quarantine = %+v %v", q, err)
	}
}
