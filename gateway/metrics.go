package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/casegate/casegate/store"
)

// Metrics (Prometheus; GET /metrics, no token, like /healthz). What
// happens in this process is counted in memory as it happens: a scrape
// reads no history. The gauges of what is waiting — active cases by
// state, the outbox's pending and dead rows, the age of the oldest pending
// mail, the quarantine — are read from the database at scrape time by
// index look-ups whose cost follows the backlog, never the history, so
// every process sharing a database reports the same backlog. Each
// Gateway has a registry of its own; nothing is registered globally.
//
//	casegate_messages_total{outcome}                 inbound mails taken in, by outcome
//	casegate_smtp_replies_total{code}                SMTP answers to RCPT and DATA, by reply code
//	casegate_notifications_total{result}             send attempts of notifications, by result
//	casegate_intake_duration_seconds{source}         from receipt of a mail to its commit
//	casegate_notification_latency_seconds            from queueing a notification to the relay taking it
//	casegate_cases{state}                            cases in each state but closed
//	casegate_outbox{status}                          outbox rows pending and dead
//	casegate_outbox_oldest_pending_age_seconds       how long the oldest pending mail has waited
//	casegate_quarantine                              quarantined mails not replayed
//	casegate_panics_total                            panics recovered
//	casegate_retention_purged_total{what}            cases, mails, attachments purged by policy.retention
//	casegate_retention_purged_bytes_total            bytes of raw mail and attachments purged
//	casegate_erasures_total                          people whose data was erased (contacts forget)
//	casegate_dns_cache_total{result}                 DNS questions of sender authentication: hit (answered from the cache) or miss
//	casegate_store_commits_total                     write transactions committed or failed (SQLite: each shared by many writes)
//	casegate_store_writes_total                      writes (a mail taken in, a notification's bookkeeping, …) run in them
//	casegate_rspamd_checks_total{result}             direct rspamd checks: spam, ham, soft_reject, error
//
// plus the Go runtime's (go_*) and the process's (process_*) metrics.
type metrics struct {
	reg           *prometheus.Registry
	messages      *prometheus.CounterVec
	smtpReplies   *prometheus.CounterVec
	notifications *prometheus.CounterVec
	intake        *prometheus.HistogramVec
	latency       prometheus.Histogram
	rspamd        *prometheus.CounterVec
}

// Notification results counted by casegate_notifications_total: the
// attempt results of package store.
var notificationResults = []string{store.AttemptSent, store.AttemptTemporary, store.AttemptPermanent, store.AttemptExpired}

func newMetrics(g *Gateway) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casegate_messages_total", Help: "Inbound mails taken in by this process, by outcome.",
		}, []string{"outcome"}),
		smtpReplies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casegate_smtp_replies_total", Help: "SMTP replies to RCPT refusals and at the end of DATA, by code.",
		}, []string{"code"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casegate_notifications_total", Help: "Send attempts of notifications by this process, by result.",
		}, []string{"result"}),
		intake: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "casegate_intake_duration_seconds", Help: "Time from receipt of a whole mail to its durable commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
		}, []string{"source"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "casegate_notification_latency_seconds",
			Help:    "Time from queueing a notification (with the mail or event that caused it) to the relay accepting it.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600},
		}),
		rspamd: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "casegate_rspamd_checks_total", Help: "Direct spam checks against rspamd by this process, by result (spam, ham, soft_reject, error).",
		}, []string{"result"}),
	}
	for _, r := range []string{"spam", "ham", "soft_reject", "error"} {
		m.rspamd.WithLabelValues(r)
	}
	for _, o := range []string{store.OutcomeNewCase, store.OutcomeReply, store.OutcomeIgnored, store.OutcomeBounce,
		store.OutcomeAutoReply, OutcomeDuplicate, OutcomeQuarantined, OutcomeForgotten} {
		m.messages.WithLabelValues(o)
	}
	for _, r := range notificationResults {
		m.notifications.WithLabelValues(r)
	}
	m.reg.MustRegister(m.messages, m.smtpReplies, m.notifications, m.intake, m.latency, m.rspamd,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "casegate_panics_total", Help: "Panics recovered by this process.",
		}, func() float64 { return float64(g.Panics()) }),
		newBacklogCollector(g),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "casegate_dns_cache_total", Help: "DNS questions of sender authentication answered from the cache (hit) or not (miss).",
			ConstLabels: prometheus.Labels{"result": "hit"},
		}, func() float64 { h, _ := g.dnsCacheStats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "casegate_dns_cache_total", Help: "DNS questions of sender authentication answered from the cache (hit) or not (miss).",
			ConstLabels: prometheus.Labels{"result": "miss"},
		}, func() float64 { _, m := g.dnsCacheStats(); return float64(m) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "casegate_store_commits_total",
			Help: "Write transactions begun by this process; on SQLite one commits many writes at once (writes per commit = writes / commits).",
		}, func() float64 { return float64(g.store.WriteStats().Batches) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "casegate_store_writes_total", Help: "Writes run by this process in its write transactions.",
		}, func() float64 { return float64(g.store.WriteStats().Writes) }),
		g.retentionMetrics(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ingested counts a mail taken in from source with outcome, received at
// start.
func (m *metrics) ingested(source, outcome string, start time.Time) {
	m.messages.WithLabelValues(outcome).Inc()
	m.intake.WithLabelValues(source).Observe(time.Since(start).Seconds())
}

// smtpReply counts one SMTP reply.
func (m *metrics) smtpReply(code int) {
	m.smtpReplies.WithLabelValues(strconv.Itoa(code)).Inc()
}

// rspamdCheck counts one direct rspamd check with result.
func (m *metrics) rspamdCheck(result string) {
	m.rspamd.WithLabelValues(result).Inc()
}

// RecordNotification counts one send attempt of outbox row m that ended
// with result (store.AttemptSent, AttemptTemporary, AttemptPermanent or
// AttemptExpired); for a sent mail it observes the time from the row's
// queueing to now. Whatever sends the outbox calls it once per attempt,
// after recording the attempt's result.
func (g *Gateway) RecordNotification(m store.OutboxMail, result string) {
	g.metrics.notifications.WithLabelValues(result).Inc()
	if result == store.AttemptSent && !m.CreatedAt.IsZero() {
		g.metrics.latency.Observe(max(g.store.Now().Sub(m.CreatedAt), 0).Seconds())
	}
}

// handleMetrics serves the Prometheus exposition. A database that does
// not answer leaves the backlog gauges out (logged) and the rest served.
func (g *Gateway) handleMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(g.log.With("component", "metrics").Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP(w, r)
}

// backlogCollector reads the backlog gauges from the database at scrape.
type backlogCollector struct {
	g                                 *Gateway
	cases, outbox, oldest, quarantine *prometheus.Desc
}

func newBacklogCollector(g *Gateway) *backlogCollector {
	return &backlogCollector{g: g,
		cases: prometheus.NewDesc("casegate_cases", "Cases in each state but closed.", []string{"state"}, nil),
		outbox: prometheus.NewDesc("casegate_outbox", "Outbox rows (notifications) pending and dead.",
			[]string{"status"}, nil),
		oldest: prometheus.NewDesc("casegate_outbox_oldest_pending_age_seconds",
			"How long the oldest pending notification has waited since it was queued (0 when none is).", nil, nil),
		quarantine: prometheus.NewDesc("casegate_quarantine", "Quarantined mails not yet replayed.", nil, nil),
	}
}

// backlogTimeout bounds the database reads of one scrape.
const backlogTimeout = 5 * time.Second

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cases, c.outbox, c.oldest, c.quarantine} {
		ch <- d
	}
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), backlogTimeout)
	defer cancel()
	b, err := c.g.store.Backlog(ctx)
	if err != nil {
		for _, d := range []*prometheus.Desc{c.cases, c.outbox, c.oldest, c.quarantine} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	for state, n := range b.ActiveCases {
		ch <- prometheus.MustNewConstMetric(c.cases, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(b.OutboxPending), store.OutboxPending)
	ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(b.OutboxDead), store.OutboxDead)
	var age float64
	if b.OldestPending != nil {
		age = max(c.g.store.Now().Sub(*b.OldestPending), 0).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.quarantine, prometheus.GaugeValue, float64(b.Quarantined))
}
