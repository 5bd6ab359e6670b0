package outbound

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/casegate/casegate/store"
)

// Run sends due mail until ctx is cancelled. It first closes the attempts
// a stopped process left open (their mails go again), then keeps up to
// Batch mails in flight: claiming due rows and starting their attempts in
// one transaction, sending them through Concurrency workers, and recording
// their results in batches. Every Renew it renews the claims of the mails
// in flight, so that no other instance takes them over. It wakes when mail is queued, when results
// free room, when the next row is due, and at least every Poll. On
// cancellation it claims nothing more, lets the mails in hand finish
// within Grace, records every result it has and returns nil.
func (p *Pool) Run(ctx context.Context) error {
	n, err := p.queue.MarkInterrupted(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it began: nothing claimed, nothing to record
		}
		return fmt.Errorf("outbound: %w", err)
	}
	if n > 0 {
		p.log.Warn("outbox attempts interrupted by the last stop; those mails go out again", "attempts", n)
	}
	r := &run{p: p, ctx: ctx, inflight: map[int64]struct{}{}, lost: map[int64]struct{}{}, freed: make(chan struct{}, 1),
		jobs: make(chan job, p.cfg.Batch), results: make(chan store.AttemptOutcome, p.cfg.Batch)}
	var cancel context.CancelFunc
	r.sendCtx, cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.cfg.Grace, cancel)
		context.AfterFunc(r.sendCtx, func() { t.Stop() })
	})
	defer stopGrace()

	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		for !r.record() { // a recorder that panicked is replaced
		}
	}()
	stopRenew, renewed := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(renewed)
		r.renewLoop(stopRenew)
	}()
	var workers sync.WaitGroup
	for range p.cfg.Concurrency {
		workers.Go(func() {
			for !r.work() { // a worker that panicked is replaced
			}
		})
	}
	r.claimLoop()
	close(r.jobs)
	workers.Wait()
	close(r.results)
	<-recorded
	close(stopRenew)
	<-renewed
	return nil
}

// run is the state of one Run.
type run struct {
	p       *Pool
	ctx     context.Context // Run's: no new claims once it is done
	sendCtx context.Context // the sends': outlives ctx by Grace
	jobs    chan job
	results chan store.AttemptOutcome

	mu       sync.Mutex
	inflight map[int64]struct{} // claimed, result not yet recorded
	lost     map[int64]struct{} // in flight, and taken over by another instance
	freed    chan struct{}      // results were recorded
}

// isLost reports whether another instance took row id over.
func (r *run) isLost(id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.lost[id]
	return ok
}

func (r *run) inflightIDs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.inflight))
	for id := range r.inflight {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r *run) inflightCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.inflight)
}

// claimLoop claims and dispatches due mail until ctx is done.
func (r *run) claimLoop() {
	for r.ctx.Err() == nil {
		wait, err := r.safeClaim()
		if err != nil && r.ctx.Err() == nil {
			r.p.storeTrouble("outbox claim", "outbox", err)
			wait = time.Second
		}
		if wait > 0 {
			r.sleep(wait)
		}
	}
}

// safeClaim is claimOnce, turning a panic into an error.
func (r *run) safeClaim() (wait time.Duration, err error) {
	defer func() {
		if v := recover(); v != nil {
			r.p.cfg.Panicked("outbound claim", v)
			err = errors.New("internal error while claiming mail")
		}
	}()
	return r.claimOnce()
}

// claimOnce claims one batch into the free room and dispatches it. It
// returns how long to wait before the next claim: 0 to go on at once.
func (r *run) claimOnce() (time.Duration, error) {
	exclude := r.inflightIDs()
	free := r.p.cfg.Batch - len(exclude)
	if free <= 0 {
		return r.p.cfg.Poll, nil // woken when results free room
	}
	jobs, held, err := r.p.claim(r.ctx, free, exclude)
	if err != nil {
		return 0, err
	}
	if held {
		return r.p.cfg.Poll, nil // the breaker is open: poll; or woken when results free room
	}
	if len(jobs) == 0 {
		return r.untilDue(exclude)
	}
	r.mu.Lock()
	for _, j := range jobs {
		r.inflight[j.mail.ID] = struct{}{}
	}
	r.mu.Unlock()
	for _, j := range jobs {
		r.jobs <- j // never blocks: jobs holds Batch, and at most Batch are in flight
	}
	return 0, nil
}

// untilDue is how long to sleep when nothing was due: until the next row
// is due, at most Poll.
func (r *run) untilDue(exclude []int64) (time.Duration, error) {
	next, ok, err := r.p.queue.NextDue(r.ctx, exclude)
	if err != nil || !ok {
		return r.p.cfg.Poll, err
	}
	d := next.Sub(r.p.queue.Now())
	if d <= 0 {
		// Queued between the two queries: look again, without spinning.
		return 10 * time.Millisecond, nil
	}
	return min(r.p.cfg.Poll, d), nil
}

// sleep waits for d, or until mail is queued, results free room, or ctx
// is done.
func (r *run) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
	case <-r.p.queue.Queued():
	case <-r.freed:
	case <-t.C:
	}
}

// work is one sender worker: it sends the jobs it takes over its own
// session, flushing whenever no job waits, and closes the connection
// when idle. Once ctx is done it sends nothing more: the jobs still
// queued are handed back as interrupted. It returns true when jobs is
// closed, and false after a panic, once the mails it had in hand are
// handed back as temporary failures.
func (r *run) work() (closed bool) {
	w := r.p.newWorker(r.results)
	defer w.close()
	defer func() {
		if v := recover(); v != nil {
			r.p.cfg.Panicked("outbound worker", v)
			w.abandon(errors.New("internal error while sending"))
		}
	}()
	idle := time.NewTimer(r.p.cfg.SessionIdle)
	defer idle.Stop()
	for {
		select {
		case j, ok := <-r.jobs:
			if !ok {
				w.flush(r.sendCtx)
				return true
			}
			if r.ctx.Err() != nil {
				w.interrupted(j, "not tried: the outbound pool was stopping")
				continue
			}
			if r.isLost(j.mail.ID) {
				w.interrupted(j, "not tried: its claim ran out and another instance took it over")
				continue
			}
			w.handle(r.sendCtx, j)
			if len(r.jobs) == 0 || len(w.held) >= r.p.cfg.Batch {
				w.flush(r.sendCtx)
			}
			idle.Reset(r.p.cfg.SessionIdle)
		case <-idle.C:
			w.flush(r.sendCtx)
			w.closeSession()
		}
	}
}

// renewLoop renews the claims of the mails in flight every Renew until
// stop is closed: while a mail is sent and its result recorded, no other
// instance may take it over.
func (r *run) renewLoop(stop <-chan struct{}) {
	t := time.NewTicker(r.p.cfg.Renew)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		r.renew()
	}
}

// renew renews the claims once. A row another instance took over is
// marked lost: it is not tried if it has not been yet.
func (r *run) renew() {
	defer func() {
		if v := recover(); v != nil {
			r.p.cfg.Panicked("outbound renew", v)
		}
	}()
	ids := r.inflightIDs()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), r.p.cfg.Renew)
	defer cancel()
	lost, err := r.p.queue.Renew(ctx, ids)
	if err != nil {
		r.p.storeTrouble("outbox claims", "renewing the claims of the mails in flight", err, "mails", len(ids))
		return
	}
	if len(lost) == 0 {
		return
	}
	r.p.log.Error("another instance took over mails in flight here: their claims ran out", "outbox_ids", lost)
	r.mu.Lock()
	for _, id := range lost {
		if _, ok := r.inflight[id]; ok {
			r.lost[id] = struct{}{}
		}
	}
	r.mu.Unlock()
}
