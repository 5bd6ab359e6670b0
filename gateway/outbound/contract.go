package outbound

import (
	"context"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/casegate/casegate/store"
)

// Queue is the durable outbox the pool sends from, shared by every
// instance on one database. The gateway implements it over the store.
type Queue interface {
	// MarkInterrupted closes the attempts a stopped process left
	// "started", so their mails are sent again with the same Message-ID,
	// and reports how many there were: the attempts of this instance (a
	// restart under the same id) and of instances whose claims ran out,
	// never those of another live instance. Run calls it once, before it
	// claims anything.
	MarkInterrupted(ctx context.Context) (int64, error)
	// Claim claims for this instance up to limit pending rows whose next
	// attempt is due, the earliest due first, and records, durably and
	// in one transaction, that an attempt of each begins; the pool sends
	// them afterwards. It offers none of exclude (the rows the pool has
	// in flight), none that another instance holds under a live claim,
	// and at most one per case and recipient: the oldest pending one. A
	// case's mails to one recipient therefore leave one at a time, in the
	// order they were queued, whichever instance sends them. A claim
	// lasts a lease unless renewed; a row whose claim ran out is offered
	// again, and its open attempt closed as interrupted.
	Claim(ctx context.Context, limit int, exclude []int64) ([]store.ClaimedMail, error)
	// Renew extends this instance's claims on the rows ids and returns
	// those another instance has claimed since (this instance's claim
	// ran out first).
	Renew(ctx context.Context, ids []int64) (lost []int64, err error)
	// NextDue returns when the next row that Claim could return becomes
	// due; ok is false when there is none.
	NextDue(ctx context.Context, exclude []int64) (t time.Time, ok bool, err error)
	// FinishAttempts records the outcomes of several attempts in one
	// transaction, all of them or none and an error, and ends their
	// rows' claims. The outcome of a row another instance took over
	// meanwhile is kept with its attempt and leaves the row alone.
	FinishAttempts(ctx context.Context, outcomes []store.AttemptOutcome) error
	// Queued receives a value when mail was queued, so the pool need not
	// wait for its next poll; nil if there is no such signal.
	Queued() <-chan struct{}
	// Now is the outbox's clock: due times, lifetimes and retries.
	Now() time.Time
}

// RefusalNoter may be implemented by a Queue that wants to hear of each
// recipient the next hop refused for good at RCPT (a 5xx answer): the
// pool tells it, with the row, before the attempt is recorded as a
// permanent failure, so it can weigh the refusal like a delivery report
// on that row. A failure to note it is logged; the attempt's result is
// recorded all the same, and a refusal of the same row may be noted
// again when the row is tried again.
type RefusalNoter interface {
	NoteRefusal(ctx context.Context, m store.OutboxMail, r Refusal) error
}

// Refusal is the next hop's permanent answer to RCPT TO.
type Refusal struct {
	Code   int    // the reply code, 550
	Status string // the enhanced status code (RFC 3463), "5.1.1"; "" when the answer had none
	Text   string // the answer, "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown"
}

// Composer renders an outbox row into the mail to send, its envelope
// sender (the row's bounce address) set. An error that no retry can fix
// (a template that does not render, an address that cannot be written)
// is a *PermanentError; any other error is temporary. Workers call it
// concurrently.
type Composer interface {
	Compose(ctx context.Context, m store.OutboxMail) (*gomail.Msg, error)
}

// Guard is the circuit breaker. Allowance reports how many more mails may
// be handed to the next hop now: zero or less while the breaker is open.
// The pool asks once per claimed batch and counts the mails it has in
// flight against the answer, so it never sends more than allowed.
type Guard interface {
	Allowance(ctx context.Context) (int, error)
}

// Sender delivers composed mail to the next hop through sessions. The
// pool gives each worker a Session of its own; sessions are used
// concurrently, each from one goroutine at a time.
type Sender interface {
	NewSession() Session
}

// Session delivers mails one after another; for a relay, over one SMTP
// connection that it opens on the first Send and keeps open.
type Session interface {
	// Send hands msg to the next hop. nil means accepted: final once the
	// next Flush returns nil. A *PermanentError means trying again cannot
	// help (a 5xx answer); every other error is temporary. An error that
	// leaves the connection in doubt closes it; the next Send opens
	// another.
	Send(ctx context.Context, msg *gomail.Msg) error
	// Flush makes every mail Send accepted since the last Flush durable.
	// If it fails, none of those mails may be counted as delivered.
	Flush(ctx context.Context) error
	// Close ends the session's connection, if any. The session stays
	// usable: the next Send opens a new connection.
	Close() error
}

// PermanentError is a delivery failure that no retry can fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// SendFunc is a Sender whose sessions call the function for each mail and
// have nothing to flush or close: a sender that keeps no connection.
type SendFunc func(ctx context.Context, msg *gomail.Msg) error

// NewSession returns a session calling f.
func (f SendFunc) NewSession() Session { return funcSession{f} }

type funcSession struct{ f SendFunc }

func (s funcSession) Send(ctx context.Context, msg *gomail.Msg) error { return s.f(ctx, msg) }
func (funcSession) Flush(context.Context) error                       { return nil }
func (funcSession) Close() error                                      { return nil }
