package gateway

import (
	"context"
	"time"
)

// The circuit breaker is the last line of loop protection: when the
// gateway has handed Protection.BreakerLimit mails to the relay within
// Protection.BreakerWindow, it stops sending anything. Rows stay pending,
// so nothing is lost; sending resumes by itself once the count within the
// window drops below the limit (or an operator raises the limit and
// restarts). Opening is logged at ERROR, closing at WARN, and /healthz
// reports "degraded" with circuit_breaker "open" meanwhile. The count is
// read from the attempts in the database, so it survives restarts and
// holds across the processes that share the database.

// BreakerState is what /healthz and the operators see of the breaker.
type BreakerState struct {
	Open   bool          `json:"open"`
	Sent   int           `json:"sent"`   // mails sent within the window, counted up to Limit
	Limit  int           `json:"limit"`  // the count that opens it
	Window time.Duration `json:"window"` // nanoseconds
}

// Breaker reads the circuit breaker's state, logging a change.
func (g *Gateway) Breaker(ctx context.Context) (BreakerState, error) {
	p := g.protection()
	n, err := g.store.SentSince(ctx, g.store.Now().Add(-p.BreakerWindow), p.BreakerLimit)
	if err != nil {
		return BreakerState{}, err
	}
	s := BreakerState{Open: n >= p.BreakerLimit, Sent: n, Limit: p.BreakerLimit, Window: p.BreakerWindow}
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

// breakerHealth adds the breaker to the /healthz body: "circuit_breaker"
// open or closed, and status "degraded" while it is open.
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
}
