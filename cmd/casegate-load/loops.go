package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// record is what happened to one mail of the load.
type record struct {
	i       int
	due     time.Time // when it was to be sent (open loop), or started (closed loop)
	started time.Time // when a session was in hand
	done    time.Time // when the 250 (or the error) came
	err     error
}

// closedLoop sends total mails over conc sessions, each sending its next
// mail as soon as the last one was answered, until all are sent or ctx
// ends.
func closedLoop(ctx context.Context, s *sessions, m *mailer, conc, total int) []record {
	var next atomic.Int64
	recs := make([]record, total)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= total || ctx.Err() != nil {
					return
				}
				recs[i] = sendOne(ctx, s, m, i, time.Now())
			}
		}()
	}
	wg.Wait()
	return sent(recs)
}

// openLoop offers mails at rate per second for duration, whether or not
// the gateway keeps up: mail i is due at i/rate after the start and waits
// for a free session from then on, so a slow gateway shows as latency
// instead of as a lower offered rate. It stops after rate × duration mails
// or when ctx ends, then waits for the mails in flight.
func openLoop(ctx context.Context, s *sessions, m *mailer, rate float64, duration time.Duration) []record {
	total := int(rate * duration.Seconds())
	recs := make([]record, total)
	start := time.Now()
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
dispatch:
	for i := range total {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				break dispatch
			}
		} else if ctx.Err() != nil {
			break dispatch
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i] = sendOne(ctx, s, m, i, due)
		}()
	}
	wg.Wait()
	return sent(recs)
}

// sendOne sends mail i, due at due, and records what happened; a panic
// becomes the mail's error.
func sendOne(ctx context.Context, s *sessions, m *mailer, i int, due time.Time) (r record) {
	r = record{i: i, due: due}
	defer func() {
		if v := recover(); v != nil {
			r.err, r.done = fmt.Errorf("panic: %v", v), time.Now()
		}
	}()
	r.started, r.err = s.send(ctx, m.sender(i), m.rcpt, m.message(i, due))
	r.done = time.Now()
	return r
}

// sent drops the records of mails never sent (the run ended first).
func sent(recs []record) []record {
	out := recs[:0]
	for _, r := range recs {
		if !r.due.IsZero() {
			out = append(out, r)
		}
	}
	return out
}
