package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/casegate/casegate/store"
)

// The per-domain level of the breaker: a domain over its limit has its
// further mail spread over the next window, other domains' mail goes at
// once, /healthz names the held domain, and nothing is lost.
func TestBreakerPerDomainHoldsOnlyThatDomain(t *testing.T) {
	e := newOpsEnv(t, Protection{BreakerLimit: 100, BreakerPerDomain: 3, BreakerWindow: 10 * time.Minute})
	mail := func(from string, i int) string {
		return fmt.Sprintf("From: %s\nTo: support@support.test\nSubject: Case %d\nMessage-ID: <bd.%d@x.example>\n\nText.\n", from, i, i)
	}
	for i := 0; i < 6; i++ {
		from := fmt.Sprintf("flood%d@evil.example", i)
		e.ingest(t, from, []string{"support@support.test"}, mail(from, i))
	}
	e.ingest(t, "carol@customer.example", []string{"support@support.test"}, mail("carol@customer.example", 99))
	if n := e.sendDue(t); n != 4 {
		t.Fatalf("sent %d, want 3 to evil.example and carol's", n)
	}
	sent := map[string]bool{}
	for _, m := range e.relay.Mails() {
		sent[m.To[0]] = true
	}
	if !sent["carol@customer.example"] {
		t.Fatalf("carol's confirmation held behind another domain's flood: sent %v", sent)
	}
	now := e.clock.Now()
	next := now.Truncate(10 * time.Minute).Add(10 * time.Minute)
	var dues []time.Time
	for _, m := range e.outboxAll(t) {
		if m.Status == store.OutboxPending {
			dues = append(dues, m.NextAttemptAt)
		}
	}
	if len(dues) != 3 {
		t.Fatalf("%d pending, want the 3 held", len(dues))
	}
	for i, d := range dues { // newest first: spread over the next window
		want := next.Add(time.Duration(2-i) * 10 * time.Minute / 3)
		if !d.Equal(want) {
			t.Errorf("held mail %d due %v, want %v", i, d, want)
		}
	}
	h := getHealth(t, e.g)
	if h["status"] != "ok" || h["circuit_breaker"] != "closed" {
		t.Fatalf("one domain's flood tripped the breaker: %v", h)
	}
	held, _ := h["held_domains"].([]any)
	if len(held) != 1 || held[0].(map[string]any)["domain"] != "evil.example" || held[0].(map[string]any)["held"] != float64(3) {
		t.Fatalf("held_domains = %v", h["held_domains"])
	}
	e.clock.Set(next.Add(7 * time.Minute))
	if n := e.sendDue(t); n != 3 {
		t.Fatalf("in the next window: sent %d, want the 3 held", n)
	}
	if h := getHealth(t, e.g); len(h["held_domains"].([]any)) != 0 {
		t.Fatalf("held_domains after: %v", h["held_domains"])
	}
}

// A mail that could only go out after its lifetime is suppressed and
// recorded, not queued to expire.
func TestBreakerPerDomainBeyondLifetime(t *testing.T) {
	e := newOpsEnv(t, Protection{BreakerPerDomain: 1, BreakerWindow: time.Hour})
	e.g.cfg.OutboxLifetime = 90 * time.Minute
	for i := 0; i < 4; i++ {
		from := fmt.Sprintf("f%d@evil.example", i)
		e.ingest(t, from, []string{"support@support.test"},
			fmt.Sprintf("From: %s\nTo: support@support.test\nSubject: Case\nMessage-ID: <bl.%d@x.example>\n\nText.\n", from, i))
	}
	if n := len(e.outboxAll(t)); n != 2 {
		t.Fatalf("%d queued, want 2 (this window and the next)", n)
	}
	sup, _ := e.st.Suppressions(context.Background(), 0)
	if len(sup) != 2 || sup[0].Reason != SuppressBreaker {
		t.Fatalf("suppressions %+v", sup)
	}
}
