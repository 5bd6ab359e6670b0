package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/store"
)

// Each loop rule, end to end through the SMTP listener: the mail is
// stored, and nothing is queued to answer it.
func TestLoopRulesThroughSMTP(t *testing.T) {
	hops := strings.Repeat("Received: from a.example by b.example; Mon, 23 Nov 2026 09:00:00 +0000\n", 51)
	check := func(name, from, headers, wantOutcome string) {
		t.Run(name, func(t *testing.T) {
			e := newOpsEnv(t, Protection{})
			addr := startSMTP(t, e.g, SMTPConfig{MaxMessageBytes: 1 << 20})
			raw := headers + `To: support@support.test
Subject: Something
Message-ID: <loop.1@customer.example>

Text.
`
			if !strings.Contains(headers, "From:") {
				raw = "From: carol@customer.example\n" + raw
			}
			if err := smtpSend(t, addr, from, []string{"support@support.test"}, raw); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if rows := e.outboxAll(t); len(rows) != 0 {
				t.Fatalf("%d mails queued in answer (%s to %s)", len(rows), rows[0].Template, rows[0].Recipient)
			}
			ctx := context.Background()
			if wantOutcome == OutcomeQuarantined {
				q, _ := e.st.ListQuarantine(ctx, 0)
				if len(q) != 1 || q[0].Reason != "too_many_hops" {
					t.Fatalf("quarantine %+v, want one too_many_hops", q)
				}
				return
			}
			if n, _ := e.st.CountMessages(ctx, wantOutcome); n != 1 {
				all, _ := e.st.CountMessages(ctx, "")
				t.Fatalf("no message stored as %s (%d stored in all)", wantOutcome, all)
			}
		})
	}
	check("null sender", "", "", store.OutcomeBounce)
	check("MAILER-DAEMON", "mailer-daemon@mx.example", "From: MAILER-DAEMON@mx.example\n", store.OutcomeBounce)
	check("Auto-Submitted", "carol@customer.example", "Auto-Submitted: auto-replied\n", store.OutcomeNewCase)
	check("Precedence bulk", "carol@customer.example", "Precedence: bulk\n", store.OutcomeNewCase)
	check("List-Id", "carol@customer.example", "List-Id: <users.lists.example>\n", store.OutcomeNewCase)
	check("owner- envelope sender", "owner-users@lists.example", "", store.OutcomeNewCase)
	check("-request sender", "users-request@lists.example", "From: users-request@lists.example\n", store.OutcomeNewCase)
	check("our loop header", "carol@customer.example", "X-Casegate-Loop: support.test\n", store.OutcomeIgnored)
	check("our own address", "support@support.test", "From: Support <support@support.test>\n", store.OutcomeIgnored)
	check("too many hops", "carol@customer.example", hops, OutcomeQuarantined)
}

// A watcher with a machine's address, or ours, is never mailed.
func TestSuppressedRecipients(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	e.ingest(t, "carol@customer.example", []string{"support@support.test"}, `From: carol@customer.example
To: support@support.test
Cc: noreply@customer.example, dave@customer.example
Subject: Printer
Message-ID: <sup.1@customer.example>

Text.
`)
	got := map[string]bool{}
	for _, m := range e.outboxAll(t) {
		got[m.Recipient] = true
	}
	if !got["carol@customer.example"] || !got["dave@customer.example"] || got["noreply@customer.example"] {
		t.Fatalf("queued to %v", got)
	}
	sup, _ := e.st.Suppressions(context.Background(), 0)
	if len(sup) != 1 || sup[0].Recipient != "noreply@customer.example" || sup[0].Reason != SuppressAutomatic {
		t.Fatalf("suppressions %+v", sup)
	}
}

// The budget per recipient: at most N notifications an hour, the rest
// suppressed and recorded; an hour later mail flows again.
func TestBudgetPerRecipient(t *testing.T) {
	e := newOpsEnv(t, Protection{BudgetPerRecipient: 2})
	for i := 1; i <= 3; i++ {
		e.ingest(t, "carol@customer.example", []string{"support@support.test"},
			strings.Replace(mailFrom(i), fmt.Sprintf("carol%d@", i), "carol@", 1))
	}
	if n := len(e.outboxAll(t)); n != 2 {
		t.Fatalf("%d queued, want the budget of 2", n)
	}
	sup, _ := e.st.Suppressions(context.Background(), 0)
	if len(sup) != 1 || sup[0].Reason != SuppressBudgetRecipient {
		t.Fatalf("suppressions %+v", sup)
	}
	e.clock.Advance(time.Hour + time.Minute)
	e.ingest(t, "carol@customer.example", []string{"support@support.test"}, strings.Replace(mailFrom(4), "carol4@", "carol@", 1))
	if n := len(e.outboxAll(t)); n != 3 {
		t.Fatalf("an hour later: %d queued, want 3", n)
	}
}

// The budget per case: one event with many watchers mails at most N.
func TestBudgetPerCase(t *testing.T) {
	e := newOpsEnv(t, Protection{BudgetPerCase: 2})
	e.ingest(t, "carol@customer.example", []string{"support@support.test"}, `From: carol@customer.example
To: support@support.test
Cc: a@customer.example, b@customer.example, c@customer.example
Subject: Printer
Message-ID: <budget.1@customer.example>

Text.
`)
	if n := len(e.outboxAll(t)); n != 2 {
		t.Fatalf("%d queued, want the case budget of 2", n)
	}
	sup, _ := e.st.Suppressions(context.Background(), 0)
	if len(sup) != 2 || sup[0].Reason != SuppressBudgetCase {
		t.Fatalf("suppressions %+v", sup)
	}
}

func getHealth(t *testing.T, g *Gateway) map[string]any {
	t.Helper()
	h, _ := g.Health(context.Background())
	b, err := json.Marshal(h) // as /healthz shows it
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("healthz: %v: %s", err, b)
	}
	return body
}

// The circuit breaker: after N mails within the window the worker stops,
// says so at ERROR and in /healthz, keeps the rest pending, and resumes
// once the window has passed.
func TestCircuitBreaker(t *testing.T) {
	e := newOpsEnv(t, Protection{BreakerLimit: 2, BreakerWindow: 10 * time.Minute})
	for i := 1; i <= 3; i++ {
		e.ingest(t, fmt.Sprintf("carol%d@customer.example", i), []string{"support@support.test"}, mailFrom(i))
	}
	if h := getHealth(t, e.g); h["status"] != "ok" || h["circuit_breaker"] != "closed" {
		t.Fatalf("healthz before: %v", h)
	}
	if n := e.sendDue(t); n != 2 {
		t.Fatalf("first batch sent %d, want the limit of 2", n)
	}
	if n := e.sendDue(t); n != 0 {
		t.Fatalf("sent %d with the breaker open", n)
	}
	if h := getHealth(t, e.g); h["status"] != "degraded" || h["circuit_breaker"] != "open" {
		t.Fatalf("healthz with the breaker open: %v", h)
	}
	if !strings.Contains(e.logs.String(), `level=ERROR msg="circuit breaker open`) {
		t.Errorf("breaker opening not logged at ERROR:\n%s", e.logs)
	}
	pending, _ := e.st.ListOutbox(context.Background(), store.OutboxPending, 0)
	if len(pending) != 1 {
		t.Fatalf("%d pending, want the third mail kept", len(pending))
	}
	e.clock.Advance(11 * time.Minute)
	if n := e.sendDue(t); n != 1 {
		t.Fatalf("after the window: sent %d, want 1", n)
	}
	if h := getHealth(t, e.g); h["status"] != "ok" || h["circuit_breaker"] != "closed" {
		t.Fatalf("healthz after: %v", h)
	}
	if len(e.relay.Mails()) != 3 {
		t.Fatalf("relay got %d mails, want all 3", len(e.relay.Mails()))
	}
}
