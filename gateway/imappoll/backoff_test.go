package imappoll

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

func TestBackoffDelay(t *testing.T) {
	b := newBackoff()
	for attempt := range 40 {
		step := min(backoffMin<<min(attempt, 20), backoffMax)
		for range 20 {
			d := b.delay(attempt)
			if d < step/2 || d > step {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, step/2, step)
			}
		}
	}
	b.jitter = func(d time.Duration) time.Duration { return d - 1 }
	if d := b.delay(1000); d != backoffMax-1 {
		t.Errorf("delay of a huge attempt = %v, want just under %v", d, backoffMax)
	}
}

// TestBackoffResetsAfterHealthySession: after a session that stayed caught
// up for a while, the next failure is retried at the shortest delay; after
// one that failed again at once, the backoff keeps growing.
func TestBackoffResetsAfterHealthySession(t *testing.T) {
	for _, tt := range []struct {
		name    string
		advance time.Duration // the clock moves this much per reading
		reset   bool
	}{
		{"healthy", 2 * time.Minute, true},
		{"flapping", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := dovecottest.FreeAddr(t) // nothing listens yet: connections are refused
			log, _ := newLogRecorder(t)
			d := newFakeDeliverer(t, "")
			p := newTestPoller(t, testConfig(addr, "seen"), d, newMemState(t, ""), log)
			p.backoff.jitter = func(time.Duration) time.Duration { return 0 }
			var mu sync.Mutex
			clock := time.Unix(1e9, 0)
			p.now = func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				clock = clock.Add(tt.advance)
				return clock
			}
			sleeps := make(chan time.Duration, 1000)
			p.sleep = func(ctx context.Context, d time.Duration) error {
				sleeps <- d
				return sleepContext(ctx, time.Millisecond)
			}
			start(t, p)
			for range 3 {
				<-sleeps
			}

			ms := startMemServerAt(t, addr, capsMove)
			tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
			tc.Append("INBOX", testMail("backoff", 0))
			waitFor(t, 5*time.Second, "delivery", func() bool { _, n, _ := d.counts(); return n == 1 })
			time.Sleep(20 * time.Millisecond) // into IDLE
			for len(sleeps) > 0 {
				<-sleeps
			}
			ms.srv.Close()
			first := <-sleeps
			if shortest := p.backoff.min / 2; (first == shortest) != tt.reset {
				t.Errorf("first delay after the session: %v (shortest %v), want reset=%v", first, shortest, tt.reset)
			}
		})
	}
}
