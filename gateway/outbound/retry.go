package outbound

import (
	"math/rand/v2"
	"time"
)

// RetryPolicy is the outbox's schedule for temporary failures.
type RetryPolicy struct {
	First time.Duration // delay after the first failure (default 5m)
	Max   time.Duration // cap between attempts (default 1h)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.First <= 0 {
		p.First = 5 * time.Minute
	}
	if p.Max <= 0 {
		p.Max = time.Hour
	}
	return p
}

// Delay is how long to wait after the attempt-th failed attempt (1-based):
// First doubling each time, capped at Max, with ±20% jitter so a relay
// outage does not end in a thundering herd.
func (p RetryPolicy) Delay(attempt int) time.Duration {
	p = p.withDefaults()
	d := p.First
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	jitter := time.Duration(rand.Int64N(int64(d)/5*2+1)) - d/5
	return d + jitter
}
