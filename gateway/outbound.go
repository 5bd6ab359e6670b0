package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/casegate/casegate/store"
)

// RetryPolicy is the outbox's schedule for temporary failures.
type RetryPolicy struct {
	First time.Duration // delay after the first failure (default 5m)
	Max   time.Duration // cap between attempts (default 1h)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.First <= 0 {
		p.First = 5 * time.Minute
	}
	if p.Max <= 0 {
		p.Max = time.Hour
	}
	return p
}

// Delay is how long to wait after the attempt-th failed attempt (1-based):
// First doubling each time, capped at Max, with ±20% jitter so a relay
// outage does not end in a thundering herd.
func (p RetryPolicy) Delay(attempt int) time.Duration {
	p = p.withDefaults()
	d := p.First
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + jitter
}

// Outbound is the worker that sends the outbox.
type Outbound struct {
	g      *Gateway
	sender Sender
	retry  RetryPolicy
	poll   time.Duration
}

// NewOutbound returns a worker sending through sender.
func (g *Gateway) NewOutbound(sender Sender, retry RetryPolicy) *Outbound {
	return &Outbound{g: g, sender: sender, retry: retry.withDefaults(), poll: 5 * time.Second}
}

// Run sends due mail until ctx is cancelled. It wakes when ingestion queues
// mail and otherwise when the next retry is due, polling at most every few
// seconds so rows written by another process (the CLI) are seen too. While
// the circuit breaker is open it only polls.
func (o *Outbound) Run(ctx context.Context) error {
	if n, err := o.g.store.MarkInterrupted(ctx); err != nil {
		return err
	} else if n > 0 {
		o.g.log.Warn("outbox attempts interrupted by the last stop; those mails go out again", "attempts", n)
	}
	for {
		n, err := o.SendDue(ctx)
		if err != nil && ctx.Err() == nil {
			o.g.log.Error("outbox", "err", err)
		}
		if n > 0 {
			continue
		}
		wait := o.poll
		if next, ok, err := o.g.store.NextDue(ctx); err == nil && ok && !o.g.ops.breakerOpen.Load() {
			wait = min(wait, max(time.Until(next), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-o.g.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// SendDue sends one batch of due mail and reports how many it handled. It
// sends nothing while the circuit breaker is open, and stops a batch when
// the breaker's limit is reached.
func (o *Outbound) SendDue(ctx context.Context) (int, error) {
	b, err := o.g.Breaker(ctx)
	if err != nil || b.Open {
		return 0, err
	}
	due, err := o.g.store.DueMail(ctx, min(50, b.Limit-b.Sent))
	if err != nil {
		return 0, err
	}
	for _, m := range due {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err := o.deliver(ctx, m); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

// deliver makes one attempt at one outbox row. The attempt is recorded
// before the relay is dialled; a crash in between leaves a "started"
// attempt and the row still pending, so it is sent again with the same
// Message-ID.
func (o *Outbound) deliver(ctx context.Context, m store.OutboxMail) (err error) {
	log := o.g.log.With("outbox_id", m.ID, "case", m.CaseNumber, "template", m.Template)
	attempt, err := o.g.store.StartAttempt(ctx, m.ID)
	if err != nil {
		return err
	}
	now := o.g.store.Now()
	if now.After(m.ExpiresAt) {
		log.Warn("outbox mail expired", "attempts", m.Attempts)
		err := o.g.store.FinishAttempt(ctx, m.ID, attempt, store.AttemptResult{Result: store.AttemptExpired, Error: "lifetime exceeded: " + m.LastError})
		if err == nil {
			o.g.RecordNotification(m, store.AttemptExpired)
		}
		return err
	}
	sendErr := o.send(ctx, m)
	r := store.AttemptResult{Result: store.AttemptSent}
	var perm *PermanentError
	switch {
	case sendErr == nil:
		log.Info("mail sent", "to", m.Recipient)
	case errors.As(sendErr, &perm):
		r = store.AttemptResult{Result: store.AttemptPermanent, Error: sendErr.Error()}
		log.Warn("mail failed permanently", "to", m.Recipient, "err", sendErr)
	default:
		r = store.AttemptResult{Result: store.AttemptTemporary, Error: sendErr.Error(), Next: now.Add(o.retry.Delay(m.Attempts + 1))}
		log.Warn("mail failed, will retry", "to", m.Recipient, "err", sendErr, "next_attempt_at", r.Next)
	}
	// Record the result even if ctx was cancelled meanwhile.
	if err := o.g.store.FinishAttempt(context.WithoutCancel(ctx), m.ID, attempt, r); err != nil {
		return err
	}
	o.g.RecordNotification(m, r.Result)
	return nil
}

// send composes and sends, turning a panic into a temporary error.
func (o *Outbound) send(ctx context.Context, m store.OutboxMail) (err error) {
	defer func() {
		if v := recover(); v != nil {
			o.g.notePanic("outbound", v)
			err = errors.New("internal error while sending")
		}
	}()
	msg, err := o.g.compose(m)
	if err != nil {
		return &PermanentError{Err: err}
	}
	// The bounce address names this row, so a report on it is attributed
	// exactly (verp.go).
	bounceTo, err := o.g.verpAddress(ctx, m.ID)
	if err != nil {
		return err
	}
	if err := msg.EnvelopeFrom(bounceTo); err != nil {
		return &PermanentError{Err: fmt.Errorf("envelope sender %q: %w", bounceTo, err)}
	}
	return o.sender.Send(ctx, msg)
}
