package outbound_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
)

// noting is the gateway's outbox that also keeps the refusals the pool
// tells it of.
type noting struct {
	*gateway.Outbox
	mu  sync.Mutex
	got map[string]outbound.Refusal // by recipient
}

func (n *noting) NoteRefusal(ctx context.Context, m store.OutboxMail, r outbound.Refusal) error {
	n.mu.Lock()
	n.got[m.Recipient] = r
	n.mu.Unlock()
	return n.Outbox.NoteRefusal(ctx, m, r)
}

// The pool tells a queue that wants to know of each permanent refusal at
// RCPT, with the reply code, the enhanced status code (read from the text
// when the relay did not announce them) and the answer; a temporary
// refusal is none.
func TestRefusalsAreNoted(t *testing.T) {
	e := newEnv(t)
	relay := gatewaytest.StartRelay(t)
	answers := map[string]*smtp.SMTPError{
		"unknown": {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
		"policy":  {Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "not here"},
		"bare":    {Code: 550, EnhancedCode: smtp.NoEnhancedCode, Message: "go away"},
		"busy":    {Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "try later"},
	}
	relay.FailWith(func(rcpt string) *smtp.SMTPError {
		local, _, _ := strings.Cut(rcpt, "@")
		return answers[local]
	})
	for local := range answers {
		e.queue(t, local+"@customer.example", 1)
	}
	q := &noting{Outbox: e.box, got: map[string]outbound.Refusal{}}
	p := e.pool(t, outbound.Config{Concurrency: 2}, relaySender(t, relay), q)
	if _, err := p.SendDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]outbound.Refusal{
		"unknown@customer.example": {Code: 550, Status: "5.1.1", Text: "550 5.1.1 no such user"},
		"policy@customer.example":  {Code: 554, Status: "5.7.1", Text: "554 5.7.1 not here"},
		"bare@customer.example":    {Code: 550, Status: "", Text: "550 go away"},
	}
	if len(q.got) != len(want) {
		t.Errorf("noted %v, want %v", q.got, want)
	}
	for rcpt, w := range want {
		if got := q.got[rcpt]; got != w {
			t.Errorf("%s: noted %+v, want %+v", rcpt, got, w)
		}
	}
}
