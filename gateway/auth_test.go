package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/casegate/casegate/store"
)

// agentCommand is an agent's reply that assigns the case to an outsider
// and resolves it with a phishing link.
func agentCommandMail(number, id string) string {
	return "From: Eve <" + agent + ">\nTo: support@support.test\nSubject: Re: [" + number + "] VPN drops every hour\n" +
		"Message-ID: <" + id + "@agents.test>\n\n#assign mallory@evil.example\n#state resolved\nLog in at http://evil.example/reset\n"
}

func TestSpoofedAgentMailActsOnNothing(t *testing.T) {
	e := newAuthEnv(t)
	c := openTestCase(t, e.g)
	res := e.ingest(t, outsideIP, "mallory@evil.example", agentCommandMail(c.Number, "spoof1"))
	if res.Auth == nil || res.Auth.Authenticated {
		t.Fatalf("auth = %+v, want unauthenticated", res.Auth)
	}
	if !hasStep(res, "agent_mail", "unauthenticated", "commands ignored") {
		t.Errorf("trace does not say the agent mail was not believed: %+v", res.Trace)
	}
	after := e.caseOf(t, c.Number)
	if after.State != c.State || after.Assignee != "" {
		t.Fatalf("a spoofed agent mail acted: state %s assignee %q", after.State, after.Assignee)
	}
	if res.Case == c.Number || res.LinkedTo == c.Number && res.Outcome != store.OutcomeNewCase {
		t.Fatalf("spoofed agent mail wrote into %s: %+v", c.Number, res)
	}
}

func TestSignedAgentMailActs(t *testing.T) {
	e := newAuthEnv(t)
	e.publishKey(t, "agents.test")
	c := openTestCase(t, e.g)
	res := e.ingest(t, outsideIP, "eve@agents.test", e.sign(t, "agents.test", agentCommandMail(c.Number, "signed1")))
	if res.Auth == nil || !res.Auth.Authenticated || res.Auth.Via != "dkim" || res.Auth.AlignedDomain != "agents.test" {
		t.Fatalf("auth = %+v, want authenticated by dkim as agents.test", res.Auth)
	}
	if s, _ := step(res, "auth"); s.Result != "pass" {
		t.Errorf("auth step = %+v", s)
	}
	after := e.caseOf(t, c.Number)
	if after.State != store.StateResolved || after.Assignee != "mallory@evil.example" {
		t.Fatalf("signed agent mail: state %s assignee %q", after.State, after.Assignee)
	}
	// The verdict is kept with the message, for the API.
	m, err := e.st.Message(context.Background(), res.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Headers, `"authenticated":true`) || !strings.Contains(m.Headers, `"aligned_domain":"agents.test"`) {
		t.Errorf("stored headers lack the verdict: %s", m.Headers)
	}
}

// A signature by another domain than the From's does not authenticate it.
func TestUnalignedSignatureIsNotAnAgent(t *testing.T) {
	e := newAuthEnv(t)
	e.publishKey(t, "evil.example")
	c := openTestCase(t, e.g)
	res := e.ingest(t, outsideIP, "mallory@evil.example", e.sign(t, "evil.example", agentCommandMail(c.Number, "unaligned")))
	if res.Auth.Authenticated || len(res.Auth.DKIM) != 1 || res.Auth.DKIM[0].Result != "pass" || res.Auth.DKIM[0].Aligned {
		t.Fatalf("auth = %+v, want a passing but unaligned signature", res.Auth)
	}
	if after := e.caseOf(t, c.Number); after.State != c.State || after.Assignee != "" {
		t.Fatalf("unaligned signature acted: %+v", after)
	}
}

// resolvedCase opens a case and resolves it.
func resolvedCase(t *testing.T, e *authEnv) store.Case {
	t.Helper()
	c := openTestCase(t, e.g)
	c, err := e.g.Transition(context.Background(), c.Number, store.StateResolved, "Replaced the VPN client.", Actor{Email: agent})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func contactMail(number, id, cc, body string) string {
	h := "From: Carol <" + contact + ">\nTo: support@support.test\n"
	if cc != "" {
		h += "Cc: " + cc + "\n"
	}
	return h + "Subject: Re: [" + number + "] VPN drops every hour\nMessage-ID: <" + id + "@customer.example>\n\n" + body + "\n"
}

func TestForgedContactOnRejectDomain(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	e.dns.TXT("_dmarc.customer.example", "v=DMARC1; p=reject")
	e.dns.TXT("customer.example", "v=spf1 ip4:203.0.113.0/24 -all")
	c := resolvedCase(t, e)

	// accept a resolution, with a watcher in Cc
	res := e.ingest(t, outsideIP, "carol@customer.example", contactMail(c.Number, "forged1", "mallory@evil.example", "accept"))
	if !res.Auth.Enforced() || res.Auth.SPF.Result != "fail" || res.Auth.DMARC.Result != "fail" {
		t.Fatalf("auth = %+v, want SPF and DMARC fail with p=reject", res.Auth)
	}
	if !hasStep(res, "sender", "unauthenticated", "may not act on "+c.Number) {
		t.Errorf("trace: %+v", res.Trace)
	}
	if res.Outcome != store.OutcomeNewCase || res.Case == c.Number || res.LinkedTo != "" {
		t.Fatalf("forged contact mail: %+v, want a new unlinked case", res)
	}
	if after := e.caseOf(t, c.Number); after.State != store.StateResolved {
		t.Fatalf("forged accept moved the case to %s", after.State)
	}
	ws, _ := e.st.Watchers(ctx, c.ID)
	for _, w := range ws {
		if w.Email == "mallory@evil.example" {
			t.Fatalf("forged mail added a watcher to %s", c.Number)
		}
	}

	// the real contact, from her domain's servers, may accept
	res = e.ingest(t, "203.0.113.5", "carol@customer.example", contactMail(c.Number, "real1", "", "accept"))
	if !res.Auth.Authenticated || res.Auth.Via != "spf" {
		t.Fatalf("auth from the domain's own server = %+v", res.Auth)
	}
	if after := e.caseOf(t, c.Number); after.State != store.StateClosed {
		t.Fatalf("real accept: state %s", after.State)
	}

	// a forged survey rating is not recorded
	e.g.cfg.Survey = true
	res = e.ingest(t, outsideIP, "carol@customer.example", contactMail(c.Number, "forged2", "", "1 terrible"))
	if res.Case == c.Number {
		t.Fatalf("forged rating reached %s: %+v", c.Number, res)
	}
	if s, err := e.st.Survey(ctx, c.ID); err == nil && s.Rating != 0 {
		t.Fatalf("forged rating recorded: %+v", s)
	}
}

func TestForgedContactQuarantinedByPolicy(t *testing.T) {
	e := newAuthEnv(t)
	e.g.cfg.Auth.DMARCFail = "quarantine"
	e.dns.TXT("_dmarc.customer.example", "v=DMARC1; p=quarantine")
	c := resolvedCase(t, e)
	res := e.ingest(t, outsideIP, "x@bounce.example", contactMail(c.Number, "forged3", "", "accept"))
	if res.Outcome != OutcomeQuarantined || res.Reason != "dmarc_fail" {
		t.Fatalf("forged mail with policy quarantine: %+v", res)
	}
	if after := e.caseOf(t, c.Number); after.State != store.StateResolved {
		t.Fatalf("state %s", after.State)
	}
	if q, err := e.st.QuarantinedByID(context.Background(), res.Quarantine); err != nil || q.Reason != "dmarc_fail" {
		t.Fatalf("quarantine row: %+v %v", q, err)
	}
	// An operator's replay takes it in, as the sender's own case.
	rep, err := e.g.Replay(context.Background(), res.Quarantine)
	if err != nil || rep.Outcome != store.OutcomeNewCase || rep.Case == c.Number {
		t.Fatalf("replay: %+v %v", rep, err)
	}
	if after := e.caseOf(t, c.Number); after.State != store.StateResolved {
		t.Fatalf("replayed forged accept moved the case to %s", after.State)
	}
}

func TestDomainWithoutDMARCAsBefore(t *testing.T) {
	e := newAuthEnv(t)
	c := resolvedCase(t, e)
	res := e.ingest(t, outsideIP, "carol@customer.example", contactMail(c.Number, "nodmarc", "", "accept"))
	s, _ := step(res, "auth")
	if s.Result != "none" || !strings.Contains(s.Detail, "customer.example publishes no DMARC policy: taken as before") {
		t.Fatalf("auth step = %+v", s)
	}
	if after := e.caseOf(t, c.Number); after.State != store.StateClosed {
		t.Fatalf("accept from a domain without DMARC: state %s", after.State)
	}
}

// received is the Received field our MX adds for a mail from client.
func received(client string) string {
	return "Received: from client.example (client.example [" + client + "])\n\tby mx.support.test (Postfix) with ESMTPS id 4XyZ\n\tfor <support@support.test>; Mon, 23 Nov 2026 10:00:00 +0000\n"
}

const agentAuthResults = "Authentication-Results: " + authservID + ";\n\tdkim=pass (1024-bit key) header.d=agents.test;\n\tdmarc=pass (p=reject dis=none) header.from=agents.test\n"

func TestAuthenticationResultsFromTrustedRelay(t *testing.T) {
	e := newAuthEnv(t)
	c := openTestCase(t, e.g)
	mail := agentAuthResults + received(outsideIP) + agentCommandMail(c.Number, "viamx")
	res := e.ingest(t, mxRelay, "eve@agents.test", mail)
	if !res.Auth.Authenticated || res.Auth.Via != "authentication_results" || res.Auth.Client != outsideIP || res.Auth.Relay != mxRelay {
		t.Fatalf("auth = %+v, want authenticated by our MX's results, client %s", res.Auth, outsideIP)
	}
	if after := e.caseOf(t, c.Number); after.State != store.StateResolved {
		t.Fatalf("agent mail through our MX: state %s", after.State)
	}
}

func TestAuthenticationResultsFromElsewhereIgnored(t *testing.T) {
	for _, tc := range []struct {
		name, client, mail string
	}{
		// straight from the internet, claiming our MX's results
		{"untrusted client", outsideIP, agentAuthResults + received("203.0.113.9")},
		// through our MX, but the field came with the mail, below our MX's Received
		{"below our Received", mxRelay, received(outsideIP) + agentAuthResults},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAuthEnv(t)
			c := openTestCase(t, e.g)
			raw := tc.mail + agentCommandMail(c.Number, "forgedar")
			res := e.ingest(t, tc.client, "mallory@evil.example", raw)
			if res.Auth.Authenticated || res.Auth.Ignored != 1 {
				t.Fatalf("auth = %+v, want unauthenticated with one ignored field", res.Auth)
			}
			if !hasStep(res, "auth_results", "ignored", "not added by a trusted relay") {
				t.Errorf("trace does not say the field was ignored: %+v", res.Trace)
			}
			if after := e.caseOf(t, c.Number); after.State != c.State || after.Assignee != "" {
				t.Fatalf("forged Authentication-Results acted: %+v", after)
			}
			m, err := e.st.Message(context.Background(), res.MessageID)
			if err != nil || string(m.Raw) != crlf(raw) {
				t.Fatalf("raw mail changed (%v)", err)
			}
		})
	}
}

func TestDNSDownIsTemperrorAndStored(t *testing.T) {
	e := newAuthEnv(t)
	e.publishKey(t, "agents.test")
	c := openTestCase(t, e.g)
	e.dns.SetDown(true)
	res := e.ingest(t, outsideIP, "eve@agents.test", e.sign(t, "agents.test", agentCommandMail(c.Number, "dnsdown")))
	if !res.Auth.TempError || res.Auth.Authenticated || res.MessageID == 0 {
		t.Fatalf("DNS down: %+v auth %+v, want a stored message with temperror", res, res.Auth)
	}
	if s, _ := step(res, "auth"); s.Result != "temperror" {
		t.Errorf("auth step = %+v", s)
	}
	if after := e.caseOf(t, c.Number); after.State != c.State {
		t.Fatalf("an unverifiable agent mail acted: %s", after.State)
	}
	// With policy retry the sender keeps the mail and tries again.
	e.g.cfg.Auth.TempError = "retry"
	_, err := e.g.Ingest(context.Background(), []byte(crlf(agentCommandMail(c.Number, "dnsdown2"))),
		Envelope{Source: "smtp", ClientIP: outsideIP, To: []string{"support@support.test"}})
	var te *TemporaryError
	if !errors.As(err, &te) {
		t.Fatalf("policy retry: %v, want a temporary error", err)
	}
}

func TestSpamVerdictOfTrustedRelay(t *testing.T) {
	spam := "X-Spam-Flag: YES\nX-Spam-Status: Yes, score=12.1 required=5.0\n"
	mail := "From: Bob <bob@spam.example>\nTo: support@support.test\nSubject: Cheap pills\nMessage-ID: <%s@spam.example>\n\nBuy now.\n"
	t.Run("trusted relay, quarantine", func(t *testing.T) {
		e := newAuthEnv(t)
		res := e.ingest(t, mxRelay, "bob@spam.example", spam+received(outsideIP)+strings.Replace(mail, "%s", "s1", 1))
		if res.Outcome != OutcomeQuarantined || res.Reason != "spam" {
			t.Fatalf("spam from our MX: %+v", res)
		}
		if rows, _ := e.st.ListOutbox(context.Background(), "", 0); len(rows) != 0 {
			t.Fatalf("spam caused %d mails", len(rows))
		}
	})
	t.Run("trusted relay, store", func(t *testing.T) {
		e := newAuthEnv(t)
		e.g.cfg.Auth.Spam = "store"
		res := e.ingest(t, mxRelay, "bob@spam.example", "X-Spamd-Result: default: True [15.20 / 15.00]\nX-Rspamd-Action: add header\n"+
			received(outsideIP)+strings.Replace(mail, "%s", "s2", 1))
		if res.Outcome != OutcomeSpam || res.Case != "" || res.MessageID == 0 {
			t.Fatalf("spam with policy store: %+v", res)
		}
		if rows, _ := e.st.ListOutbox(context.Background(), "", 0); len(rows) != 0 {
			t.Fatalf("stored spam caused %d mails", len(rows))
		}
	})
	t.Run("untrusted client", func(t *testing.T) {
		e := newAuthEnv(t)
		res := e.ingest(t, outsideIP, "bob@spam.example", spam+strings.Replace(mail, "%s", "s3", 1))
		if res.Outcome != store.OutcomeNewCase {
			t.Fatalf("spam header from an untrusted client: %+v", res)
		}
		if !hasStep(res, "spam", "ignored", "X-Spam-Flag") {
			t.Errorf("trace: %+v", res.Trace)
		}
	})
}
