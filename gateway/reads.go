package gateway

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/casegate/casegate/store"
)

// The read side of the gateway's operations: what the HTTP side, the CLI
// and tests may look at. Every change goes through the operations of
// actions.go, portal.go, quarantine.go and linkactions.go.

// Health is the state of this instance as /healthz reports it: "status"
// ok, degraded or "database unavailable", the time, the circuit breaker
// (breaker.go) and the storage (storage.go). ok is false when the
// database does not answer.
func (g *Gateway) Health(ctx context.Context) (body map[string]any, ok bool) {
	status, ok := "ok", true
	if err := g.store.Ping(ctx); err != nil {
		status, ok = "database unavailable", false
	}
	body = map[string]any{"status": status, "time": g.store.Now().Format(time.RFC3339),
		"database": map[string]any{"backend": g.store.Backend(), "reachable": ok}}
	g.breakerHealth(ctx, body) // circuit_breaker; status "degraded" while open
	g.storageHealth(body)      // storage; status "degraded" while the disk is full
	return body, ok
}

// MetricsHandler serves /metrics (metrics.go).
func (g *Gateway) MetricsHandler() http.Handler { return http.HandlerFunc(g.handleMetrics) }

// NotePanic counts and logs a panic an adapter recovered from at where.
func (g *Gateway) NotePanic(where string, v any) { g.notePanic(where, v) }

// NoteStorage reports whether err is a full disk; if it is, it is
// recorded for /healthz and logged, at most once a minute (storage.go).
func (g *Gateway) NoteStorage(where string, err error) bool { return g.noteStorage(where, err) }

// Case reads one case by its number.
func (g *Gateway) Case(ctx context.Context, number string) (store.Case, error) {
	return g.store.CaseByNumber(ctx, number)
}

// SearchCases lists the cases f selects (store.CaseSearch).
func (g *Gateway) SearchCases(ctx context.Context, f store.CaseSearch) ([]store.Case, error) {
	return g.store.SearchCases(ctx, f)
}

// Message reads one inbound message with its raw bytes.
func (g *Gateway) Message(ctx context.Context, id int64) (store.InboundMessage, error) {
	return g.store.Message(ctx, id)
}

// MessageRawInfo reads the size and purge state of a message's raw
// bytes; MessageRaw writes them to w, a piece at a time.
func (g *Gateway) MessageRawInfo(ctx context.Context, id int64) (store.RawInfo, error) {
	return g.store.MessageRawInfo(ctx, id)
}

// MessageRaw writes the raw bytes of message id to w, a piece at a time.
func (g *Gateway) MessageRaw(ctx context.Context, id int64, w io.Writer) error {
	return g.store.WriteMessageRaw(ctx, id, w)
}

// Attachment reads what is known of one attachment; its content comes
// from AttachmentContent.
func (g *Gateway) Attachment(ctx context.Context, id int64) (store.Attachment, error) {
	return g.store.AttachmentByID(ctx, id)
}

// AttachmentContent writes the content of attachment id to w, a piece at
// a time.
func (g *Gateway) AttachmentContent(ctx context.Context, id int64, w io.Writer) error {
	return g.store.WriteAttachmentContent(ctx, id, w)
}

// ListOutbox lists notifications, newest first: all, or those of one
// status (store.OutboxPending, OutboxSent, OutboxDead); limit 0 = all.
func (g *Gateway) ListOutbox(ctx context.Context, status string, limit int) ([]store.OutboxMail, error) {
	return g.store.ListOutbox(ctx, status, limit)
}

// OutboxMail reads one notification with its delivery attempts.
func (g *Gateway) OutboxMail(ctx context.Context, id int64) (store.OutboxMail, []store.Attempt, error) {
	m, err := g.store.OutboxByID(ctx, id)
	if err != nil {
		return m, nil, err
	}
	attempts, err := g.store.Attempts(ctx, id)
	return m, attempts, err
}

// ListQuarantine lists quarantined messages, newest first; limit 0 = all.
func (g *Gateway) ListQuarantine(ctx context.Context, limit int) ([]store.Quarantined, error) {
	return g.store.ListQuarantine(ctx, limit)
}

// Quarantined reads what is known of one quarantined message; its bytes
// come from QuarantinedRaw.
func (g *Gateway) Quarantined(ctx context.Context, id int64) (store.Quarantined, error) {
	return g.store.QuarantinedByID(ctx, id)
}

// QuarantinedRaw writes the raw bytes of quarantined message id to w, a
// piece at a time.
func (g *Gateway) QuarantinedRaw(ctx context.Context, id int64, w io.Writer) error {
	return g.store.WriteQuarantinedRaw(ctx, id, w)
}

// ListAddresses lists the addresses with bounces, or only the
// undeliverable ones.
func (g *Gateway) ListAddresses(ctx context.Context, onlyUndeliverable bool) ([]store.AddressStatus, error) {
	return g.store.ListAddresses(ctx, onlyUndeliverable)
}

// AddressStatus reads the deliverability of one address.
func (g *Gateway) AddressStatus(ctx context.Context, email string) (store.AddressStatus, error) {
	return g.store.AddressStatus(ctx, email)
}
