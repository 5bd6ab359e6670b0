package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// intake sums up the SMTP side of a run.
type intake struct {
	accepted, failed int
	firstErr         string
	elapsed          time.Duration   // first mail due to last answer
	latencies        []time.Duration // due to 250, sorted
	maxLag           time.Duration   // due to session in hand, the client's own queueing
}

func summarize(recs []record) intake {
	var in intake
	if len(recs) == 0 {
		return in
	}
	first, last := recs[0].due, recs[0].done
	for _, r := range recs {
		if r.due.Before(first) {
			first = r.due
		}
		if r.done.After(last) {
			last = r.done
		}
		if !r.started.IsZero() {
			in.maxLag = max(in.maxLag, r.started.Sub(r.due))
		}
		if r.err != nil {
			in.failed++
			if in.firstErr == "" {
				in.firstErr = r.err.Error()
			}
			continue
		}
		in.accepted++
		in.latencies = append(in.latencies, r.done.Sub(r.due))
	}
	in.elapsed = last.Sub(first)
	slices.Sort(in.latencies)
	return in
}

// confirmations sums up what reached the recording relay.
type confirmations struct {
	expected, received int
	other              int             // mails at the relay that answer none of ours
	latencies          []time.Duration // due to arrival at the relay, sorted
}

// confirm waits until every accepted mail has its confirmation at the
// relay, or grace has passed since the call, or ctx ends, and measures
// each confirmation from when its mail was due.
func confirm(ctx context.Context, relay *Relay, m *mailer, recs []record, grace time.Duration) confirmations {
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond) // matching is O(mails): not at every arrival
	defer tick.Stop()
	for {
		c := match(relay, m, recs)
		if c.received == c.expected {
			return c
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return match(relay, m, recs)
		case <-ctx.Done():
			return match(relay, m, recs)
		}
	}
}

func match(relay *Relay, m *mailer, recs []record) confirmations {
	n := relay.Mails()
	var c confirmations
	for _, r := range recs {
		if r.err != nil {
			continue
		}
		c.expected++
		if at, ok := relay.Arrived(m.messageID(r.i), m.sender(r.i)); ok {
			c.received++
			c.latencies = append(c.latencies, at.Sub(r.due))
		}
	}
	c.other = max(0, n-c.received)
	slices.Sort(c.latencies)
	return c
}

// percentile is the nearest-rank p-th percentile (0 < p <= 1) of sorted
// durations, 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

func spread(sorted []time.Duration) string {
	r := func(d time.Duration) time.Duration {
		if d >= 10*time.Millisecond {
			return d.Round(time.Millisecond)
		}
		return d.Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, max %v", r(percentile(sorted, .5)), r(percentile(sorted, .9)),
		r(percentile(sorted, .99)), r(percentile(sorted, 1)))
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func (in intake) print(w io.Writer, openLoop bool) {
	fmt.Fprintf(w, "intake: %d accepted, %d failed in %.2fs: %.1f mails/s\n",
		in.accepted, in.failed, in.elapsed.Seconds(), rate(in.accepted, in.elapsed))
	if openLoop {
		fmt.Fprintf(w, "SMTP latency (mail due to 250 after DATA): %s\n", spread(in.latencies))
		fmt.Fprintf(w, "client lag (mail due to session in hand): max %v\n", in.maxLag.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "SMTP latency (MAIL FROM to 250 after DATA): %s\n", spread(in.latencies))
	}
	if in.firstErr != "" {
		fmt.Fprintf(w, "first error: %s\n", in.firstErr)
	}
}

func (c confirmations) print(w io.Writer, grace time.Duration) {
	fmt.Fprintf(w, "confirmations at the relay: %d of %d (grace %v after the last mail), %d other mails\n",
		c.received, c.expected, grace, c.other)
	if c.received > 0 {
		fmt.Fprintf(w, "end to end (mail due to confirmation at the relay): %s\n", spread(c.latencies))
	}
}
