package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/store"
	"github.com/emersion/go-smtp"
)

// scrape returns the /metrics body.
func scrape(t *testing.T, g *Gateway) string {
	t.Helper()
	rec := httptest.NewRecorder()
	g.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func wantMetrics(t *testing.T, body string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(body, l+"\n") {
			t.Errorf("metrics lack %q", l)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

// SMTP replies are counted by code as the listener gives them: a refused
// recipient, a stored mail.
func TestMetricsSMTPReplies(t *testing.T) {
	g, _ := newTestGateway(t)
	addr := startSMTP(t, g, SMTPConfig{})
	if err := smtpSend(t, addr, "carol@customer.example", []string{"nobody@support.test"}, mailFrom(1)); err == nil {
		t.Fatal("unknown recipient accepted")
	}
	if err := smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"}, mailFrom(1)); err != nil {
		t.Fatal(err)
	}
	wantMetrics(t, scrape(t, g),
		`casegate_smtp_replies_total{code="250"} 1`,
		`casegate_smtp_replies_total{code="550"} 1`,
		`casegate_messages_total{outcome="new_case"} 1`,
		`casegate_intake_duration_seconds_count{source="smtp"} 1`,
	)
}

// Each send attempt is counted by result, and a sent mail's time from
// queueing to the relay is observed; the outbox gauges follow.
func TestMetricsNotifications(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	e.clock.Advance(90 * time.Second)
	wantMetrics(t, scrape(t, e.g),
		`casegate_outbox{status="pending"} 1`,
		"casegate_outbox_oldest_pending_age_seconds 90",
	)
	e.relay.FailWith(failAll(451, smtp.EnhancedCode{4, 3, 0}))
	e.sendDue(t)
	e.relay.FailWith(nil)
	e.clock.Advance(time.Hour)
	e.sendDue(t)
	e.ingest(t, "carol2@customer.example", []string{"support@support.test"}, mailFrom(2))
	e.relay.FailWith(failAll(550, smtp.EnhancedCode{5, 1, 1}))
	e.sendDue(t)
	wantMetrics(t, scrape(t, e.g),
		`casegate_notifications_total{result="temporary"} 1`,
		`casegate_notifications_total{result="sent"} 1`,
		`casegate_notifications_total{result="permanent"} 1`,
		`casegate_notifications_total{result="expired"} 0`,
		"casegate_notification_latency_seconds_count 1",
		"casegate_notification_latency_seconds_sum 3690",
		`casegate_notification_latency_seconds_bucket{le="1800"} 0`,
		`casegate_notification_latency_seconds_bucket{le="3600"} 0`,
		`casegate_notification_latency_seconds_bucket{le="21600"} 1`,
		`casegate_outbox{status="pending"} 0`,
		`casegate_outbox{status="dead"} 1`,
		"casegate_outbox_oldest_pending_age_seconds 0",
	)
}

// The store's commits and writes are counted: a batch of three mails
// taken in together is three writes in one commit on SQLite (in three on
// PostgreSQL, where each write is a transaction of its own).
func TestMetricsStoreCommits(t *testing.T) {
	g, _ := newTestGateway(t)
	before := g.store.WriteStats()
	batch := make([]RawMessage, 3)
	for i := range batch {
		batch[i] = RawMessage{Raw: []byte(mailFrom(i + 1)), Env: Envelope{Source: "imap", Kind: "case"}}
	}
	if _, errs := g.IngestBatch(context.Background(), batch); errs[0] != nil || errs[1] != nil || errs[2] != nil {
		t.Fatalf("ingest: %v", errs)
	}
	commits := int64(1)
	if g.store.Backend() == store.BackendPostgres {
		commits = 3
	}
	wantMetrics(t, scrape(t, g),
		fmt.Sprintf("casegate_store_commits_total %d", before.Batches+commits),
		fmt.Sprintf("casegate_store_writes_total %d", before.Writes+3),
	)
}
