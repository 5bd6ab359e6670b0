package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/casegate/casegate/mailparse"
	"github.com/casegate/casegate/store"
)

// dsn is a delivery status notification (RFC 3464) for rcpt, without the
// original Message-ID unless origID is set.
func dsn(n int, rcpt, status, origID string) string {
	action := "failed"
	if strings.HasPrefix(status, "4") {
		action = "delayed"
	}
	returned := "Subject: whatever\r\n"
	if origID != "" {
		returned += "Message-ID: <" + origID + ">\r\n"
	}
	return fmt.Sprintf(`From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>
To: support@support.test
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn.%d@mx.customer.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message could not be delivered.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.example

Final-Recipient: rfc822; %s
Action: %s
Status: %s

--b
Content-Type: text/rfc822-headers

%s
--b--
`, n, rcpt, action, status, returned)
}

// sentEnv sends the due mail and returns the bounce address each outbox
// row was sent with, by row id.
func sentEnv(t *testing.T, e *opsEnv) map[int64]string {
	t.Helper()
	e.sendDue(t)
	out := map[int64]string{}
	for _, m := range e.outboxAll(t) {
		addr, err := e.g.verpAddress(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[m.ID] = addr
	}
	for _, m := range e.relay.Mails() {
		found := false
		for _, a := range out {
			found = found || m.From == a
		}
		if !found {
			t.Fatalf("relayed mail with envelope sender %q, not a bounce address of ours", m.From)
		}
	}
	return out
}

// A DSN sent to a notification's bounce address is attributed to exactly
// that outbox row, even without the original Message-ID; permanent ones
// count once per row, and at the limit the address gets no more mail until
// an agent clears it.
func TestBounceAttributionAndHardBounces(t *testing.T) {
	e := newOpsEnv(t, Protection{HardBounceLimit: 2})
	addr := startSMTP(t, e.g, SMTPConfig{MaxMessageBytes: 1 << 20})
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		e.ingest(t, "carol@customer.example", []string{"support@support.test"},
			strings.Replace(mailFrom(i), fmt.Sprintf("carol%d@", i), "carol@", 1))
	}
	verp := sentEnv(t, e)
	if len(verp) != 3 {
		t.Fatalf("%d notifications, want 3 confirmations", len(verp))
	}
	// A forged bounce address is refused at RCPT.
	forged := strings.Replace(verp[1], "bounces+1-", "bounces+2-", 1)
	if code, _ := smtpCode(t, smtpSend(t, addr, "", []string{forged}, dsn(9, "carol@customer.example", "5.1.1", ""))); code != 550 {
		t.Fatalf("forged bounce address answered %d, want 550", code)
	}

	send := func(n int, rcpt string, raw string) {
		t.Helper()
		if err := smtpSend(t, addr, "", []string{rcpt}, raw); err != nil {
			t.Fatalf("DSN %d refused: %v", n, err)
		}
	}
	send(1, verp[1], dsn(1, "carol@customer.example", "5.1.1", ""))
	st, _ := e.st.AddressStatus(ctx, "carol@customer.example")
	if st.HardBounces != 1 || st.Undeliverable {
		t.Fatalf("after one hard bounce: %+v", st)
	}
	c1, _ := e.st.CaseByNumber(ctx, "CS0000001")
	acts, _ := e.st.Activities(ctx, c1.ID)
	last := acts[len(acts)-1]
	if last.Kind != "delivery" || !strings.Contains(last.Body, "case_created to carol@customer.example failed (permanent, 5.1.1)") {
		t.Fatalf("case activity %+v does not mark the delivery failed", last)
	}
	// The same row reported again (another DSN) does not count twice; a
	// delay notice (4.x.x) does not count at all.
	send(2, verp[1], dsn(2, "carol@customer.example", "5.1.1", ""))
	send(3, verp[2], dsn(3, "carol@customer.example", "4.2.2", ""))
	if st, _ := e.st.AddressStatus(ctx, "carol@customer.example"); st.HardBounces != 1 || st.SoftBounces != 0 || st.Undeliverable {
		t.Fatalf("after a repeated and a temporary bounce: %+v", st)
	}
	// A DSN to the support address quoting the Message-ID of row 2 counts
	// nothing: anyone who had a mail of the case knows that id.
	row2 := e.outbox(t, 2)
	send(4, "support@support.test", dsn(4, "carol@customer.example", "5.1.1", row2.MessageID))
	if st, _ := e.st.AddressStatus(ctx, "carol@customer.example"); st.HardBounces != 1 || st.Undeliverable {
		t.Fatalf("a report quoting a Message-ID counted: %+v", st)
	}
	// The same report at row 2's bounce address does.
	send(5, verp[2], dsn(5, "carol@customer.example", "5.1.1", row2.MessageID))
	st, _ = e.st.AddressStatus(ctx, "carol@customer.example")
	if st.HardBounces != 2 || !st.Undeliverable {
		t.Fatalf("after two hard bounces with limit 2: %+v", st)
	}
	if n, _ := e.st.CountMessages(ctx, store.OutcomeBounce); n != 5 {
		t.Errorf("%d bounces stored, want 5", n)
	}
	if cs, _ := e.st.ListCases(ctx, store.CaseFilter{}); len(cs) != 3 {
		t.Errorf("bounces opened cases: %d cases", len(cs))
	}

	// Undeliverable: a new case of carol's gets no confirmation.
	before := len(e.outboxAll(t))
	e.ingest(t, "carol@customer.example", []string{"support@support.test"}, strings.Replace(mailFrom(7), "carol7@", "carol@", 1))
	if n := len(e.outboxAll(t)); n != before {
		t.Fatalf("an undeliverable address was queued a mail")
	}
	sup, _ := e.st.Suppressions(ctx, 1)
	if len(sup) != 1 || sup[0].Reason != SuppressUndeliverable {
		t.Fatalf("suppression not recorded: %+v", sup)
	}
	// An agent clears it; mail flows again.
	if err := e.g.ClearAddress(ctx, "carol@customer.example", "test"); err != nil {
		t.Fatal(err)
	}
	e.ingest(t, "carol@customer.example", []string{"support@support.test"}, strings.Replace(mailFrom(8), "carol8@", "carol@", 1))
	if n := len(e.outboxAll(t)); n != before+1 {
		t.Fatalf("after clearing: %d rows, want %d", n, before+1)
	}
}

// A DSN nobody can tie to a mail we sent counts against nobody: a forged
// report cannot make an address undeliverable.
func TestBounceUnattributedCountsNothing(t *testing.T) {
	e := newOpsEnv(t, Protection{HardBounceLimit: 1})
	ctx := context.Background()
	res := e.ingest(t, "", []string{"support@support.test"}, dsn(1, "victim@customer.example", "5.1.1", "unknown@elsewhere.example"))
	if res.Outcome != store.OutcomeBounce || res.Case != "" {
		t.Fatalf("result %+v", res)
	}
	if st, _ := e.st.AddressStatus(ctx, "victim@customer.example"); st.HardBounces != 0 || st.Undeliverable {
		t.Fatalf("unattributed bounce counted: %+v", st)
	}
}

// A vacation notice sent to a bounce address (RFC 3834 §4 has responders
// answer the return path) is stored and answered by nobody.
func TestMailToBounceAddressIsNeverAnswered(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	verp := sentEnv(t, e)
	before := len(e.outboxAll(t))
	res := e.ingest(t, "carol1@customer.example", []string{verp[1]}, `From: carol1@customer.example
To: `+verp[1]+`
Subject: Re: your mail
Message-ID: <human.1@customer.example>

Why do I get mail from this address?
`)
	if res.Outcome != store.OutcomeIgnored || len(e.outboxAll(t)) != before {
		t.Fatalf("mail to a bounce address: %+v, %d rows", res, len(e.outboxAll(t)))
	}
}

// The one rule for undeliverable addresses: only a report at the bounce
// address of a notification, naming that notification's recipient, with an
// address-level reason counts. Each forged or irrelevant report is stored
// and counts nothing.
func TestBounceOnlyVerifiedAddressLevelReportsCount(t *testing.T) {
	e := newOpsEnv(t, Protection{HardBounceLimit: 1})
	addr := startSMTP(t, e.g, SMTPConfig{MaxMessageBytes: 1 << 20})
	ctx := context.Background()
	e.ingest(t, "carol@customer.example", []string{"support@support.test"}, `From: carol@customer.example
To: support@support.test
Cc: dave@customer.example
Subject: Printer
Message-ID: <p.1@customer.example>

It is broken.
`)
	verp := sentEnv(t, e)
	var toCarol, toDave int64
	for _, m := range e.outboxAll(t) {
		switch m.Recipient {
		case "carol@customer.example":
			toCarol = m.ID
		case "dave@customer.example":
			toDave = m.ID
		}
	}
	if toCarol == 0 || toDave == 0 {
		t.Fatalf("want a confirmation and a watcher notice, got %+v", e.outboxAll(t))
	}
	send := func(rcpt, raw string) {
		t.Helper()
		if err := smtpSend(t, addr, "", []string{rcpt}, raw); err != nil {
			t.Fatalf("report refused: %v", err)
		}
	}
	carolOK := func(what string) {
		t.Helper()
		if st, _ := e.st.AddressStatus(ctx, "carol@customer.example"); st.HardBounces != 0 || st.Undeliverable {
			t.Fatalf("%s counted against carol: %+v", what, st)
		}
	}
	// Dave, the watcher, knows the case's Message-IDs from References and
	// his own bounce address from Return-Path; neither lets him make carol
	// undeliverable.
	carolMsgID := e.outbox(t, toCarol).MessageID
	for i := 0; i < 3; i++ {
		send("support@support.test", dsn(10+i, "carol@customer.example", "5.1.1", carolMsgID))
	}
	carolOK("reports quoting her Message-ID")
	send(verp[toDave], dsn(20, "carol@customer.example", "5.1.1", carolMsgID))
	carolOK("a report at dave's bounce address naming carol")
	// At carol's own bounce address, reasons that are not about the
	// address count nothing either.
	for i, status := range []string{"5.2.2", "5.7.1", "5.3.4", "5.1.7", "4.4.1"} {
		send(verp[toCarol], dsn(30+i, "carol@customer.example", status, ""))
	}
	carolOK("mailbox full, policy, size, sender-side and temporary reports")
	if n, _ := e.st.CountMessages(ctx, store.OutcomeBounce); n != 9 {
		t.Fatalf("%d reports stored, want all 9", n)
	}
	// The real thing counts.
	send(verp[toCarol], dsn(40, "carol@customer.example", "5.1.1", ""))
	if st, _ := e.st.AddressStatus(ctx, "carol@customer.example"); st.HardBounces != 1 || !st.Undeliverable {
		t.Fatalf("a verified 5.1.1 for carol did not count: %+v", st)
	}
}

func TestAddressGone(t *testing.T) {
	for status, want := range map[string]bool{
		"5.1.1": true, "5.1.2": true, "5.1.6": true, "5.1.10": true, "5.2.1": true, "5.4.4": true,
		"5.1.7": false, "5.1.8": false, "5.2.2": false, "5.7.1": false, "5.0.0": false, "": false, "4.1.1": false,
	} {
		b := &mailparse.Bounce{Status: status, Permanent: strings.HasPrefix(status, "5")}
		if got := addressGone(b); got != want {
			t.Errorf("addressGone(%q) = %v, want %v", status, got, want)
		}
	}
}
