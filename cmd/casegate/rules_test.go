package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// quiet waits a moment and fails if the relay got more than n mails: what
// must not be sent has had its chance to be.
func quiet(t *testing.T, relay *gatewaytest.Relay, n int) {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	if got := relay.Mails(); len(got) > n {
		var to []string
		for _, m := range got[n:] {
			to = append(to, strings.Join(m.To, ","))
		}
		t.Fatalf("%d unexpected mails, to %v", len(got)-n, to)
	}
}

// mailsTo returns the relayed mails to rcpt.
func mailsTo(relay *gatewaytest.Relay, rcpt string) []gatewaytest.Mail {
	var out []gatewaytest.Mail
	for _, m := range relay.Mails() {
		for _, to := range m.To {
			if strings.EqualFold(to, rcpt) {
				out = append(out, m)
			}
		}
	}
	return out
}

// A stranger who quotes a closed case's tag gets a case of their own: the
// closed case's watchers are not carried over, are not told, and are not
// reached by the stranger's next mail; the confirmation names neither them
// nor the old case. The contact's own follow-up still carries them.
func TestClosedCaseStrangerGetsNothingOfIt(t *testing.T) {
	const (
		alice   = "alice@customer.example"
		bob     = "bob@customer.example"
		mallory = "mallory@elsewhere.example"
	)
	t.Setenv("CASEGATE_TEST_TRUST_TOKENS", "agent-token")
	relay := gatewaytest.StartRelay(t)
	m := startMain(t, relay, func(c *Config) { c.HTTP.TokensEnv = "CASEGATE_TEST_TRUST_TOKENS" })
	ctx := context.Background()
	mustSend(t, m.SMTPAddr, alice, []string{"support@localhost"}, "From: Alice <"+alice+">\nTo: support@localhost\nCc: Bob <"+bob+">\n"+
		"Subject: Printer on floor 3 is offline\nMessage-ID: <cs.1@customer.example>\n\nError E42.\n")
	relay.Wait(t, 2, 10*time.Second)
	if code := api(t, m, "POST", "/api/v1/cases/CS0000001/transitions",
		map[string]any{"to": "closed", "note": "done", "author": "grace@agents.example"}, nil); code != http.StatusOK {
		t.Fatalf("close: %d", code)
	}
	relay.Wait(t, 5, 10*time.Second) // case_closed to alice and bob, the survey to alice
	quiet(t, relay, 5)
	n := len(relay.Mails())

	mustSend(t, m.SMTPAddr, mallory, []string{"support@localhost"}, "From: Mallory <"+mallory+">\nTo: support@localhost\n"+
		"Subject: Re: [CS0000001] Printer on floor 3 is offline\nMessage-ID: <cs.2@elsewhere.example>\n\nWho else is on this case?\n")
	c2, err := m.Store.CaseByNumber(ctx, "CS0000002")
	if err != nil || c2.Contact.Email != mallory {
		t.Fatalf("stranger's case = %+v, %v", c2, err)
	}
	if ws, _ := m.Store.Watchers(ctx, c2.ID); len(ws) != 0 {
		t.Fatalf("watchers carried to the stranger's case: %+v", ws)
	}
	mails := relay.Wait(t, n+1, 10*time.Second)
	quiet(t, relay, n+1)
	confirm := mails[n]
	if confirm.To[0] != mallory {
		t.Fatalf("mail to %v, want the stranger's confirmation only", confirm.To)
	}
	if text := textPart(t, confirm); strings.Contains(text, bob) || strings.Contains(text, "CS0000001") {
		t.Fatalf("the stranger's confirmation discloses the closed case:\n%s", text)
	}
	// The stranger's next mail, a reply to her confirmation, reaches
	// nobody of the old case.
	mustSend(t, m.SMTPAddr, mallory, []string{"support@localhost"}, "From: Mallory <"+mallory+">\nTo: support@localhost\n"+
		"Subject: Re: [CS0000002] Printer on floor 3 is offline\nMessage-ID: <cs.3@elsewhere.example>\n"+
		"In-Reply-To: <"+strings.Trim(confirm.Header.Get("Message-Id"), "<>")+">\n\nHello?\n")
	quiet(t, relay, n+1)
	if got := mailsTo(relay, bob); len(got) != 2 {
		t.Fatalf("bob got %d mails, want only his notice and the close of CS0000001", len(got))
	}

	// Alice's own follow-up carries bob over and tells both.
	mustSend(t, m.SMTPAddr, alice, []string{"support@localhost"}, "From: Alice <"+alice+">\nTo: support@localhost\n"+
		"Subject: Re: [CS0000001] Printer on floor 3 is offline\nMessage-ID: <cs.4@customer.example>\n\nBroken again.\n")
	c3, err := m.Store.CaseByNumber(ctx, "CS0000003")
	if err != nil || c3.LinkedCase != "CS0000001" {
		t.Fatalf("follow-up = %+v, %v", c3, err)
	}
	if ws, _ := m.Store.Watchers(ctx, c3.ID); len(ws) != 1 || ws[0].Email != bob {
		t.Fatalf("follow-up watchers = %+v, want bob", ws)
	}
	got := byRecipient(t, relay.Wait(t, n+3, 10*time.Second)[n+1:])
	if text := textPart(t, got[alice]); !strings.Contains(text, "CS0000001 is closed") {
		t.Fatalf("alice's confirmation does not name the closed case:\n%s", text)
	}
	if _, ok := got[bob]; !ok {
		t.Fatalf("bob not told of the follow-up")
	}
}

// Accept, reject and close belong to the contact: a watcher's "accept" on
// a resolved case is a comment and changes nothing; on awaiting_info a
// watcher's answer still reopens.
func TestWatcherCannotAcceptResolution(t *testing.T) {
	const (
		alice = "alice@customer.example"
		bob   = "bob@customer.example"
		agent = "grace@agents.example"
	)
	t.Setenv("CASEGATE_TEST_TRUST_TOKENS", "agent-token")
	relay := gatewaytest.StartRelay(t)
	m := startMain(t, relay, func(c *Config) { c.HTTP.TokensEnv = "CASEGATE_TEST_TRUST_TOKENS" })
	l := &lifecycle{t: t, m: m, relay: relay}
	mustSend(t, m.SMTPAddr, alice, []string{"support@localhost"}, "From: Alice <"+alice+">\nTo: support@localhost\nCc: Bob <"+bob+">\n"+
		"Subject: Printer on floor 3 is offline\nMessage-ID: <wa.1@customer.example>\n\nError E42.\n")
	mails := l.expectMails("opened", map[string]string{alice: "We have opened case CS0000001", bob: "on its watch list"})
	confirmID := mails[alice].Header.Get("Message-Id")
	transition := func(to, note string) {
		t.Helper()
		if code := api(t, m, "POST", "/api/v1/cases/CS0000001/transitions",
			map[string]any{"to": to, "note": note, "author": agent}, nil); code != http.StatusOK {
			t.Fatalf("%s: %d", to, code)
		}
	}
	transition("awaiting_info", "Which model?")
	l.expectMails("awaiting info", map[string]string{alice: "ACTION REQUIRED", bob: "Which model?"})
	l.reply(bob, confirmID, "wa.2@customer.example", "It is an HP 4050.")
	l.state(store.StateOpen)
	l.expectMails("watcher answered", map[string]string{alice: "It is an HP 4050."})

	transition("resolved", "Replaced the fuser unit.")
	l.expectMails("resolved", map[string]string{alice: "Replaced the fuser unit.", bob: "Replaced the fuser unit."})
	for i, word := range []string{"accept", "close", "reject", "Still broken here."} {
		l.reply(bob, confirmID, fmt.Sprintf("wa.%d@customer.example", 10+i), word)
		l.state(store.StateResolved)
		l.expectMails("watcher wrote "+word, map[string]string{alice: word})
	}
	c, _ := m.Store.CaseByNumber(context.Background(), "CS0000001")
	if s, err := m.Store.Survey(context.Background(), c.ID); err == nil {
		t.Fatalf("a survey was opened: %+v", s)
	}
	l.reply(alice, confirmID, "wa.20@customer.example", "accept")
	l.state(store.StateClosed)
}

// One unauthenticated mail with 100 addresses in Cc: at most 10 become
// watchers, none of the strangers is mailed, and a real customer writing
// meanwhile is confirmed at once.
func TestCcFloodIsNotAmplified(t *testing.T) {
	relay := gatewaytest.StartRelay(t)
	m := startMain(t, relay, nil)
	ctx := context.Background()
	var cc []string
	for i := 0; i < 100; i++ {
		cc = append(cc, fmt.Sprintf("victim%d@victim%d.example", i, i%7))
	}
	const floods = 20
	for i := 0; i < floods; i++ {
		mustSend(t, m.SMTPAddr, "spammer@evil.example", []string{"support@localhost"}, fmt.Sprintf(
			"From: spammer@evil.example\nTo: support@localhost\nCc: %s\nSubject: Cheap pills %d\nMessage-ID: <flood.%d@evil.example>\n\nBuy now.\n",
			strings.Join(cc, ",\n "), i, i))
	}
	start := time.Now()
	mustSend(t, m.SMTPAddr, "alice@customer.example", []string{"support@localhost"},
		"From: Alice <alice@customer.example>\nTo: support@localhost\nSubject: Printer\nMessage-ID: <legit.1@customer.example>\n\nError E42.\n")
	for len(mailsTo(relay, "alice@customer.example")) == 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the customer's confirmation was not sent within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the customer's confirmation reached the relay %v after her mail", time.Since(start))
	quiet(t, relay, floods+1)
	for _, mail := range relay.Mails() {
		if to := mail.To[0]; strings.HasPrefix(to, "victim") {
			t.Fatalf("a stranger in Cc was mailed: %s", to)
		}
	}
	cases, err := m.Store.ListCases(ctx, store.CaseFilter{})
	if err != nil || len(cases) != floods+1 {
		t.Fatalf("%d cases, %v", len(cases), err)
	}
	for _, c := range cases {
		if ws, _ := m.Store.Watchers(ctx, c.ID); len(ws) > 10 {
			t.Fatalf("%s has %d watchers, want at most 10", c.Number, len(ws))
		}
	}
}

// A flood from one domain is held at that domain's limit and cannot open
// the global breaker: another customer's confirmation goes out at once, and
// /healthz names the held domain while the status stays ok.
func TestOneDomainCannotTripTheBreaker(t *testing.T) {
	relay := gatewaytest.StartRelay(t)
	m := startMain(t, relay, func(c *Config) {
		c.Outbound.CircuitBreaker, c.Outbound.CircuitBreakerPerDomain = 10, 5
	})
	const floods = 30
	for i := 0; i < floods; i++ {
		from := fmt.Sprintf("someone%d@evil.example", i)
		mustSend(t, m.SMTPAddr, from, []string{"support@localhost"}, fmt.Sprintf(
			"From: %s\nTo: support@localhost\nSubject: Flood %d\nMessage-ID: <dom.%d@evil.example>\n\nHello.\n", from, i, i))
	}
	start := time.Now()
	mustSend(t, m.SMTPAddr, "alice@customer.example", []string{"support@localhost"},
		"From: Alice <alice@customer.example>\nTo: support@localhost\nSubject: Printer\nMessage-ID: <dom.legit@customer.example>\n\nError E42.\n")
	for len(mailsTo(relay, "alice@customer.example")) == 0 {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the customer's confirmation was not sent within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the customer's confirmation reached the relay %v after her mail", time.Since(start))
	quiet(t, relay, 6)
	resp, err := http.Get("http://" + m.HTTPAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Status         string `json:"status"`
		CircuitBreaker string `json:"circuit_breaker"`
		HeldDomains    []struct {
			Domain string `json:"domain"`
			Held   int    `json:"held"`
		} `json:"held_domains"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if h.Status != "ok" || h.CircuitBreaker != "closed" || len(h.HeldDomains) != 1 ||
		h.HeldDomains[0].Domain != "evil.example" || h.HeldDomains[0].Held != floods-5 {
		t.Fatalf("healthz = %+v", h)
	}
	pending, err := m.Store.ListOutbox(context.Background(), store.OutboxPending, 0)
	if err != nil || len(pending) != floods-5 {
		t.Fatalf("%d pending, want the %d held (%v): nothing is lost", len(pending), floods-5, err)
	}
}
