package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/casegate/casegate/store"
)

// registerOpsRoutes adds the operator routes (SPEC §5): the outbox and its
// dead letters, the quarantine, and the deliverability of addresses.
//
//	GET  /api/v1/outbox?status=dead&limit=N   outbox rows, newest first (status bounced too)
//	GET  /api/v1/outbox/{id}                  one row with its attempts and delivery reports
//	POST /api/v1/outbox/{id}/retry            a dead letter back in the queue
//	GET  /api/v1/quarantine?limit=N           quarantined messages
//	POST /api/v1/quarantine/{id}/replay       run one through ingestion again
//	GET  /api/v1/addresses?undeliverable=true addresses with bounces
//	POST /api/v1/addresses/{email}/clear      make an address deliverable again
//	POST /api/v1/contacts/{email}/forget      erase a person's data (forget.go)
//
// Errors: 400 invalid, 404 not_found, 409 not_dead / already_replayed /
// still_quarantined, 503 temporary (try again), 500 internal.
func (g *Gateway) registerOpsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/outbox", g.requireToken(g.apiListOutbox))
	mux.HandleFunc("GET /api/v1/outbox/{id}", g.requireToken(g.apiGetOutbox))
	mux.HandleFunc("POST /api/v1/outbox/{id}/retry", g.requireToken(g.apiRetryOutbox))
	mux.HandleFunc("GET /api/v1/quarantine", g.requireToken(g.apiListQuarantine))
	mux.HandleFunc("POST /api/v1/quarantine/{id}/replay", g.requireToken(g.apiReplay))
	mux.HandleFunc("GET /api/v1/addresses", g.requireToken(g.apiListAddresses))
	mux.HandleFunc("POST /api/v1/addresses/{email}/clear", g.requireToken(g.apiClearAddress))
	mux.HandleFunc("POST /api/v1/contacts/{email}/forget", g.requireToken(g.apiForget))
}

// pathID reads the {id} path value; it answers 400 itself when it is bad.
func (g *Gateway) pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := resourceID(r)
	if err != nil {
		g.apiError(w, r, err)
		return 0, false
	}
	return id, true
}

func queryLimit(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		writeJSONError(w, http.StatusBadRequest, "invalid", "limit must be a number >= 0 (0 = all)")
		return 0, false
	}
	return n, true
}

func (g *Gateway) apiListOutbox(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	switch status {
	case "", store.OutboxPending, store.OutboxSent, store.OutboxBounced, store.OutboxDead:
	default:
		writeJSONError(w, http.StatusBadRequest, "invalid", "status must be pending, sent, bounced or dead")
		return
	}
	limit, ok := queryLimit(w, r, 100)
	if !ok {
		return
	}
	rows, err := g.store.ListOutbox(r.Context(), status, limit)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	if rows == nil {
		rows = []store.OutboxMail{}
	}
	for i := range rows {
		linkReports(&rows[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"outbox": rows})
}

// linkReports gives a row's delivery reports the URL of the stored
// report mail.
func linkReports(m *store.OutboxMail) {
	for _, r := range []*store.DeliveryReport{m.Bounce, m.Delayed} {
		if r != nil && r.MessageID != 0 {
			r.RawURL = fmt.Sprintf("/api/v1/messages/%d/raw", r.MessageID)
		}
	}
}

func (g *Gateway) apiGetOutbox(w http.ResponseWriter, r *http.Request) {
	id, ok := g.pathID(w, r)
	if !ok {
		return
	}
	m, err := g.store.OutboxByID(r.Context(), id)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	attempts, err := g.store.Attempts(r.Context(), id)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	if attempts == nil {
		attempts = []store.Attempt{}
	}
	linkReports(&m)
	writeJSON(w, http.StatusOK, map[string]any{"mail": m, "attempts": attempts})
}

func (g *Gateway) apiRetryOutbox(w http.ResponseWriter, r *http.Request) {
	id, ok := g.pathID(w, r)
	if !ok {
		return
	}
	m, err := g.store.OutboxByID(r.Context(), id)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	if m.Status != store.OutboxDead {
		writeJSONError(w, http.StatusConflict, "not_dead", "outbox "+r.PathValue("id")+" is "+m.Status+", only dead letters are retried")
		return
	}
	if err := g.RetryOutbox(r.Context(), id); err != nil {
		g.apiError(w, r, err)
		return
	}
	m, err = g.store.OutboxByID(r.Context(), id)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"mail": m})
}

func (g *Gateway) apiListQuarantine(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r, 100)
	if !ok {
		return
	}
	rows, err := g.store.ListQuarantine(r.Context(), limit)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	if rows == nil {
		rows = []store.Quarantined{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"quarantine": rows})
}

func (g *Gateway) apiReplay(w http.ResponseWriter, r *http.Request) {
	id, ok := g.pathID(w, r)
	if !ok {
		return
	}
	q, err := g.store.QuarantinedByID(r.Context(), id)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	if q.ReplayedAt != nil {
		writeJSONError(w, http.StatusConflict, "already_replayed", "quarantine "+r.PathValue("id")+" was already replayed")
		return
	}
	res, err := g.Replay(r.Context(), id)
	if errors.Is(err, ErrStillQuarantined) {
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":  map[string]string{"code": "still_quarantined", "message": err.Error()},
			"result": res,
		})
		return
	}
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": res})
}

func (g *Gateway) apiListAddresses(w http.ResponseWriter, r *http.Request) {
	only, _ := strconv.ParseBool(r.URL.Query().Get("undeliverable"))
	rows, err := g.store.ListAddresses(r.Context(), only)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"addresses": rows})
}

func (g *Gateway) apiClearAddress(w http.ResponseWriter, r *http.Request) {
	email := r.PathValue("email")
	if err := g.ClearAddress(r.Context(), email, "api"); err != nil {
		g.apiError(w, r, err)
		return
	}
	a, err := g.store.AddressStatus(r.Context(), email)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"address": a})
}

func (g *Gateway) apiForget(w http.ResponseWriter, r *http.Request) {
	out, err := g.Forget(r.Context(), r.PathValue("email"), "api")
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"erased": out})
}
