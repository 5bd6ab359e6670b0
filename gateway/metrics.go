package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
)

// handleMetrics serves the Prometheus text exposition format (version
// 0.0.4), written by hand: a few gauges and counters read from the store
// at scrape time, so every instance sharing a database reports the same
// case numbers. Like /healthz it needs no token.
func (g *Gateway) handleMetrics(w http.ResponseWriter, r *http.Request) {
	c, err := g.store.Count(r.Context())
	if err != nil {
		g.log.Error("metrics", "err", err)
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	var b bytes.Buffer
	writeFamily(&b, "casegate_cases", "gauge", "Cases by state.", "state", c.CasesByState)
	writeFamily(&b, "casegate_outbox", "gauge", "Outbox rows (notifications) by status.", "status", c.OutboxByStatus)
	writeFamily(&b, "casegate_messages_total", "counter", "Inbound messages stored, by outcome.", "outcome", c.MessagesByOutcome)
	writeFamily(&b, "casegate_quarantine", "gauge", "Quarantined messages not yet replayed.", "", map[string]int{"": c.Quarantined})
	writeFamily(&b, "casegate_panics_total", "counter", "Panics recovered by this process.", "", map[string]int{"": int(g.Panics())})
	g.retentionMetrics(&b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// writeFamily writes one metric family; with label "" it is a single sample.
// Label values are our own constants (states, statuses, outcomes), so
// they need no escaping beyond %q's.
func writeFamily(b *bytes.Buffer, name, typ, help, label string, values map[string]int) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if label == "" {
			fmt.Fprintf(b, "%s %d\n", name, values[k])
			continue
		}
		fmt.Fprintf(b, "%s{%s=%q} %d\n", name, label, k, values[k])
	}
}
