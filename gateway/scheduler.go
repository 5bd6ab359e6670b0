package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/casegate/casegate/store"
)

// AutoClose closes every case resolved longer ago than the policy's
// auto_close_after (SPEC §2), with its notices and survey, and reports how
// many it closed. It works from the cases' resolved_at, so a restart never
// loses or repeats a close.
func (g *Gateway) AutoClose(ctx context.Context) (int, error) {
	cutoff := g.store.Now().Add(-g.rules().AutoCloseAfter)
	numbers, err := g.store.DueForAutoClose(ctx, cutoff, 100)
	if err != nil {
		return 0, err
	}
	closed := 0
	for _, n := range numbers {
		_, err := g.onCase(ctx, n, func(tx *store.Tx, c *store.Case) error {
			if c.State != store.StateResolved || c.ResolvedAt == nil || c.ResolvedAt.After(cutoff) {
				return errSkip // changed since the query
			}
			return g.transition(ctx, tx, c, store.StateClosed, bySystem, Actor{}, "closed automatically: no answer to the resolution", "")
		})
		switch {
		case err == nil:
			closed++
			g.log.Info("case closed automatically", "case", n)
		case !errors.Is(err, errSkip):
			return closed, err
		}
	}
	return closed, nil
}

var errSkip = errors.New("skip")

// RunScheduler runs AutoClose and the retention's Purge every interval
// until ctx is cancelled.
func (g *Gateway) RunScheduler(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := g.AutoClose(ctx); err != nil && ctx.Err() == nil && !g.noteStorage("auto-close", err) {
			g.log.Error("auto-close", "err", err)
		}
		if _, _, err := g.Purge(ctx); err != nil && ctx.Err() == nil && !g.noteStorage("retention", err) {
			g.log.Error("retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
