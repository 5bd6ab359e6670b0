package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// WindowCount is how many mails were scheduled to a domain in the window
// that starts at Start.
type WindowCount struct {
	Start time.Time
	N     int
}

// WindowCounts returns domain's windows that start at from or later,
// oldest first; windows without mail are not listed.
func (tx *Tx) WindowCounts(ctx context.Context, domain string, from time.Time) ([]WindowCount, error) {
	rows, err := tx.tx.QueryContext(ctx, `SELECT start_ms, n FROM send_windows WHERE domain = ? AND start_ms >= ?
		ORDER BY start_ms`, domain, ms(from))
	if err != nil {
		return nil, fmt.Errorf("send windows %s: %w", domain, err)
	}
	defer rows.Close()
	var out []WindowCount
	for rows.Next() {
		var start int64
		var w WindowCount
		if err := rows.Scan(&start, &w.N); err != nil {
			return nil, fmt.Errorf("send windows %s: %w", domain, err)
		}
		w.Start = fromMS(start)
		out = append(out, w)
	}
	return out, rows.Err()
}

// CountInWindow adds one mail to domain's window starting at start.
// inCurrent says whether the domain has mail in the window that starts at
// current already (WindowCounts lists it); when it has none, this is its
// first mail there, and the windows that ended before current are
// forgotten, for every domain.
func (tx *Tx) CountInWindow(ctx context.Context, domain string, start, current time.Time, inCurrent bool) error {
	if !inCurrent {
		if _, err := tx.tx.ExecContext(ctx, `DELETE FROM send_windows WHERE start_ms < ?`, ms(current)); err != nil {
			return fmt.Errorf("send window %s: %w", domain, err)
		}
	}
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO send_windows (domain, start_ms, n) VALUES (?, ?, 1)
		ON CONFLICT (domain, start_ms) DO UPDATE SET n = send_windows.n + 1`, domain, ms(start))
	if err != nil {
		return fmt.Errorf("send window %s: %w", domain, err)
	}
	return nil
}

// DeferOutbox makes pending outbox row id due at t.
func (tx *Tx) DeferOutbox(ctx context.Context, id int64, t time.Time) error {
	_, err := tx.tx.ExecContext(ctx, `UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND status = 'pending'`, ms(t), id)
	if err != nil {
		return fmt.Errorf("defer outbox %d: %w", id, err)
	}
	return nil
}

// DomainHold is a recipient domain with mail scheduled into later windows.
type DomainHold struct {
	Domain string    `json:"domain"`
	Held   int       `json:"held"`  // mails scheduled after the current window
	Until  time.Time `json:"until"` // the end of the last window with mail
}

// HeldDomains lists the domains with mail scheduled in windows that start
// after current, the most held first, at most limit of them. It reads the
// future windows only (an index range: the mail held back, never the
// history) and sums them here.
func (s *Store) HeldDomains(ctx context.Context, current time.Time, window time.Duration, limit int) ([]DomainHold, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT domain, n, start_ms FROM send_windows WHERE start_ms > ?`, ms(current))
	if err != nil {
		return nil, fmt.Errorf("held domains: %w", err)
	}
	defer rows.Close()
	byDomain := map[string]*DomainHold{}
	for rows.Next() {
		var domain string
		var n int
		var start int64
		if err := rows.Scan(&domain, &n, &start); err != nil {
			return nil, fmt.Errorf("held domains: %w", err)
		}
		h := byDomain[domain]
		if h == nil {
			h = &DomainHold{Domain: domain}
			byDomain[domain] = h
		}
		h.Held += n
		if until := fromMS(start).Add(window); until.After(h.Until) {
			h.Until = until
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("held domains: %w", err)
	}
	out := make([]DomainHold, 0, len(byDomain))
	for _, h := range byDomain {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Held != out[j].Held {
			return out[i].Held > out[j].Held
		}
		return out[i].Domain < out[j].Domain
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}
