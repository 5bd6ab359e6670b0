package imappoll

import (
	"context"
	"math/rand/v2"
	"time"
)

// Reconnect delays: exponential from backoffMin to backoffMax.
const (
	backoffMin = time.Second
	backoffMax = 5 * time.Minute
)

// backoff computes reconnect delays. The zero value is not usable; see
// newBackoff.
type backoff struct {
	min, max time.Duration
	// jitter returns a random duration in [0, d). Injected by tests.
	jitter func(d time.Duration) time.Duration
}

func newBackoff() backoff {
	return backoff{min: backoffMin, max: backoffMax, jitter: randomJitter}
}

// delay returns the wait before reconnect attempt number attempt (0 for the
// first retry). It uses "equal jitter": half of the exponential step is
// fixed and half is random, so pollers of several mailboxes on one server
// spread out while a failing login is still never retried sooner than half
// the step.
func (b backoff) delay(attempt int) time.Duration {
	d := b.max
	if attempt < 32 {
		if step := b.min << attempt; step > 0 && step < b.max {
			d = step
		}
	}
	half := d / 2
	return half + b.jitter(d-half)
}

func randomJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// sleepContext waits for d or until ctx is done, whichever is first.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
