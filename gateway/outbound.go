package gateway

import (
	"context"
	"fmt"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
)

// Outbox is what the outbound sender pool (package outbound) needs of the
// gateway: the durable outbox, each row composed into a mail with its
// bounce address, and the circuit breaker. It implements outbound.Queue,
// outbound.Composer and outbound.Guard.
type Outbox struct{ g *Gateway }

// Outbox returns the gateway's outbox for the sender pool.
func (g *Gateway) Outbox() *Outbox { return &Outbox{g: g} }

// MarkInterrupted closes the attempts a stopped process left open: this
// instance's, and those of instances whose claims ran out.
func (o *Outbox) MarkInterrupted(ctx context.Context) (int64, error) {
	return o.g.store.MarkInterrupted(ctx, o.g.cfg.InstanceID)
}

// Claim claims due rows for this instance, at most one per case and
// recipient, and starts their attempts.
func (o *Outbox) Claim(ctx context.Context, limit int, exclude []int64) ([]store.ClaimedMail, error) {
	return o.g.store.ClaimMail(ctx, o.g.cfg.InstanceID, o.g.cfg.Lease, limit, exclude...)
}

// Renew extends this instance's claims on the rows ids; it returns those
// another instance took over.
func (o *Outbox) Renew(ctx context.Context, ids []int64) ([]int64, error) {
	return o.g.store.RenewClaims(ctx, o.g.cfg.InstanceID, o.g.cfg.Lease, ids)
}

// NextDue returns when the next row becomes due.
func (o *Outbox) NextDue(ctx context.Context, exclude []int64) (time.Time, bool, error) {
	return o.g.store.NextDue(ctx, exclude...)
}

// FinishAttempts records the results of attempts.
func (o *Outbox) FinishAttempts(ctx context.Context, outcomes []store.AttemptOutcome) error {
	if err := o.g.store.FinishAttempts(ctx, outcomes); err != nil {
		return err
	}
	for _, r := range outcomes {
		o.g.RecordNotification(store.OutboxMail{ID: r.Outbox, CreatedAt: r.Queued}, r.Result)
	}
	return nil
}

// Queued receives a value when ingestion or an operator queued mail.
func (o *Outbox) Queued() <-chan struct{} { return o.g.wake }

// Now is the store's clock.
func (o *Outbox) Now() time.Time { return o.g.store.Now() }

// Allowance is how many mails the circuit breaker lets go now: none while
// it is open.
func (o *Outbox) Allowance(ctx context.Context) (int, error) {
	b, err := o.g.Breaker(ctx)
	if err != nil || b.Open {
		return 0, err
	}
	return b.Limit - b.Sent, nil
}

// Compose renders row m into a mail with the headers of SPEC §4 and the
// envelope sender that names the row (verp.go), so a report on it is
// attributed exactly.
func (o *Outbox) Compose(ctx context.Context, m store.OutboxMail) (*gomail.Msg, error) {
	msg, err := o.g.compose(m)
	if err != nil {
		return nil, &outbound.PermanentError{Err: err}
	}
	bounceTo, err := o.g.verpAddress(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	if err := msg.EnvelopeFrom(bounceTo); err != nil {
		return nil, &outbound.PermanentError{Err: fmt.Errorf("envelope sender %q: %w", bounceTo, err)}
	}
	return msg, nil
}

// NotePanic counts and logs a panic the pool recovered from.
func (o *Outbox) NotePanic(where string, v any) { o.g.notePanic(where, v) }

// StoreFailed reports a failure of the pool's store work that is a full
// disk, once a minute for every path together (storage.go), and says so.
func (o *Outbox) StoreFailed(where string, err error) bool { return o.g.noteStorage(where, err) }
