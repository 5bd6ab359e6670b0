package outbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/casegate/casegate/store"
)

// worker sends claimed rows over one session, one at a time, and hands
// their outcomes on once they are final: a mail the session accepted
// counts as sent only after the session's Flush.
type worker struct {
	p       *Pool
	sess    Session
	out     chan<- store.AttemptOutcome
	held    []held // accepted, waiting for Flush
	current *job   // the job in hand, until its outcome is out or held
	session int    // mails sent since the connection was last closed
}

// held is a mail accepted by the session and not yet flushed.
type held struct {
	outcome store.AttemptOutcome
	mail    store.OutboxMail
}

func (p *Pool) newWorker(out chan<- store.AttemptOutcome) *worker {
	return &worker{p: p, sess: p.sender.NewSession(), out: out}
}

func (w *worker) logFor(m store.OutboxMail) *slog.Logger {
	return w.p.log.With("outbox_id", m.ID, "case", m.CaseNumber, "template", m.Template, "to", m.Recipient)
}

// handle makes one attempt at one row whose attempt is recorded as
// started. A mail past its lifetime is not sent: it becomes a dead letter.
func (w *worker) handle(ctx context.Context, j job) {
	m := j.mail
	w.current = &j
	now := w.p.queue.Now()
	o := store.AttemptOutcome{Outbox: m.ID, Attempt: j.attempt, Queued: m.CreatedAt}
	if now.After(m.ExpiresAt) {
		w.logFor(m).Warn("outbox mail expired", "attempts", m.Attempts)
		o.AttemptResult = store.AttemptResult{Result: store.AttemptExpired, Error: "lifetime exceeded: " + m.LastError}
		w.current = nil
		w.out <- o
		return
	}
	err := w.send(ctx, m)
	w.noteRefusal(ctx, m, err)
	w.current = nil
	if err == nil {
		w.held = append(w.held, held{outcome: o, mail: m})
		if w.session++; w.session >= w.p.cfg.SessionMails {
			w.flush(ctx)
			w.closeSession()
		}
		return
	}
	o.AttemptResult = w.failure(m, err)
	w.out <- o
}

// noteRefusal tells the queue, when it wants to know (RefusalNoter), that
// the next hop refused m's recipient for good.
func (w *worker) noteRefusal(ctx context.Context, m store.OutboxMail, err error) {
	n, ok := w.p.queue.(RefusalNoter)
	if !ok || err == nil {
		return
	}
	r, ok := RefusalOf(err)
	if !ok {
		return
	}
	if err := n.NoteRefusal(ctx, m, r); err != nil {
		w.logFor(m).Error("the relay's refusal of the recipient was not recorded", "err", err, "refusal", r.Text)
	}
}

// abandon hands back the job in hand and the held mails as temporary
// failures with err: the worker cannot go on.
func (w *worker) abandon(err error) {
	if j := w.current; j != nil {
		w.current = nil
		w.out <- store.AttemptOutcome{Outbox: j.mail.ID, Attempt: j.attempt, AttemptResult: w.failure(j.mail, err), Queued: j.mail.CreatedAt}
	}
	for _, h := range w.held {
		w.out <- store.AttemptOutcome{Outbox: h.outcome.Outbox, Attempt: h.outcome.Attempt, AttemptResult: w.failure(h.mail, err), Queued: h.mail.CreatedAt}
	}
	w.held = nil
}

// failure turns a send error into the attempt's result and logs it.
func (w *worker) failure(m store.OutboxMail, err error) store.AttemptResult {
	var perm *PermanentError
	if errors.As(err, &perm) {
		w.logFor(m).Warn("mail failed permanently", "err", err)
		return store.AttemptResult{Result: store.AttemptPermanent, Error: err.Error()}
	}
	next := w.p.queue.Now().Add(w.p.cfg.Retry.Delay(m.Attempts + 1))
	w.logFor(m).Warn("mail failed, will retry", "err", err, "next_attempt_at", next)
	return store.AttemptResult{Result: store.AttemptTemporary, Error: err.Error(), Next: next}
}

// send composes and sends m, turning a panic into a temporary error.
func (w *worker) send(ctx context.Context, m store.OutboxMail) (err error) {
	defer func() {
		if v := recover(); v != nil {
			w.p.cfg.Panicked("outbound", v)
			w.closeSession() // the connection's state is unknown
			err = errors.New("internal error while sending")
		}
	}()
	msg, err := w.p.composer.Compose(ctx, m)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	return w.sess.Send(ctx, msg)
}

// flush makes the held mails durable and hands their outcomes on: sent,
// or temporary failures if the session could not make them durable.
func (w *worker) flush(ctx context.Context) {
	if len(w.held) == 0 {
		return
	}
	err := w.sess.Flush(ctx)
	for _, h := range w.held {
		if err != nil {
			h.outcome.AttemptResult = w.failure(h.mail, err)
		} else {
			h.outcome.AttemptResult = store.AttemptResult{Result: store.AttemptSent}
			w.logFor(h.mail).Info("mail sent")
		}
		w.out <- h.outcome
	}
	w.held = w.held[:0]
}

// interrupted hands on a claimed row that was not tried, and why: it is
// due again at once.
func (w *worker) interrupted(j job, why string) {
	w.out <- store.AttemptOutcome{Outbox: j.mail.ID, Attempt: j.attempt, Queued: j.mail.CreatedAt, AttemptResult: store.AttemptResult{
		Result: store.AttemptInterrupted, Error: why, Next: w.p.queue.Now()}}
}

func (w *worker) closeSession() {
	w.session = 0
	if err := w.sess.Close(); err != nil {
		w.p.log.Debug("closing the relay connection", "err", err)
	}
}

// close ends the session; call flush first.
func (w *worker) close() {
	w.closeSession()
}
