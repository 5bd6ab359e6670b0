package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/store"
)

// A notification that later bounced reads bounced, with the report's
// status and reason and a link to the stored report, in the store, the
// list and the single-row API; the sent filter no longer shows it.
func TestOutboxShowsBounced(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	e.ingest(t, "carol2@customer.example", []string{"support@support.test"}, mailFrom(2))
	verp := sentEnv(t, e)
	res := e.ingest(t, "", []string{verp[1]}, dsn(1, "carol1@customer.example", "5.1.1", ""))
	if res.Outcome != store.OutcomeBounce || res.MessageID == 0 {
		t.Fatalf("report: %+v", res)
	}

	m := e.outbox(t, 1)
	if m.Status != store.OutboxBounced || m.Bounce == nil {
		t.Fatalf("row 1 after a failure report: status %s, bounce %+v", m.Status, m.Bounce)
	}
	if b := m.Bounce; b.Status != "5.1.1" || b.Reason != "user_unknown" || b.MessageID != res.MessageID || b.Via != "verp" ||
		!b.Counted || !b.Permanent || b.Recipient != "carol1@customer.example" {
		t.Errorf("bounce %+v", b)
	}
	if m := e.outbox(t, 2); m.Status != store.OutboxSent || m.Bounce != nil {
		t.Errorf("row 2, no report: %s %+v", m.Status, m.Bounce)
	}

	m, _, err := e.g.OutboxMail(context.Background(), 1)
	if err != nil || m.Status != store.OutboxBounced || m.Bounce == nil || m.Bounce.Status != "5.1.1" || m.Bounce.Reason != "user_unknown" {
		t.Fatalf("outbox 1: %+v %+v %v", m, m.Bounce, err)
	}
	report, err := e.g.Message(context.Background(), m.Bounce.MessageID)
	if err != nil || !strings.Contains(string(report.Raw), "Final-Recipient: rfc822; carol1@customer.example") {
		t.Errorf("the report %d: %.200s %v", m.Bounce.MessageID, report.Raw, err)
	}
	for status, want := range map[string][]int64{"bounced": {1}, "sent": {2}, "": {2, 1}} {
		rows, err := e.g.ListOutbox(context.Background(), status, 0)
		var got []int64
		for _, r := range rows {
			got = append(got, r.ID)
		}
		if err != nil || len(got) != len(want) || got[0] != want[0] {
			t.Errorf("status=%s: rows %v, want %v (%v)", status, got, want, err)
		}
	}
}

// A delay warning (DSN action delayed) is no failed delivery: the row
// stays sent with the warning noted as delayed, the address counts no
// bounce of any kind; a failure reported afterwards makes it bounced. A
// DSN whose action is failed is a failure even with a 4.x.x status.
func TestOutboxDelayIsNotFailure(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	ctx := context.Background()
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	e.ingest(t, "carol2@customer.example", []string{"support@support.test"}, mailFrom(2))
	verp := sentEnv(t, e)

	res := e.ingest(t, "", []string{verp[1]}, dsn(1, "carol1@customer.example", "4.4.1", ""))
	m := e.outbox(t, 1)
	if m.Status != store.OutboxSent || m.Bounce != nil || m.Delayed == nil {
		t.Fatalf("after a delay warning: status %s, bounce %+v, delayed %+v", m.Status, m.Bounce, m.Delayed)
	}
	if d := m.Delayed; d.Reason != "delayed" || d.Status != "4.4.1" || d.MessageID != res.MessageID || d.Counted {
		t.Errorf("delayed %+v", d)
	}
	if a, _ := e.st.AddressStatus(ctx, "carol1@customer.example"); a.HardBounces != 0 || a.SoftBounces != 0 {
		t.Errorf("a delay counted: %+v", a)
	}
	if !traceHas(res.Trace, "bounce", "delayed") {
		t.Errorf("trace %+v", res.Trace)
	}
	c, _ := e.st.CaseByNumber(ctx, "CS0000001")
	acts, _ := e.st.Activities(ctx, c.ID)
	if last := acts[len(acts)-1]; !strings.Contains(last.Body, "is delayed (4.4.1)") {
		t.Errorf("case note %q", last.Body)
	}

	e.ingest(t, "", []string{verp[1]}, dsn(2, "carol1@customer.example", "5.1.1", ""))
	if m := e.outbox(t, 1); m.Status != store.OutboxBounced || m.Bounce == nil || m.Delayed == nil {
		t.Errorf("after the failure: %s %+v %+v", m.Status, m.Bounce, m.Delayed)
	}

	expired := strings.Replace(dsn(3, "carol2@customer.example", "4.4.7", ""), "Action: delayed", "Action: failed", 1)
	e.ingest(t, "", []string{verp[2]}, expired)
	if m := e.outbox(t, 2); m.Status != store.OutboxBounced || m.Bounce == nil || m.Bounce.Reason != "expired" || m.Delayed != nil {
		t.Errorf("a failed DSN with 4.4.7: %s %+v %+v", m.Status, m.Bounce, m.Delayed)
	}
}

// The relay's permanent refusal of a recipient at RCPT with an
// address-level status counts like a hard bounce, once per outbox row
// however often the row is tried; three such rows make the address
// undeliverable. A refusal for policy (5.7.1) is recorded and counts
// nothing.
func TestRelayRefusalCountsAsHardBounce(t *testing.T) {
	e := newOpsEnv(t, Protection{HardBounceLimit: 3})
	ctx := context.Background()
	e.relay.FailWith(func(rcpt string) *smtp.SMTPError {
		if strings.HasPrefix(rcpt, "policy@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied by policy"}
		}
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + rcpt + ">: Recipient address rejected: User unknown"}
	})
	mail := func(n int, from string) string {
		return strings.Replace(mailFrom(n), "carol"+string(rune('0'+n))+"@customer.example", from, 1)
	}
	e.ingest(t, "gone@customer.example", []string{"support@support.test"}, mail(1, "gone@customer.example"))
	e.sendDue(t)

	m := e.outbox(t, 1)
	if m.Status != store.OutboxDead || m.Bounce == nil {
		t.Fatalf("refused row: %s %+v", m.Status, m.Bounce)
	}
	if b := m.Bounce; b.Via != "relay" || b.Status != "5.1.1" || b.Reason != "user_unknown" || !b.Counted || b.MessageID != 0 ||
		!strings.Contains(b.Detail, "User unknown") {
		t.Errorf("refusal %+v", b)
	}
	if a, _ := e.st.AddressStatus(ctx, "gone@customer.example"); a.HardBounces != 1 || a.Undeliverable {
		t.Fatalf("after one refusal: %+v", a)
	}
	// The same row tried again and refused again counts no more.
	if err := e.g.RetryOutbox(ctx, 1); err != nil {
		t.Fatal(err)
	}
	e.sendDue(t)
	if a, _ := e.st.AddressStatus(ctx, "gone@customer.example"); a.HardBounces != 1 {
		t.Fatalf("a row refused twice counted %d times", a.HardBounces)
	}
	c, _ := e.st.CaseByNumber(ctx, "CS0000001")
	acts, _ := e.st.Activities(ctx, c.ID)
	if last := acts[len(acts)-1]; last.Kind != "delivery" || !strings.Contains(last.Body, "refused case_created to gone@customer.example") {
		t.Errorf("case note %+v", last)
	}

	// Two more rows refused: the third hard bounce makes it undeliverable.
	for n := 2; n <= 3; n++ {
		e.ingest(t, "gone@customer.example", []string{"support@support.test"}, mail(n, "gone@customer.example"))
		e.sendDue(t)
	}
	if a, _ := e.st.AddressStatus(ctx, "gone@customer.example"); a.HardBounces != 3 || !a.Undeliverable {
		t.Fatalf("after three refused rows: %+v", a)
	}

	e.ingest(t, "policy@customer.example", []string{"support@support.test"}, mail(4, "policy@customer.example"))
	e.sendDue(t)
	rows, _ := e.st.ListOutbox(ctx, store.OutboxDead, 1)
	if len(rows) != 1 || rows[0].Recipient != "policy@customer.example" || rows[0].Bounce == nil || rows[0].Bounce.Counted ||
		rows[0].Bounce.Status != "5.7.1" {
		t.Fatalf("policy refusal: %+v", rows)
	}
	if a, _ := e.st.AddressStatus(ctx, "policy@customer.example"); a.HardBounces != 0 {
		t.Errorf("a policy refusal counted: %+v", a)
	}
}
