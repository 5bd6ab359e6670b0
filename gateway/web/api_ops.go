package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/casegate/casegate/gateway"
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
func (h *Handler) registerOpsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/outbox", h.requireToken(h.apiListOutbox))
	mux.HandleFunc("GET /api/v1/outbox/{id}", h.requireToken(h.apiGetOutbox))
	mux.HandleFunc("POST /api/v1/outbox/{id}/retry", h.requireToken(h.apiRetryOutbox))
	mux.HandleFunc("GET /api/v1/quarantine", h.requireToken(h.apiListQuarantine))
	mux.HandleFunc("POST /api/v1/quarantine/{id}/replay", h.requireToken(h.apiReplay))
	mux.HandleFunc("GET /api/v1/quarantine/{id}/raw", h.requireToken(h.apiQuarantineRaw))
	mux.HandleFunc("GET /api/v1/addresses", h.requireToken(h.apiListAddresses))
	mux.HandleFunc("POST /api/v1/addresses/{email}/clear", h.requireToken(h.apiClearAddress))
	mux.HandleFunc("POST /api/v1/contacts/{email}/forget", h.requireToken(h.apiForget))
}

// pathID reads the {id} path value; it answers 400 itself when it is bad.
func (h *Handler) pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := resourceID(r)
	if err != nil {
		h.apiError(w, r, err)
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

func (h *Handler) apiListOutbox(w http.ResponseWriter, r *http.Request) {
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
	rows, err := h.g.ListOutbox(r.Context(), status, limit)
	if err != nil {
		h.apiError(w, r, err)
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

func (h *Handler) apiGetOutbox(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	m, attempts, err := h.g.OutboxMail(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if attempts == nil {
		attempts = []store.Attempt{}
	}
	linkReports(&m)
	writeJSON(w, http.StatusOK, map[string]any{"mail": m, "attempts": attempts})
}

func (h *Handler) apiRetryOutbox(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	m, _, err := h.g.OutboxMail(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if m.Status != store.OutboxDead {
		writeJSONError(w, http.StatusConflict, "not_dead", "outbox "+r.PathValue("id")+" is "+m.Status+", only dead letters are retried")
		return
	}
	if err := h.g.RetryOutbox(r.Context(), id); err != nil {
		h.apiError(w, r, err)
		return
	}
	m, _, err = h.g.OutboxMail(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"mail": m})
}

func (h *Handler) apiListQuarantine(w http.ResponseWriter, r *http.Request) {
	limit, ok := queryLimit(w, r, 100)
	if !ok {
		return
	}
	rows, err := h.g.ListQuarantine(r.Context(), limit)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if rows == nil {
		rows = []store.Quarantined{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"quarantine": rows})
}

func (h *Handler) apiReplay(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	q, err := h.g.Quarantined(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if q.ReplayedAt != nil {
		writeJSONError(w, http.StatusConflict, "already_replayed", "quarantine "+r.PathValue("id")+" was already replayed")
		return
	}
	res, err := h.g.Replay(r.Context(), id)
	if errors.Is(err, gateway.ErrStillQuarantined) {
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":  map[string]string{"code": "still_quarantined", "message": err.Error()},
			"result": res,
		})
		return
	}
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": res})
}

// apiQuarantineRaw serves a quarantined message's bytes as a download,
// streamed a piece at a time: a quarantined mail may be several times
// the size limit.
func (h *Handler) apiQuarantineRaw(w http.ResponseWriter, r *http.Request) {
	id, err := resourceID(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	q, err := h.g.Quarantined(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	h.download(w, r, "message/rfc822", fmt.Sprintf("quarantine-%d.eml", q.ID), int64(q.Size), "quarantine", id, h.g.QuarantinedRaw)
}

func (h *Handler) apiListAddresses(w http.ResponseWriter, r *http.Request) {
	only, _ := strconv.ParseBool(r.URL.Query().Get("undeliverable"))
	rows, err := h.g.ListAddresses(r.Context(), only)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"addresses": rows})
}

func (h *Handler) apiClearAddress(w http.ResponseWriter, r *http.Request) {
	email := r.PathValue("email")
	if err := h.g.ClearAddress(r.Context(), email, tokenName(r)); err != nil {
		h.apiError(w, r, err)
		return
	}
	a, err := h.g.AddressStatus(r.Context(), email)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"address": a})
}

func (h *Handler) apiForget(w http.ResponseWriter, r *http.Request) {
	out, err := h.g.Forget(r.Context(), r.PathValue("email"), tokenName(r))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"erased": out})
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
