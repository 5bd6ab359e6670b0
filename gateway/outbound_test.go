package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

func mailFrom(n int) string {
	return fmt.Sprintf(`From: Carol <carol%d@customer.example>
To: support@support.test
Subject: Printer %d is offline
Message-ID: <printer.%d@customer.example>

It shows E42.
`, n, n, n)
}

func failAll(code int, enh smtp.EnhancedCode) func(string) *smtp.SMTPError {
	return func(string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: "injected"}
	}
}

// Temporary failures follow the schedule: about 5 minutes after the first,
// doubling, capped at an hour apart, ±20% jitter; nothing is sent early;
// the mail finally sent carries the row's Message-ID and bounce address,
// and every attempt's result is kept.
func TestOutboxRetrySchedule(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	e.relay.FailWith(failAll(451, smtp.EnhancedCode{4, 3, 0}))
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	rows := e.outboxAll(t)
	if len(rows) != 1 {
		t.Fatalf("%d outbox rows, want the confirmation", len(rows))
	}
	id := rows[0].ID
	want := []time.Duration{5, 10, 20, 40, 60, 60, 60}
	for i, minutes := range want {
		if n := e.sendDue(t); n != 1 {
			t.Fatalf("attempt %d: handled %d", i+1, n)
		}
		m := e.outbox(t, id)
		d := m.NextAttemptAt.Sub(e.clock.Now())
		base := minutes * time.Minute
		if m.Status != store.OutboxPending || m.Attempts != i+1 || d < base*8/10 || d > base*12/10 {
			t.Fatalf("after attempt %d: status %s, attempts %d, next in %v; want pending, %d, %v ±20%%",
				i+1, m.Status, m.Attempts, d, i+1, base)
		}
		if !strings.Contains(m.LastError, "451") {
			t.Errorf("last error %q does not name the 451", m.LastError)
		}
		e.clock.Set(m.NextAttemptAt.Add(-time.Second))
		if n := e.sendDue(t); n != 0 {
			t.Fatalf("sent %d mails a second before they were due", n)
		}
		e.clock.Set(m.NextAttemptAt)
	}
	e.relay.FailWith(nil)
	if n := e.sendDue(t); n != 1 {
		t.Fatalf("final attempt handled %d", n)
	}
	m := e.outbox(t, id)
	if m.Status != store.OutboxSent || m.SentAt == nil {
		t.Fatalf("status %s after the relay healed", m.Status)
	}
	got := e.relay.Mails()
	if len(got) != 1 || got[0].Header.Get("Message-Id") != "<"+m.MessageID+">" {
		t.Fatalf("relay got %d mails, Message-ID %q; want one with <%s>", len(got), got[0].Header.Get("Message-Id"), m.MessageID)
	}
	wantFrom, _ := e.g.verpAddress(context.Background(), id)
	if got[0].From != wantFrom {
		t.Errorf("envelope sender %q, want the bounce address %q", got[0].From, wantFrom)
	}
	attempts, err := e.st.Attempts(context.Background(), id)
	if err != nil || len(attempts) != len(want)+1 {
		t.Fatalf("%d attempts recorded (%v), want %d", len(attempts), err, len(want)+1)
	}
	for i, a := range attempts {
		wantResult := store.AttemptTemporary
		if i == len(attempts)-1 {
			wantResult = store.AttemptSent
		}
		if a.Result != wantResult || a.FinishedAt == nil {
			t.Errorf("attempt %d: %s (finished %v), want %s", i+1, a.Result, a.FinishedAt, wantResult)
		}
	}
}

// A 5xx answer makes the mail a dead letter at once; an operator's retry
// sends it again with the same Message-ID.
func TestOutbox5xxGoesDeadAndRetryFromDead(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	e.relay.FailWith(failAll(550, smtp.EnhancedCode{5, 1, 1}))
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	e.sendDue(t)
	m := e.outboxAll(t)[0]
	if m.Status != store.OutboxDead || m.Attempts != 1 || !strings.Contains(m.LastError, "550") {
		t.Fatalf("after a 550: status %s, attempts %d, error %q; want dead after one attempt", m.Status, m.Attempts, m.LastError)
	}
	dead, err := e.st.ListOutbox(context.Background(), store.OutboxDead, 0)
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters: %d, %v", len(dead), err)
	}
	e.clock.Advance(time.Hour)
	if n := e.sendDue(t); n != 0 {
		t.Fatalf("a dead letter was tried again by itself")
	}
	if err := e.g.RetryOutbox(context.Background(), m.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.g.RetryOutbox(context.Background(), m.ID); err == nil {
		t.Errorf("a pending row was retried as if dead")
	}
	e.relay.FailWith(nil)
	if n := e.sendDue(t); n != 1 {
		t.Fatalf("retried row handled %d", n)
	}
	after := e.outbox(t, m.ID)
	mails := e.relay.Mails()
	if after.Status != store.OutboxSent || len(mails) != 1 || mails[0].Header.Get("Message-Id") != "<"+m.MessageID+">" {
		t.Fatalf("after retry: %s, %d mails", after.Status, len(mails))
	}
}

// A mail still failing when its lifetime is over becomes a dead letter.
func TestOutboxLifetimeExpiry(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	e.relay.FailWith(failAll(421, smtp.EnhancedCode{4, 4, 5}))
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	e.sendDue(t)
	m := e.outboxAll(t)[0]
	if m.ExpiresAt.Sub(m.CreatedAt) != 5*24*time.Hour {
		t.Fatalf("lifetime %v, want the default 5 days", m.ExpiresAt.Sub(m.CreatedAt))
	}
	for e.outbox(t, m.ID).Status == store.OutboxPending {
		next := e.outbox(t, m.ID).NextAttemptAt
		e.clock.Set(next)
		if e.sendDue(t) != 1 {
			t.Fatal("due row not handled")
		}
		if e.clock.Now().After(m.ExpiresAt.Add(2 * time.Hour)) {
			t.Fatal("still pending well past its lifetime")
		}
	}
	got := e.outbox(t, m.ID)
	attempts, _ := e.st.Attempts(context.Background(), m.ID)
	last := attempts[len(attempts)-1]
	if got.Status != store.OutboxDead || last.Result != store.AttemptExpired || !e.clock.Now().After(m.ExpiresAt) {
		t.Fatalf("status %s, last attempt %s at %v (expires %v)", got.Status, last.Result, e.clock.Now(), m.ExpiresAt)
	}
	if len(attempts) < 30 || len(attempts) > 140 {
		t.Errorf("%d attempts over 5 days; the schedule is off", len(attempts))
	}
}

// A relay that drops the connection or never answers is a temporary
// failure.
func TestOutboxDropAndHangAreTemporary(t *testing.T) {
	for _, fault := range []gatewaytest.Fault{gatewaytest.Drop, gatewaytest.Hang} {
		e := newOpsEnv(t, Protection{})
		e.relay.SetFault(fault)
		e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
		e.sendDue(t)
		m := e.outboxAll(t)[0]
		if m.Status != store.OutboxPending || m.Attempts != 1 || m.LastError == "" {
			t.Fatalf("fault %d: status %s, attempts %d, error %q; want pending for a retry", fault, m.Status, m.Attempts, m.LastError)
		}
		e.relay.SetFault(gatewaytest.NoFault)
		e.clock.Set(m.NextAttemptAt)
		if e.sendDue(t) != 1 || e.outbox(t, m.ID).Status != store.OutboxSent {
			t.Fatalf("fault %d: not sent once the relay healed", fault)
		}
	}
}

// A crash between recording the attempt and the relay's answer leaves a
// "started" attempt and a pending row: the next worker sends it again with
// the same Message-ID.
func TestOutboxAttemptRecordedBeforeDial(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	m := e.outboxAll(t)[0]
	if _, err := e.st.StartAttempt(context.Background(), m.ID); err != nil { // the crashed worker
		t.Fatal(err)
	}
	if e.sendDue(t) != 1 {
		t.Fatal("the interrupted row was not sent again")
	}
	attempts, _ := e.st.Attempts(context.Background(), m.ID)
	if len(attempts) != 2 || attempts[0].Result != store.AttemptStarted || attempts[1].Result != store.AttemptSent {
		t.Fatalf("attempts %+v", attempts)
	}
	if mails := e.relay.Mails(); len(mails) != 1 || mails[0].Header.Get("Message-Id") != "<"+m.MessageID+">" {
		t.Fatalf("resent mail does not carry the row's Message-ID")
	}
}
