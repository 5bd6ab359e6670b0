package imappoll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Timing of a Poller; fields of Poller so tests can shorten them.
const (
	idleRestartInterval = 25 * time.Minute // RFC 2177 §3: servers may drop IDLE after 30
	shutdownGrace       = 30 * time.Second // to finish the message in hand
	commandTimeout      = 5 * time.Minute  // one IMAP round trip, body fetches included
	healthyAfter        = time.Minute      // a session this old resets the backoff
	leaseWait           = 5 * time.Second  // see Poller.leaseWait
)

// Poller polls one mailbox and hands its mail to a Deliverer. Create it with
// New and run it with Run; the package comment describes the design.
type Poller struct {
	cfg     Config
	after   afterAction
	deliver Deliverer
	state   State
	log     *slog.Logger

	backoff      backoff
	sleep        func(ctx context.Context, d time.Duration) error
	now          func() time.Time
	idleRestart  time.Duration
	grace        time.Duration
	cmdTimeout   time.Duration
	healthyAfter time.Duration
	leaseWait    time.Duration // longest wait between two tries for a mailbox's lease
	disableIdle  bool          // poll even where the server has IDLE (tests)

	// refusals counts FETCHes the server refused, per (UIDVALIDITY, UID).
	// Sessions run one after another on Run's goroutine: no lock needed.
	refusals map[[2]uint32]int
}

// New checks cfg, fills in its defaults and returns a Poller for it. The
// logger may be nil to discard logs.
func New(cfg Config, d Deliverer, st State, log *slog.Logger) (*Poller, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("imap %s: %w", cfg.Name, err)
	}
	if d == nil || st == nil {
		return nil, fmt.Errorf("imap %s: deliverer and state are required", cfg.Name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	after, _ := parseAfter(cfg.After) // validated above
	p := &Poller{
		cfg:          cfg,
		after:        after,
		deliver:      d,
		state:        st,
		log:          log.With("mailbox", cfg.Name),
		backoff:      newBackoff(),
		sleep:        sleepContext,
		now:          time.Now,
		idleRestart:  idleRestartInterval,
		grace:        shutdownGrace,
		cmdTimeout:   commandTimeout,
		healthyAfter: healthyAfter,
		leaseWait:    leaseWait,
		refusals:     make(map[[2]uint32]int),
	}
	if cfg.TLS == TLSNone && !isLoopback(cfg.Address) {
		p.log.Warn("imap without tls to a non-loopback address: the password crosses the network in clear",
			"address", cfg.Address)
	}
	return p, nil
}

// Name returns the mailbox name, Config.Name.
func (p *Poller) Name() string { return p.cfg.Name }

// Run polls until ctx is cancelled and then returns nil, after finishing the
// message in hand (see the package comment). Every failure ends the current
// session and is retried after a backoff; Run never gives up on its own.
func (p *Poller) Run(ctx context.Context) error {
	p.log.Info("imap poller started", "address", p.cfg.Address, "folder", p.cfg.Folder,
		"after", p.cfg.After, "tls", p.cfg.TLS)
	defer p.log.Info("imap poller stopped")

	if lock, ok := p.state.(Lock); ok {
		p.runLeased(ctx, lock)
	} else {
		p.poll(ctx)
	}
	return nil
}

// poll runs sessions until ctx is cancelled, with backoff between them.
func (p *Poller) poll(ctx context.Context) {
	attempt := 0
	for ctx.Err() == nil {
		healthySince, err := p.runSession(ctx)
		if ctx.Err() != nil {
			break
		}
		if !healthySince.IsZero() && p.now().Sub(healthySince) >= p.healthyAfter {
			attempt = 0
		}
		wait := p.backoff.delay(attempt)
		attempt++
		p.logFailure(err, wait)
		if p.sleep(ctx, wait) != nil {
			break
		}
	}
}

// logFailure reports why a session ended. Login failures are an operator's
// business (a wrong password, a locked account) and are logged at ERROR, at
// most once per backoff period since Run sleeps between attempts.
func (p *Poller) logFailure(err error, wait time.Duration) {
	var le *loginError
	if errors.As(err, &le) {
		p.log.Error("imap "+p.cfg.Name+": login failed", "err", le.err, "username", p.cfg.Username,
			"retry_in", wait.Round(time.Millisecond))
		return
	}
	p.log.Warn("imap "+p.cfg.Name+": session ended", "err", err, "retry_in", wait.Round(time.Millisecond))
}

// runSession runs one connection until it fails or ctx is cancelled. It
// returns when the session first caught up with the backlog (zero if never).
func (p *Poller) runSession(ctx context.Context) (healthySince time.Time, err error) {
	hand, cancel := p.handContext(ctx)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("imap poller panic", "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", v)
		}
	}()

	s, err := p.connect(ctx, hand)
	if err != nil {
		return time.Time{}, err
	}
	defer s.close()
	if err := s.resume(hand); err != nil {
		return time.Time{}, err
	}
	for {
		if err := s.catchUp(ctx, hand); err != nil {
			return healthySince, s.explain(err)
		}
		if healthySince.IsZero() {
			healthySince = p.now()
		}
		if err := s.waitForMail(ctx); err != nil {
			return healthySince, s.explain(err)
		}
		if err := s.revalidate(hand); err != nil {
			return healthySince, s.explain(err)
		}
	}
}

// handContext returns the context for the message in hand: unlike ctx, it
// is cancelled only p.grace after ctx is, or by the returned cancel.
func (p *Poller) handContext(ctx context.Context) (context.Context, context.CancelFunc) {
	hand, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer p.recoverGoroutine("grace timer")
		select {
		case <-hand.Done():
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(p.grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-hand.Done():
		}
	}()
	return hand, cancel
}

// recoverGoroutine is deferred at the top of every goroutine and callback
// the package starts: a panic is logged and the process keeps serving.
func (p *Poller) recoverGoroutine(what string) {
	if v := recover(); v != nil {
		p.log.Error("imap poller panic", "in", what, "panic", v, "stack", string(debug.Stack()))
	}
}
