package outbound

import (
	"context"
	"errors"
	"time"

	"github.com/casegate/casegate/store"
)

// record gathers the workers' outcomes and records them in batches: one
// transaction for what arrives within ResultWindow of the first, or for
// Batch outcomes, or at once when every mail in flight has its outcome.
// Only once a batch is committed are its rows out of flight, so they
// cannot be claimed again before their result is known. It returns true
// when results is closed and everything is recorded, and false after a
// panic (the outcomes it held stay unrecorded, their rows in flight until
// the next start).
func (r *run) record() (closed bool) {
	defer func() {
		if v := recover(); v != nil {
			r.p.cfg.Panicked("outbound results", v)
		}
	}()
	var batch []store.AttemptOutcome
	window := time.NewTimer(time.Hour)
	window.Stop()
	defer window.Stop()
	for {
		select {
		case o, ok := <-r.results:
			if !ok {
				r.commit(batch)
				return true
			}
			if len(batch) == 0 {
				window.Reset(r.p.cfg.ResultWindow)
			}
			batch = append(batch, o)
			if len(batch) < r.p.cfg.Batch && len(batch) < r.inflightCount() {
				continue
			}
		case <-window.C:
		}
		window.Stop()
		r.commit(batch)
		batch = batch[:0]
	}
}

// commit records a batch of outcomes, trying again while the store fails;
// the rows stay in flight meanwhile, so none is sent twice. Once Run's
// context is done it tries once more and gives up: those attempts stay
// "started", and the next start marks them interrupted.
func (r *run) commit(batch []store.AttemptOutcome) {
	if len(batch) == 0 {
		return
	}
	ctx := context.WithoutCancel(r.ctx)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 30*time.Second) {
		err := r.finish(ctx, batch)
		if err == nil {
			break
		}
		if r.ctx.Err() != nil {
			r.p.storeTrouble("outbox results", "outbox results not recorded; those mails go again at the next start",
				err, "attempts", len(batch))
			return
		}
		r.p.storeTrouble("outbox results", "recording outbox results, will try again", err, "attempts", len(batch), "in", wait.String())
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.ctx.Done():
		}
		t.Stop()
	}
	r.mu.Lock()
	for _, o := range batch {
		delete(r.inflight, o.Outbox)
		delete(r.lost, o.Outbox)
	}
	r.mu.Unlock()
	select {
	case r.freed <- struct{}{}:
	default:
	}
}

// finish calls FinishAttempts, turning a panic into an error.
func (r *run) finish(ctx context.Context, batch []store.AttemptOutcome) (err error) {
	defer func() {
		if v := recover(); v != nil {
			r.p.cfg.Panicked("outbound results", v)
			err = errors.New("internal error while recording results")
		}
	}()
	return r.p.queue.FinishAttempts(ctx, batch)
}
