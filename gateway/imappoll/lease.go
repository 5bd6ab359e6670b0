package imappoll

import (
	"context"
	"time"
)

// runLeased polls the mailbox while this instance holds its lease, and
// waits for the lease while another instance does, until ctx is
// cancelled.
func (p *Poller) runLeased(ctx context.Context, lock Lock) {
	waiting := ""
	for ctx.Err() == nil {
		l, err := lock.Acquire(ctx, p.cfg.Name)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			wait = p.leaseWait
			p.log.Warn("imap mailbox lease: cannot reach the database, will try again", "err", err, "retry_in", wait)
		case !l.Held:
			if waiting != l.Holder {
				p.log.Info("imap mailbox polled by another instance; this one takes over if that one stops",
					"holder", l.Holder, "lease_until", l.Until)
				waiting = l.Holder
			}
			// Try again as its lease runs out, or sooner: it may be
			// released, or renewed.
			wait = min(max(l.Until.Sub(p.now()), 10*time.Millisecond), p.leaseWait)
		default:
			waiting = ""
			p.log.Info("imap mailbox lease taken: this instance polls it", "lease_until", l.Until)
			p.pollLeased(ctx, lock, l)
			continue
		}
		if p.sleep(ctx, wait) != nil {
			return
		}
	}
}

// pollLeased polls while the lease l lasts: renewed at a third of its
// time, until ctx is cancelled or the lease is lost. On cancellation the
// lease is released once the message in hand is finished.
func (p *Poller) pollLeased(ctx context.Context, lock Lock, l Lease) {
	every := max(l.Until.Sub(p.now())/3, 10*time.Millisecond)
	held, lost := context.WithCancel(ctx)
	defer lost()
	// Renewals go on while the message in hand is finished after ctx is
	// cancelled, and stop once polling has.
	renewing, stopRenewing := context.WithCancel(context.WithoutCancel(ctx))
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		defer p.recoverGoroutine("lease renewal")
		p.keepLease(renewing, lost, lock, l.Until, every)
	}()
	p.poll(held)
	stopRenewing()
	<-renewed
	if ctx.Err() == nil {
		return // lost: the lease is another instance's, or no one's
	}
	release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := lock.Release(release, p.cfg.Name); err != nil {
		p.log.Warn("imap mailbox lease not released; another instance takes the mailbox over when it runs out", "err", err)
	}
}

// keepLease renews the lease every interval until ctx is done. It calls
// lost, which stops polling, when another instance holds the mailbox, or
// when renewals failed until the lease would run out before the next try.
func (p *Poller) keepLease(ctx context.Context, lost context.CancelFunc, lock Lock, until time.Time, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l, err := lock.Acquire(ctx, p.cfg.Name)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && l.Held:
			until = l.Until
		case err == nil:
			p.log.Warn("imap mailbox taken over by another instance: polling stops here", "holder", l.Holder)
			lost()
			return
		case !p.now().Add(every).Before(until):
			p.log.Error("imap mailbox lease could not be renewed and runs out: polling stops here", "err", err,
				"lease_until", until)
			lost()
			return
		default:
			p.log.Warn("imap mailbox lease not renewed, will try again", "err", err, "lease_until", until)
		}
	}
}
