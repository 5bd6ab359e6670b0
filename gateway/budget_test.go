package gateway

import (
	"context"
	"fmt"
	"testing"
)

// One source (here one client address, whatever the From headers say)
// may cause at most its budget of notifications an hour; another source's
// confirmation still goes out. Behind our MX, the client its Received
// field names is the source, not the MX.
func TestBudgetPerSource(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	e.g.cfg.Protection.BudgetPerSource = 3
	newCase := func(client, from, id string, extra string) Result {
		return e.ingest(t, client, from, extra+fmt.Sprintf("From: <%s>\nTo: support@support.test\nSubject: Help %s\nMessage-ID: <%s@x.example>\n\nPlease help.\n", from, id, id))
	}
	for i := range 5 {
		newCase(outsideIP, fmt.Sprintf("user%d@forged%d.example", i, i), fmt.Sprintf("flood%d", i), "")
	}
	queued := func() (n int) {
		rows, err := e.st.ListOutbox(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(rows)
	}
	if n := queued(); n != 3 {
		t.Fatalf("one client's 5 mails queued %d notifications, want its budget of 3", n)
	}
	sup, err := e.st.Suppressions(ctx, 0)
	if err != nil || len(sup) != 2 || sup[0].Reason != SuppressBudgetSource {
		t.Fatalf("suppressions = %+v (%v), want 2 budget_source", sup, err)
	}
	// Another client's confirmation is not held.
	newCase(outsideIP2, "real@customer.example", "real", "")
	if n := queued(); n != 4 {
		t.Fatalf("another client's confirmation was held: %d queued", n)
	}
	// Through our MX, each original client is its own source.
	for i, client := range []string{"203.0.113.1", "203.0.113.2"} {
		newCase(mxRelay, "c@customer.example", fmt.Sprintf("mx%d", i), received(client))
	}
	if n := queued(); n != 6 {
		t.Fatalf("mails through our MX from two clients: %d queued, want 6", n)
	}
}

// An authenticated domain is one source, all its senders together; but
// the domain of a mailbox provider is shared by unrelated people, so each
// authenticated address of it is a source of its own.
func TestBudgetPerSourceMailboxProviders(t *testing.T) {
	ctx := context.Background()
	e := newAuthEnv(t)
	e.g.cfg.Protection.BudgetPerSource = 2
	e.g.cfg.Protection.MailboxProviders = []string{"mail.example"}
	for _, d := range []string{"acme.example", "mail.example"} {
		e.publishKey(t, d)
	}
	send := func(from, id string) {
		_, _, domain := splitAddress(from)
		res := e.ingest(t, outsideIP, from, e.sign(t, domain, fmt.Sprintf(
			"From: <%s>\nTo: support@support.test\nSubject: Help %s\nMessage-ID: <%s@x.example>\n\nPlease help.\n", from, id, id)))
		if s, _ := step(res, "auth"); s.Result != "pass" {
			t.Fatalf("%s: auth step %+v, want pass", from, s)
		}
	}
	confirmed := func(to string) bool {
		rows, err := e.st.ListOutbox(ctx, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Recipient == to {
				return true
			}
		}
		return false
	}
	// A company's domain: its third sender is over the domain's budget.
	for i := range 3 {
		send(fmt.Sprintf("staff%d@acme.example", i), fmt.Sprintf("acme%d", i))
	}
	if confirmed("staff2@acme.example") {
		t.Error("the third sender of one authenticated domain was confirmed past the domain's budget of 2")
	}
	// A mailbox provider: three people, three sources, all confirmed.
	for i := range 3 {
		send(fmt.Sprintf("person%d@mail.example", i), fmt.Sprintf("mail%d", i))
	}
	for i := range 3 {
		if to := fmt.Sprintf("person%d@mail.example", i); !confirmed(to) {
			t.Errorf("%s of a mailbox provider was held by the others' budget", to)
		}
	}
	// One person of the provider is still bounded by their own budget.
	for i := range 3 {
		send("person0@mail.example", fmt.Sprintf("again%d", i))
	}
	sup, err := e.st.Suppressions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range sup {
		if s.Reason == SuppressBudgetSource && s.Recipient == "person0@mail.example" {
			n++
		}
	}
	if n == 0 {
		t.Errorf("one address of a mailbox provider was not bounded by its own budget: %+v", sup)
	}
}
