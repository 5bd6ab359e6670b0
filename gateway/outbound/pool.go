package outbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/casegate/casegate/store"
)

// Config tunes the pool. Zero fields take the defaults of withDefaults.
type Config struct {
	// Concurrency is the number of sender workers, each with a relay
	// connection of its own (default 8).
	Concurrency int
	// Batch is how many rows are claimed, and their attempts started, in
	// one transaction, and how many mails are in flight at most (default
	// 4 × Concurrency). Results are recorded in batches of at most this
	// many too.
	Batch int
	// ResultWindow is how long a result waits for others to share its
	// transaction (default 10ms). Results go at once when every mail in
	// flight has one.
	ResultWindow time.Duration
	// SessionIdle closes a worker's relay connection after this long
	// without mail (default 5s); SessionMails after this many mails
	// (default 100).
	SessionIdle  time.Duration
	SessionMails int
	// Poll is the longest the pool waits before it looks at the queue
	// again (default 5s): rows queued by another process are seen too.
	Poll time.Duration
	// Grace is how long the mails in hand may take to finish once Run's
	// context is cancelled (default 10s).
	Grace time.Duration
	// Renew is how often Run renews the claims of the mails it has in
	// flight (default 5s); it must be well below the Queue's lease, a
	// third of it or less.
	Renew time.Duration
	// Retry is the schedule of temporary failures.
	Retry RetryPolicy
	// Log receives one line per mail and the pool's troubles.
	Log *slog.Logger
	// Panicked is told of every panic the pool recovered from.
	Panicked func(where string, v any)
	// StoreFailed is told of every failure of the Queue (claiming,
	// recording results, renewing claims). It returns true when it has
	// reported the failure itself, as the gateway reports a full disk for
	// every path at once; the pool then logs it at DEBUG only, not one
	// ERROR line per retry. Nil: the pool logs every failure.
	StoreFailed func(where string, err error) bool
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Batch <= 0 {
		c.Batch = 4 * c.Concurrency
	}
	if c.ResultWindow <= 0 {
		c.ResultWindow = 10 * time.Millisecond
	}
	if c.SessionIdle <= 0 {
		c.SessionIdle = 5 * time.Second
	}
	if c.SessionMails <= 0 {
		c.SessionMails = 100
	}
	if c.Poll <= 0 {
		c.Poll = 5 * time.Second
	}
	if c.Grace <= 0 {
		c.Grace = 10 * time.Second
	}
	if c.Renew <= 0 {
		c.Renew = 5 * time.Second
	}
	c.Retry = c.Retry.withDefaults()
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Panicked == nil {
		c.Panicked = func(string, any) {}
	}
	if c.StoreFailed == nil {
		c.StoreFailed = func(string, error) bool { return false }
	}
	return c
}

// storeTrouble logs a failure of the Queue at ERROR, unless StoreFailed
// reported it already.
func (p *Pool) storeTrouble(where, msg string, err error, args ...any) {
	args = append(args, "err", err)
	if p.cfg.StoreFailed(where, err) {
		p.log.Debug(msg, args...)
		return
	}
	p.log.Error(msg, args...)
}

// Pool sends the outbox through a pool of sender workers.
type Pool struct {
	cfg      Config
	queue    Queue
	composer Composer
	guard    Guard
	sender   Sender
	log      *slog.Logger
}

// New returns a pool sending the mail of q, composed by c, through s,
// while g allows.
func New(cfg Config, q Queue, c Composer, g Guard, s Sender) (*Pool, error) {
	if q == nil || c == nil || g == nil || s == nil {
		return nil, errors.New("outbound: queue, composer, guard and sender are all needed")
	}
	cfg = cfg.withDefaults()
	return &Pool{cfg: cfg, queue: q, composer: c, guard: g, sender: s, log: cfg.Log}, nil
}

// job is one claimed row and its started attempt.
type job struct {
	mail    store.OutboxMail
	attempt int64
}

// claim asks the guard, then claims up to limit due rows (none of
// exclude) and starts their attempts in one transaction. It returns no
// jobs when nothing is due, and held when the guard allows nothing more.
func (p *Pool) claim(ctx context.Context, limit int, exclude []int64) (jobs []job, held bool, err error) {
	allow, err := p.guard.Allowance(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("circuit breaker: %w", err)
	}
	// Mail in flight may all be sent: it counts against the allowance.
	if limit = min(limit, allow-len(exclude)); limit <= 0 {
		return nil, true, nil
	}
	rows, err := p.queue.Claim(ctx, limit, exclude)
	if err != nil || len(rows) == 0 {
		return nil, false, err
	}
	jobs = make([]job, len(rows))
	for i, m := range rows {
		jobs[i] = job{mail: m.OutboxMail, attempt: m.Attempt}
	}
	return jobs, false, nil
}

// SendDue sends one batch of due mail and waits for it: the rows are
// claimed and their attempts started in one transaction, sent by up to
// Concurrency workers over fresh sessions, and their results recorded in
// one transaction. It reports how many rows it handled; nothing while the
// circuit breaker is open. Run is the long-running form; SendDue serves
// tests and one-off runs.
func (p *Pool) SendDue(ctx context.Context) (int, error) {
	jobs, _, err := p.claim(ctx, p.cfg.Batch, nil)
	if err != nil || len(jobs) == 0 {
		return 0, err
	}
	queue := make(chan job, len(jobs))
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	results := make(chan store.AttemptOutcome, len(jobs))
	var wg sync.WaitGroup
	for range min(p.cfg.Concurrency, len(jobs)) {
		wg.Go(func() {
			w := p.newWorker(results)
			defer w.close()
			for j := range queue {
				w.handle(ctx, j)
			}
			w.flush(ctx)
		})
	}
	wg.Wait()
	close(results)
	outcomes := make([]store.AttemptOutcome, 0, len(jobs))
	for o := range results {
		outcomes = append(outcomes, o)
	}
	// The mails went out: record their results even if ctx ended meanwhile.
	if err := p.queue.FinishAttempts(context.WithoutCancel(ctx), outcomes); err != nil {
		return 0, err
	}
	return len(jobs), nil
}
