package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/casegate/casegate/gateway/spool"
)

// ErrStillQuarantined is returned by Replay when the message was
// quarantined again: it still cannot be taken as mail.
var ErrStillQuarantined = errors.New("quarantined again")

// Replay runs a quarantined message's raw bytes through Ingest again, as
// Source "replay" with its original envelope, for an operator who fixed
// what held it back (a parser, a limit) or who decided to take it anyway:
// a replay is not held back by the Received hops limit. When the message
// is now accepted (or was meanwhile, a duplicate), the quarantine row is
// marked replayed. When it is quarantined again the error wraps
// ErrStillQuarantined and the Result names the reason; a *TemporaryError
// means nothing changed and the replay may be tried again.
func (g *Gateway) Replay(ctx context.Context, id int64) (Result, error) {
	q, err := g.store.QuarantinedByID(ctx, id)
	if err != nil {
		return Result{}, err
	}
	if q.ReplayedAt != nil {
		return Result{}, fmt.Errorf("quarantine %d: already replayed at %s", id, q.ReplayedAt.Format("2006-01-02 15:04:05"))
	}
	mail, err := g.spoolQuarantined(ctx, id)
	if err != nil {
		return Result{}, err
	}
	defer mail.Close()
	res, err := g.IngestMessage(ctx, mail, Envelope{Source: "replay", From: q.EnvelopeFrom, To: q.EnvelopeTo})
	if err != nil {
		return res, err
	}
	if res.Outcome == OutcomeQuarantined {
		return res, fmt.Errorf("quarantine %d: %w (%s)", id, ErrStillQuarantined, res.Reason)
	}
	if err := g.store.MarkReplayed(ctx, id); err != nil {
		// The message is stored; only the mark is missing. A second
		// replay finds it a duplicate and marks it then.
		return res, &TemporaryError{Err: err}
	}
	g.log.Info("quarantined message replayed", "quarantine_id", id, "outcome", res.Outcome, "case", res.Case)
	return res, nil
}

// spoolQuarantined reads quarantined message id into memory or, when
// large, a spool file, as a transport receives a mail.
func (g *Gateway) spoolQuarantined(ctx context.Context, id int64) (*spool.Message, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(g.store.WriteQuarantinedRaw(ctx, id, pw)) }()
	mail, _, err := spool.Read(pr, g.cfg.SpoolDir)
	pr.CloseWithError(io.ErrClosedPipe) // ends the writer if the spool failed first
	if err != nil {
		return nil, g.temporary("read quarantined message", err)
	}
	return mail, nil
}

// RetryOutbox puts a dead letter back in the queue, due now, with a fresh
// lifetime and the same Message-ID, and wakes the worker.
func (g *Gateway) RetryOutbox(ctx context.Context, id int64) error {
	if err := g.store.RetryOutbox(ctx, id, g.cfg.OutboxLifetime); err != nil {
		return err
	}
	g.log.Info("dead letter queued again", "outbox_id", id)
	g.kick()
	return nil
}

// ClearAddress makes an undeliverable address deliverable again (an agent
// knows the mailbox works again).
func (g *Gateway) ClearAddress(ctx context.Context, email, by string) error {
	if err := g.store.ClearAddress(ctx, email, by); err != nil {
		return err
	}
	g.log.Info("address cleared", "address", email, "by", by)
	return nil
}
