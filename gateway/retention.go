package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/casegate/casegate/store"
)

// Retention (policy.retention). Once a case has been closed longer than
// the retention, the scheduler purges the raw bytes of its inbound mail
// and the content of its attachments. The case, its thread (each mail's
// visible reply, full text and headers) and its decision history stay;
// the purge is written on the case's activity (internal), logged, and
// counted (/metrics). A purged raw mail or attachment answers 410 Gone
// with the code "purged" on the API. Each case is purged in a transaction
// of its own, so mail keeps flowing while a backlog is worked off; the
// freed space is given back to the file system afterwards
// (store.Reclaim). Mail on no case (delivery reports, ignored mail) and
// the quarantine are not touched.

// purgeBatch is how many cases one query of the sweep returns.
const purgeBatch = 100

// retentionState counts what retention and erasure removed, for /metrics.
type retentionState struct {
	cases, messages, attachments, bytes atomic.Int64
	erasures                            atomic.Int64
	warnedSpace                         atomic.Bool // the log said once that the file cannot shrink
}

// Purge purges the mail of every case closed longer than the retention
// ago, and reports how many cases and what it purged. With no retention
// set it does nothing.
func (g *Gateway) Purge(ctx context.Context) (int, store.PurgeStats, error) {
	var total store.PurgeStats
	retention := g.rules().Retention
	if retention <= 0 {
		return 0, total, nil
	}
	cutoff := g.store.Now().Add(-retention)
	n := 0
	for ctx.Err() == nil {
		ids, err := g.store.DueForPurge(ctx, cutoff, purgeBatch)
		if err != nil {
			return n, total, err
		}
		for _, id := range ids {
			st, err := g.purgeCase(ctx, id, cutoff, retention)
			switch {
			case errors.Is(err, errSkip):
				continue
			case err != nil:
				return n, total, err
			}
			n, total = n+1, total.Add(st)
		}
		if len(ids) < purgeBatch {
			break
		}
	}
	if n > 0 {
		g.reclaimAfterPurge(ctx, "retention", n, total)
	}
	return n, total, nil
}

// purgeCase purges one case's mail and writes it on the case.
func (g *Gateway) purgeCase(ctx context.Context, id int64, cutoff time.Time, retention time.Duration) (store.PurgeStats, error) {
	var st store.PurgeStats
	err := g.store.Write(ctx, func(tx *store.Tx) error {
		var err error
		st, err = tx.PurgeCaseMail(ctx, id, cutoff)
		if errors.Is(err, store.ErrNotFound) {
			return errSkip // purged or changed since the query
		}
		if err != nil {
			return err
		}
		_, err = tx.AddActivity(ctx, id, store.Activity{Kind: "retention", Actor: bySystem, Public: false,
			Body: fmt.Sprintf("raw mail and attachments purged under policy.retention (%s after the close): "+
				"%d mails, %d attachments, %d bytes", retention, st.Messages, st.Attachments, st.Bytes)})
		return err
	})
	if err == nil {
		g.retention.cases.Add(1)
		g.retention.messages.Add(int64(st.Messages))
		g.retention.attachments.Add(int64(st.Attachments))
		g.retention.bytes.Add(st.Bytes)
	}
	return st, err
}

// reclaimAfterPurge logs what a purge or an erasure removed and gives the
// space back to the file system. A database that cannot shrink (created
// without incremental auto-vacuum, store/space.go) is named once.
func (g *Gateway) reclaimAfterPurge(ctx context.Context, what string, cases int, st store.PurgeStats) {
	freed, err := g.store.Reclaim(ctx)
	if err != nil {
		g.log.Error(what+": giving the freed space back failed; it is reused for new mail", "err", err)
	}
	g.log.Info(what+": raw mail purged", "cases", cases, "messages", st.Messages, "attachments", st.Attachments,
		"bytes", st.Bytes, "pages_reclaimed", freed)
	sp, err := g.store.Space(ctx)
	if err == nil && sp.AutoVacuum != "incremental" && g.retention.warnedSpace.CompareAndSwap(false, true) {
		g.log.Warn("the database was created without incremental auto-vacuum: purged space is reused for new mail, "+
			"but the file does not shrink until a backup is restored (see the manual, backup and restore)",
			"auto_vacuum", sp.AutoVacuum, "free_pages", sp.FreePages)
	}
}

// retentionMetrics are the counters of retention and erasure, read from
// retentionState at scrape.
func (g *Gateway) retentionMetrics() prometheus.Collector {
	r := &g.retention
	purged := func(what string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "casegate_retention_purged_total",
			Help:        "Cases, mails and attachments whose content policy.retention purged in this process.",
			ConstLabels: prometheus.Labels{"what": what}}, func() float64 { return float64(v.Load()) })
	}
	return collectorSet{
		purged("cases", &r.cases), purged("messages", &r.messages), purged("attachments", &r.attachments),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "casegate_retention_purged_bytes_total",
			Help: "Bytes of raw mail and attachments policy.retention purged in this process."},
			func() float64 { return float64(r.bytes.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "casegate_erasures_total",
			Help: "People whose data this process erased (contacts forget)."},
			func() float64 { return float64(r.erasures.Load()) }),
	}
}

// collectorSet is several collectors registered as one.
type collectorSet []prometheus.Collector

func (cs collectorSet) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

func (cs collectorSet) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}
