package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/casegate/casegate/store"
)

// arf is a feedback report (RFC 5965) about a mail whose envelope sender
// was mailFrom, sent to support@.
func arf(n int, mailFrom, rcpt string) string {
	return fmt.Sprintf(`From: Feedback Loop <fbl@isp.example>
To: support@support.test
Subject: Abuse report
Message-ID: <fbl.%d@isp.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b"

--b
Content-Type: text/plain

This is an abuse report for a message received from your address.

--b
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ISP-FBL/1.0
Version: 1
Original-Mail-From: <%s>
Original-Rcpt-To: <%s>

--b
Content-Type: text/rfc822-headers

From: Support <support@support.test>
Subject: [CS0000001] Printer

--b--
`, n, mailFrom, rcpt)
}

// A complaint that names one of our notifications by its bounce address
// stops mail to that notification's recipient until an agent clears the
// address, and never opens a case; one that does not (a forged or missing
// bounce address) counts nothing.
func TestComplaintStopsMailToWhoComplained(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	ctx := context.Background()
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	verp := sentEnv(t, e)
	var rowID int64
	for id := range verp {
		rowID = id
	}
	row := e.outbox(t, rowID)

	forged := strings.Replace(verp[rowID], "-", "-x", 1)
	res := e.ingest(t, "", []string{"support@support.test"}, arf(1, forged, row.Recipient))
	if res.Outcome != store.OutcomeIgnored || res.Case != "" {
		t.Fatalf("a complaint naming a forged bounce address: %+v", res)
	}
	if a, _ := e.st.AddressStatus(ctx, row.Recipient); a.Undeliverable {
		t.Fatalf("a forged complaint made %s undeliverable", row.Recipient)
	}

	res = e.ingest(t, "", []string{"support@support.test"}, arf(2, verp[rowID], "redacted@isp.example"))
	if res.Outcome != store.OutcomeBounce || res.Case != "CS0000001" {
		t.Fatalf("an attributed complaint: %+v", res)
	}
	a, err := e.st.AddressStatus(ctx, row.Recipient)
	if err != nil || !a.Undeliverable || a.LastReason != store.ReasonComplaint || a.HardBounces != 0 {
		t.Fatalf("after the complaint: %+v %v", a, err)
	}
	if cases, _ := e.st.ListCases(ctx, store.CaseFilter{}); len(cases) != 1 {
		t.Fatalf("a complaint opened a case: %d cases", len(cases))
	}
	// The next notification to her is suppressed, until an agent clears her.
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"},
		"From: carol1@customer.example\nTo: support@support.test\nSubject: Re: [CS0000001] Printer\nMessage-ID: <c.2@customer.example>\n\nStill broken.\n")
	if _, err := e.g.Comment(ctx, "CS0000001", "We are on it.", true, Actor{Email: agent}); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.outboxAll(t) {
		if m.ID > rowID && strings.EqualFold(m.Recipient, row.Recipient) {
			t.Fatalf("queued to %s after her complaint: %+v", row.Recipient, m)
		}
	}
}

// An address counts a hard bounce only for a reason that says the address
// is gone, as the parser reads the report: a full mailbox or a spam
// refusal does not, and addresses show the reason.
func TestBounceReasonsDecideWhatCounts(t *testing.T) {
	e := newOpsEnv(t, Protection{HardBounceLimit: 1})
	ctx := context.Background()
	for n := 1; n <= 2; n++ {
		e.ingest(t, fmt.Sprintf("carol%d@customer.example", n), []string{"support@support.test"}, mailFrom(n))
	}
	verp := sentEnv(t, e)
	byRcpt := map[string]string{}
	for id, addr := range verp {
		byRcpt[e.outbox(t, id).Recipient] = addr
	}
	full := strings.Replace(dsn(1, "carol1@customer.example", "5.2.2", ""), "Status: 5.2.2",
		"Status: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 mailbox full", 1)
	e.ingest(t, "", []string{byRcpt["carol1@customer.example"]}, full)
	if a, _ := e.st.AddressStatus(ctx, "carol1@customer.example"); a.Undeliverable || a.HardBounces != 0 {
		t.Errorf("a full mailbox counted: %+v", a)
	}
	for id, addr := range verp {
		if m := e.outbox(t, id); addr == byRcpt["carol1@customer.example"] && (m.Bounce == nil || m.Bounce.Reason != "mailbox_full") {
			t.Errorf("the full mailbox's report on outbox %d: %+v", id, m.Bounce)
		}
	}
	gone := strings.Replace(dsn(2, "carol2@customer.example", "5.1.1", ""), "Status: 5.1.1",
		"Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown", 1)
	e.ingest(t, "", []string{byRcpt["carol2@customer.example"]}, gone)
	if a, _ := e.st.AddressStatus(ctx, "carol2@customer.example"); !a.Undeliverable || a.HardBounces != 1 || a.LastReason != "user_unknown" {
		t.Errorf("an unknown user: %+v", a)
	}
}
