package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/casegate/casegate/store"
)

// The circuit breaker is a loop guard, not a throughput cap, and no one
// source can trip it for everyone. It works at two levels:
//
//   - Per recipient domain. Each domain may be sent
//     Protection.BreakerPerDomain notifications within a window of
//     Protection.BreakerWindow (fixed windows). Mail to a domain over its
//     limit is not lost and not suppressed: enqueue schedules it into the
//     next window with room, spread evenly over that window, so a flood to
//     one domain trickles out at the limit's rate while every other
//     domain's mail goes out at once. The counts live in the database
//     (table send_windows), so they survive restarts and hold across
//     processes.
//   - The whole gateway. When Protection.BreakerLimit mails were handed to
//     the relay within the last window, the breaker opens and the worker
//     sends nothing: rows stay pending and go out once the count within
//     the window drops below the limit. Opening is logged at ERROR,
//     closing at WARN, and /healthz reports "degraded" with
//     circuit_breaker "open" meanwhile. The ceiling is far above any one
//     domain's limit (by default 10 times), so reaching it takes many
//     domains flooding at once — a bug, not a customer.
//
// A flood from one source that forges many domains is the business of the
// per-source budgets at intake; the per-recipient and per-case budgets
// (loop.go) stop loops with one address long before either level here.

// BreakerState is what the outbound worker, /healthz and the operators see
// of the breaker.
type BreakerState struct {
	Open        bool          `json:"open"`
	Sent        int           `json:"sent"`       // mails sent within the window, counted up to Limit
	Limit       int           `json:"limit"`      // the count that opens it
	Window      time.Duration `json:"window"`     // nanoseconds
	DomainLimit int           `json:"per_domain"` // mails per recipient domain per window
}

// breakerSlack: while the last count read is further than this below the
// limit, Breaker reads the count again at most once a second. More mails
// than this cannot be sent in a second, so the breaker still opens in time.
const breakerSlack = 1000

// Breaker reads the circuit breaker's state, logging a change. The
// outbound worker calls it before each batch and sends nothing while it is
// open, and at most Limit-Sent mails when it is not.
func (g *Gateway) Breaker(ctx context.Context) (BreakerState, error) {
	p := g.protection()
	n, err := g.sentInWindow(ctx, p)
	if err != nil {
		return BreakerState{}, err
	}
	s := BreakerState{Open: n >= p.BreakerLimit, Sent: n, Limit: p.BreakerLimit, Window: p.BreakerWindow,
		DomainLimit: p.BreakerPerDomain}
	if was := g.ops.breakerOpen.Swap(s.Open); was != s.Open {
		if s.Open {
			g.log.Error("circuit breaker open: automatic mail stopped, outbox rows stay pending",
				"sent", n, "limit", p.BreakerLimit, "window", p.BreakerWindow.String())
		} else {
			g.log.Warn("circuit breaker closed: sending resumes", "sent", n, "limit", p.BreakerLimit)
		}
	}
	return s, nil
}

// sentInWindow counts the mails sent within the last window, reading the
// database again only when the last count is old or near the limit.
func (g *Gateway) sentInWindow(ctx context.Context, p Protection) (int, error) {
	now := g.store.Now()
	g.ops.mu.Lock()
	n, at := g.ops.sent, g.ops.sentAt
	g.ops.mu.Unlock()
	if !at.IsZero() && now.Sub(at) < time.Second && now.Sub(at) >= 0 && n+breakerSlack < p.BreakerLimit {
		return n, nil
	}
	n, err := g.store.SentSince(ctx, now.Add(-p.BreakerWindow), p.BreakerLimit)
	if err != nil {
		return 0, err
	}
	g.ops.mu.Lock()
	g.ops.sent, g.ops.sentAt = n, now
	g.ops.mu.Unlock()
	return n, nil
}

// scheduleSend decides when a notification to addr may go out under the
// per-domain limit, and counts it: now while the domain's current window
// has room, else a time spread over the first later window with room. ok
// is false, and nothing is counted, when no window has room before the
// mail's lifetime is over: it would only expire in the outbox.
func (g *Gateway) scheduleSend(ctx context.Context, tx *store.Tx, addr string) (due time.Time, ok bool, err error) {
	p := g.protection()
	_, _, domain := splitAddress(addr)
	w := p.BreakerWindow
	current := tx.Now.Truncate(w)
	counts, err := tx.WindowCounts(ctx, domain, current)
	if err != nil {
		return time.Time{}, false, err
	}
	start, n := current, 0
	for _, c := range counts {
		if !c.Start.Equal(start) {
			break // a window without mail: room
		}
		if c.N < p.BreakerPerDomain {
			n = c.N
			break
		}
		start, n = start.Add(w), 0
	}
	due = tx.Now
	if start.After(current) {
		due = start.Add(time.Duration(int64(w) * int64(n) / int64(p.BreakerPerDomain)))
	}
	if due.Sub(tx.Now) >= g.cfg.OutboxLifetime {
		return time.Time{}, false, nil
	}
	inCurrent := len(counts) > 0 && counts[0].Start.Equal(current)
	if err := tx.CountInWindow(ctx, domain, start, current, inCurrent); err != nil {
		return time.Time{}, false, err
	}
	return due, true, nil
}

// breakerHealth adds the breaker to the /healthz body: "circuit_breaker"
// open or closed, and status "degraded" while it is open; "held_domains"
// lists the recipient domains whose mail is spread into later windows.
func (g *Gateway) breakerHealth(ctx context.Context, body map[string]any) {
	s, err := g.Breaker(ctx)
	if err != nil {
		body["circuit_breaker"] = "unknown"
		return
	}
	body["circuit_breaker"] = "closed"
	if s.Open {
		body["circuit_breaker"] = "open"
		if body["status"] == "ok" {
			body["status"] = "degraded"
		}
	}
	body["sent_in_window"] = s.Sent
	held, err := g.HeldDomains(ctx)
	if err != nil {
		g.log.Warn("healthz: held domains", "err", err)
		return
	}
	body["held_domains"] = held
}

// HeldDomains lists the recipient domains over their per-domain limit,
// whose mail is scheduled into later windows, the most held first.
func (g *Gateway) HeldDomains(ctx context.Context) ([]store.DomainHold, error) {
	p := g.protection()
	held, err := g.store.HeldDomains(ctx, g.store.Now().Truncate(p.BreakerWindow), p.BreakerWindow, 20)
	if err != nil {
		return nil, fmt.Errorf("held domains: %w", err)
	}
	return held, nil
}
