package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// gmailForward is an agent's mail forwarding a customer's mail the way
// Gmail writes it, with a line of the agent's own above.
const gmailForward = "From: Grace <grace@agents.example>\nTo: support@localhost\nSubject: Fwd: Printer on floor 3 is offline\n" +
	"Message-ID: <%s@agents.example>\n\nOpening this for the customer.\n\n" +
	"---------- Forwarded message ---------\nFrom: Dan Customer <dan@customer.example>\n" +
	"Date: Mon, 23 Nov 2026 at 09:12\nSubject: Printer on floor 3 is offline\nTo: Grace <grace@agents.example>\n\n" +
	"The printer shows error E42 since this morning.\nCan someone have a look?\n"

// Over SMTP against the real wiring: an authenticated agent's forward of
// a customer's mail opens the customer's case (the customer is the
// contact and gets the confirmation, the agent's line is an internal
// note, the customer's words the description); the same mail with the
// agent's From forged opens nothing for the customer and mails nobody
// but its sender.
func TestAgentForwardOpensTheCustomersCase(t *testing.T) {
	ctx := context.Background()
	w := newTrustWorld(t)
	relay := gatewaytest.StartRelay(t)
	m := startMain(t, relay, func(c *Config) { c.Auth.Resolver = w.dns.Addr })

	mustSend(t, m.SMTPAddr, "grace@agents.example", []string{"support@localhost"},
		w.sign(t, "agents.example", strings.Replace(gmailForward, "%s", "fwd.1", 1)))
	c, err := m.Store.CaseByNumber(ctx, "CS0000001")
	if err != nil {
		t.Fatal(err)
	}
	if c.Contact.Email != "dan@customer.example" || c.Subject != "Printer on floor 3 is offline" ||
		!strings.Contains(c.Description, "error E42") || strings.Contains(c.Description, "Opening this") {
		t.Fatalf("the forwarded case: contact %s, subject %q, description %q", c.Contact.Email, c.Subject, c.Description)
	}
	acts, err := m.Store.Activities(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var note, opened bool
	for _, a := range acts {
		note = note || a.Kind == "comment" && !a.Public && a.Actor == "grace@agents.example" && strings.Contains(a.Body, "Opening this for the customer")
		opened = opened || strings.Contains(a.Body, "opened by grace@agents.example on behalf of dan@customer.example")
	}
	if !note || !opened {
		t.Fatalf("the agent's note %v, who opened it %v: %+v", note, opened, acts)
	}
	waitUntil(t, 10*time.Second, "the customer's confirmation", func() bool {
		for _, ml := range relay.Mails() {
			if len(ml.To) == 1 && ml.To[0] == "dan@customer.example" && strings.Contains(ml.Header.Get("Subject"), "[CS0000001]") {
				return true
			}
		}
		return false
	})

	// The same forward with a forged agent From: the sender's own case.
	mustSend(t, m.SMTPAddr, "mallory@evil.example", []string{"support@localhost"},
		strings.Replace(gmailForward, "%s", "fwd.2", 1))
	forged, err := m.Store.CaseByNumber(ctx, "CS0000002")
	if err != nil {
		t.Fatal(err)
	}
	if forged.Contact.Email != "grace@agents.example" {
		t.Fatalf("a forged agent forward opened a case for %s", forged.Contact.Email)
	}
	if cases, _ := m.Store.ListCases(ctx, store.CaseFilter{Contact: "dan@customer.example"}); len(cases) != 1 {
		t.Fatalf("dan has %d cases after the forged forward, want 1", len(cases))
	}
	if tr := lastTrace(t, m, "CS0000002"); strings.Contains(tr, `"step":"forward"`) {
		t.Fatalf("a forged agent's forward was taken as one: %s", tr)
	}
}

// A customer forwarding an old thread as a new mail keeps the thread as
// the case's description: the quote cut is for replies.
func TestNewCaseKeepsTheForwardedThread(t *testing.T) {
	m := startMain(t, nil, nil)
	mustSend(t, m.SMTPAddr, "erin@customer.example", []string{"support@localhost"},
		"From: erin@customer.example\r\nTo: support@localhost\r\nSubject: Fwd: Badge reader\r\nMessage-ID: <erin.1@customer.example>\r\n\r\n"+
			"See below, still happening.\r\n\r\n---------- Forwarded message ---------\r\nFrom: Facilities <fac@customer.example>\r\n"+
			"Date: Fri, 20 Nov 2026\r\nSubject: Badge reader\r\nTo: erin@customer.example\r\n\r\nThe badge reader at door 4 refuses all badges.\r\n")
	c, err := m.Store.CaseByNumber(context.Background(), "CS0000001")
	if err != nil {
		t.Fatal(err)
	}
	if c.Contact.Email != "erin@customer.example" || !strings.Contains(c.Description, "door 4 refuses all badges") {
		t.Fatalf("contact %s, description %q", c.Contact.Email, c.Description)
	}
}
