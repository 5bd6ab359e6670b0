package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// HTTPHandler serves the HTTP side of the gateway: /healthz, /metrics, the
// API under /api/v1 (bearer tokens) and the pages signed links lead to.
func (g *Gateway) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.handleHealth)
	g.registerCaseRoutes(mux)
	g.registerLinkRoutes(mux)
	g.registerOpsRoutes(mux)
	return g.recoverHTTP(mux)
}

// recoverHTTP turns a handler panic into a 500 and keeps serving.
func (g *Gateway) recoverHTTP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				g.notePanic("http "+r.URL.Path, v)
				writeJSONError(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// requireToken lets a request through only with a configured bearer token,
// compared in constant time. No token configured: the API is closed.
func (g *Gateway) requireToken(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || !g.validToken(token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="casegate"`)
			writeJSONError(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
			return
		}
		h(w, r)
	}
}

func (g *Gateway) validToken(token string) bool {
	// Hash both sides so the comparison takes the same time whatever the
	// lengths; check every token so the time does not tell which matched.
	got := sha256.Sum256([]byte(token))
	ok := 0
	for _, t := range g.cfg.APITokens {
		want := sha256.Sum256([]byte(t))
		ok |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return ok == 1 && token != ""
}

func (g *Gateway) handleHealth(w http.ResponseWriter, r *http.Request) {
	status, code := "ok", http.StatusOK
	// The answer must not depend on whether the client is still there: a
	// probe that half-closed its connection would read "unavailable".
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	reachable := g.store.Ping(ctx) == nil
	if !reachable {
		status, code = "database unavailable", http.StatusServiceUnavailable
	}
	body := map[string]any{"status": status, "time": g.store.Now().Format(time.RFC3339),
		"database": map[string]any{"backend": g.store.Backend(), "reachable": reachable}}
	g.breakerHealth(ctx, body) // circuit_breaker; status "degraded" while open
	g.storageHealth(body)      // storage; status "degraded" while the disk is full
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeJSONError answers with the API's error shape: a stable code and a
// message for people.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
