package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
)

// A worker keeps its relay connection for many mails: N mails go over at
// most one connection per worker, or one per SessionMails mails when that
// is lower; an idle connection is closed.
func TestRelayConnectionsAreReused(t *testing.T) {
	for _, tc := range []struct {
		name              string
		sessionMails      int
		minConns, maxConn int
	}{
		{"kept open", 0, 1, 4},
		{"closed after 5 mails", 5, 8, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			relay := gatewaytest.StartRelay(t)
			for i := range 39 {
				e.queue(t, fmt.Sprintf("r%d@customer.example", i), 1)
			}
			p := e.pool(t, outbound.Config{Concurrency: 4, SessionMails: tc.sessionMails, SessionIdle: time.Minute},
				relaySender(t, relay), nil)
			start(t, p)
			e.waitSent(t, 40)
			if got := len(relay.Mails()); got != 40 {
				t.Fatalf("relay got %d mails, want 40", got)
			}
			if n := relay.Connections(); n < tc.minConns || n > tc.maxConn {
				t.Fatalf("40 mails over %d connections, want %d to %d", n, tc.minConns, tc.maxConn)
			}
		})
	}
	t.Run("closed when idle", func(t *testing.T) {
		e := newEnv(t)
		relay := gatewaytest.StartRelay(t)
		p := e.pool(t, outbound.Config{Concurrency: 2, SessionIdle: 50 * time.Millisecond, Poll: 20 * time.Millisecond},
			relaySender(t, relay), nil)
		start(t, p)
		e.waitSent(t, 1)
		waitFor(t, "the idle connection to close", func() bool { return relay.OpenConnections() == 0 })
		e.queue(t, "later@customer.example", 1) // found at the next poll
		e.waitSent(t, 2)
		if n := relay.Connections(); n != 2 {
			t.Fatalf("%d connections, want a new one after the idle one closed", n)
		}
	})
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A refusal of one recipient keeps the connection (the transaction is
// reset); a 421 or a broken connection closes it, the mail's attempt is
// temporary, and the next mail opens a new connection.
func TestRelayRefusalsAndConnectionErrors(t *testing.T) {
	e := newEnv(t)
	relay := gatewaytest.StartRelay(t)
	relay.FailWith(func(rcpt string) *smtp.SMTPError {
		switch {
		case strings.HasPrefix(rcpt, "unknown"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(rcpt, "busy"):
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "closing"}
		}
		return nil
	})
	var ids []int64
	for _, rcpt := range []string{"a", "unknown", "b", "busy", "c"} {
		ids = append(ids, e.queue(t, rcpt+"@customer.example", 1)...)
	}
	p := e.pool(t, outbound.Config{Concurrency: 1, Batch: 10}, relaySender(t, relay), nil)
	if n, err := p.SendDue(context.Background()); err != nil || n != 6 {
		t.Fatalf("send due: %d, %v", n, err)
	}
	want := []string{store.OutboxSent, store.OutboxDead, store.OutboxSent, store.OutboxPending, store.OutboxSent}
	for i, id := range ids {
		if m := e.outbox(t, id); m.Status != want[i] {
			t.Errorf("row %d: %s (%s), want %s", i, m.Status, m.LastError, want[i])
		}
	}
	// One connection until the 421, one after it.
	if n := relay.Connections(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// A case's mails to one recipient reach the relay one at a time, in the
// order they were queued, while mail to other recipients goes in
// parallel over other connections.
func TestOneRecipientsMailsKeepTheirOrder(t *testing.T) {
	e := newEnv(t)
	relay := gatewaytest.StartRelay(t)
	const n = 30
	ordered := e.queue(t, "alice@customer.example", n)
	for i := range 10 {
		e.queue(t, fmt.Sprintf("other%d@customer.example", i), 3)
	}
	p := e.pool(t, outbound.Config{Concurrency: 8}, relaySender(t, relay), nil)
	start(t, p)
	e.waitSent(t, 1+n+30)

	var got []string
	lastOther, lastAlice := -1, -1
	for i, m := range relay.Mails() {
		if m.To[0] == "alice@customer.example" {
			got, lastAlice = append(got, m.Header.Get("Message-Id")), i
		} else if m.To[0] != "carol@customer.example" {
			lastOther = i
		}
	}
	var want []string
	for _, id := range ordered {
		want = append(want, "<"+e.outbox(t, id).MessageID+">")
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("alice's mails arrived as\n%v\nwant\n%v", got, want)
	}
	// Never two in flight: each attempt starts after the one before it
	// was recorded.
	var prevEnd time.Time
	for i, id := range ordered {
		a := e.attempts(t, id)
		if len(a) != 1 || a[0].FinishedAt == nil {
			t.Fatalf("mail %d: attempts %+v, want one finished", i, a)
		}
		if a[0].StartedAt.Before(prevEnd) {
			t.Fatalf("mail %d started at %v, before mail %d was recorded at %v", i, a[0].StartedAt, i-1, prevEnd)
		}
		prevEnd = *a[0].FinishedAt
	}
	if lastOther > lastAlice {
		t.Errorf("the other recipients' mails (3 each) finished after alice's %d", n)
	}
	if c := relay.Connections(); c < 2 {
		t.Errorf("%d connection: the other recipients did not go in parallel", c)
	}
}

// A kept connection that the relay closed meanwhile is replaced without
// failing the next mail: nothing had been offered over it.
func TestConnectionClosedByTheRelayIsReplaced(t *testing.T) {
	e := newEnv(t)
	relay := gatewaytest.StartRelay(t)
	p := e.pool(t, outbound.Config{Concurrency: 1, SessionIdle: time.Minute, Poll: 20 * time.Millisecond},
		relaySender(t, relay), nil)
	start(t, p)
	e.waitSent(t, 1)
	relay.CloseConnections()
	waitFor(t, "the relay to close the connection", func() bool { return relay.OpenConnections() == 0 })
	id := e.queue(t, "later@customer.example", 1)[0]
	e.waitSent(t, 2)
	if a := e.attempts(t, id); len(a) != 1 || a[0].Result != store.AttemptSent {
		t.Fatalf("attempts %+v, want one, sent", a)
	}
	if n := relay.Connections(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

// countingGuard allows a fixed number of mails and counts the questions.
type countingGuard struct {
	mu    sync.Mutex
	allow int
	asked int
}

func (g *countingGuard) Allowance(context.Context) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked++
	return g.allow, nil
}

// The circuit breaker is asked once per claimed batch, not per mail, and
// no more mails go than it allows.
func TestBreakerAskedOncePerBatch(t *testing.T) {
	e := newEnv(t)
	relay := gatewaytest.StartRelay(t)
	for i := range 19 {
		e.queue(t, fmt.Sprintf("r%d@customer.example", i), 1)
	}
	g := &countingGuard{allow: 1000}
	p := e.guardedPool(t, outbound.Config{Concurrency: 4, Batch: 20}, relaySender(t, relay), nil, g)
	if n, err := p.SendDue(context.Background()); err != nil || n != 20 || g.asked != 1 {
		t.Fatalf("sent %d (%v), breaker asked %d times; want 20 mails, one question", n, err, g.asked)
	}
	for i := range 10 {
		e.queue(t, fmt.Sprintf("s%d@customer.example", i), 1)
	}
	g.allow = 3
	if n, err := p.SendDue(context.Background()); err != nil || n != 3 {
		t.Fatalf("with 3 allowed: sent %d, %v", n, err)
	}
	g.allow = 0
	if n, err := p.SendDue(context.Background()); err != nil || n != 0 {
		t.Fatalf("with the breaker open: sent %d, %v", n, err)
	}
	if got := len(relay.Mails()); got != 23 {
		t.Fatalf("relay got %d mails, want 23", got)
	}
}

// panickyComposer panics for one recipient.
type panickyComposer struct {
	outbound.Composer
	rcpt string
}

func (c panickyComposer) Compose(ctx context.Context, m store.OutboxMail) (*gomail.Msg, error) {
	if m.Recipient == c.rcpt {
		panic("injected")
	}
	return c.Composer.Compose(ctx, m)
}

// A panic while composing one mail is recovered and reported; that mail
// is a temporary failure and the pool goes on with the others.
func TestPanicWhileSendingIsTemporary(t *testing.T) {
	e := newEnv(t)
	relay := gatewaytest.StartRelay(t)
	bad := e.queue(t, "bad@customer.example", 1)[0]
	for i := range 5 {
		e.queue(t, fmt.Sprintf("r%d@customer.example", i), 1)
	}
	var mu sync.Mutex
	var panics []string
	p, err := outbound.New(outbound.Config{Concurrency: 2, Log: newLogger(e), Panicked: func(where string, v any) {
		mu.Lock()
		defer mu.Unlock()
		panics = append(panics, fmt.Sprint(where, ": ", v))
	}}, e.box, panickyComposer{e.box, "bad@customer.example"}, e.box, relaySender(t, relay))
	if err != nil {
		t.Fatal(err)
	}
	start(t, p)
	e.waitSent(t, 6)
	waitFor(t, "the failed attempt to be recorded", func() bool { return e.outbox(t, bad).Attempts == 1 && e.outbox(t, bad).LastError != "" })
	if m := e.outbox(t, bad); m.Status != store.OutboxPending || !strings.Contains(m.LastError, "internal error") {
		t.Fatalf("the mail that panicked: %s, %q", m.Status, m.LastError)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(panics) != 1 || !strings.Contains(panics[0], "injected") {
		t.Fatalf("panics reported: %v", panics)
	}
}

// failingClaims is a Queue whose claims fail with err.
type failingClaims struct {
	outbound.Queue
	err error
}

func (q failingClaims) Claim(context.Context, int, []int64) ([]store.ClaimedMail, error) {
	return nil, q.err
}

// A failure of the store that StoreFailed reports itself (the gateway's
// full disk) is not logged again at every retry; any other is an ERROR.
func TestStoreFailuresReportedOnce(t *testing.T) {
	for _, handled := range []bool{true, false} {
		t.Run(fmt.Sprintf("reported elsewhere %v", handled), func(t *testing.T) {
			e := newEnv(t)
			var mu sync.Mutex
			var told []string
			p, err := outbound.New(outbound.Config{Log: newLogger(e), StoreFailed: func(where string, err error) bool {
				mu.Lock()
				defer mu.Unlock()
				told = append(told, where+": "+err.Error())
				return handled
			}}, failingClaims{e.box, errors.New("disk full")}, e.box, e.box, relaySender(t, gatewaytest.StartRelay(t)))
			if err != nil {
				t.Fatal(err)
			}
			stop := start(t, p)
			waitFor(t, "a failed claim", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(told) > 0
			})
			stop()
			if !strings.HasPrefix(told[0], "outbox claim: disk full") {
				t.Errorf("StoreFailed told %q", told[0])
			}
			n := strings.Count(e.logs.String(), "level=ERROR")
			if handled && n != 0 {
				t.Errorf("%d ERROR lines for a failure reported elsewhere:\n%s", n, e.logs)
			}
			if !handled && n == 0 {
				t.Errorf("no ERROR line for a failed claim:\n%s", e.logs)
			}
		})
	}
}
