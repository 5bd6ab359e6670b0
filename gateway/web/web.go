// Package web is casegate's HTTP side: the JSON API under /api/v1, the
// pages signed links in mails lead to, /healthz and /metrics. It is a
// client of package gateway like the command line: it acts on cases only
// through the gateway's exported operations and never reaches into the
// store, so the case rules live in one place.
//
// New builds the handler; NewServer and LimitListener (server.go) put it
// behind the listener's limits.
package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/casegate/casegate/gateway"
)

// Config is what the HTTP side needs besides the gateway.
type Config struct {
	// Tokens are the API's bearer tokens; none: the API answers 401.
	Tokens []Token
	// Log receives the HTTP side's errors; nil discards them.
	Log *slog.Logger
	// SecureCookies marks the pages' cookies Secure: the public URL is
	// https.
	SecureCookies bool
	// PublicHost is the host of the public URL; a form may be posted
	// from a page there (Origin) as well as from the request's Host.
	PublicHost string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed.
	TrustedProxies []netip.Prefix
	// SessionLifetime is how long a sign-in lasts (default 12h).
	SessionLifetime time.Duration
}

// Token is one bearer token of the API and the name changes made with it
// are recorded under (an agent's address, or an integration's name).
type Token struct {
	Name   string
	Secret string
}

// ParseTokens reads a comma-separated token list: NAME:SECRET, or a bare
// SECRET, which is named "api".
func ParseTokens(s string) []Token {
	var out []Token
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		name, secret, ok := strings.Cut(t, ":")
		if !ok || strings.TrimSpace(name) == "" {
			name, secret = apiActor, t
		}
		out = append(out, Token{Name: strings.TrimSpace(name), Secret: strings.TrimSpace(secret)})
	}
	return out
}

// Handler serves the HTTP side of one gateway.
type Handler struct {
	g     *gateway.Gateway
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	pages pageSet
}

// New builds the HTTP side of g.
func New(g *gateway.Gateway, cfg Config) (*Handler, error) {
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("web: pages: %w", err)
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 12 * time.Hour
	}
	h := &Handler{g: g, cfg: cfg, log: cfg.Log, mux: http.NewServeMux(), pages: pages}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/portal", http.StatusSeeOther) })
	h.mux.HandleFunc("GET /assets/style.css", h.serveStyle)
	h.registerPortalRoutes(h.mux)
	h.registerConsoleRoutes(h.mux)
	h.mux.HandleFunc("GET /healthz", h.handleHealth)
	h.mux.Handle("GET /metrics", g.MetricsHandler())
	h.registerCaseRoutes(h.mux)
	h.registerLinkRoutes(h.mux)
	h.registerOpsRoutes(h.mux)
	return h, nil
}

// ServeHTTP serves one request; a handler panic becomes a 500 and the
// server keeps serving.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.g.NotePanic("http "+r.URL.Path, v)
			writeJSONError(w, http.StatusInternalServerError, "internal", "internal error")
		}
	}()
	h.mux.ServeHTTP(w, r)
}

type tokenKey struct{}

// requireToken lets a request through only with a configured bearer token,
// compared in constant time. No token configured: the API is closed. The
// token's name goes with the request (tokenName).
func (h *Handler) requireToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		name, valid := h.validToken(token)
		if !ok || !valid {
			w.Header().Set("WWW-Authenticate", `Bearer realm="casegate"`)
			writeJSONError(w, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, name)))
	}
}

// tokenName is the name of the token a request came with.
func tokenName(r *http.Request) string {
	name, _ := r.Context().Value(tokenKey{}).(string)
	return name
}

// validToken reports whether token is one of the configured ones, and
// its name.
func (h *Handler) validToken(token string) (string, bool) {
	// Hash both sides so the comparison takes the same time whatever the
	// lengths; check every token so the time does not tell which matched.
	got := sha256.Sum256([]byte(token))
	name, ok := "", 0
	for _, t := range h.cfg.Tokens {
		want := sha256.Sum256([]byte(t.Secret))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			name, ok = t.Name, 1
		}
	}
	return name, ok == 1 && token != ""
}

func (h *Handler) handleHealth(w http.ResponseWriter, r *http.Request) {
	// The answer must not depend on whether the client is still there: a
	// probe that half-closed its connection would read "unavailable".
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	body, ok := h.g.Health(ctx)
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
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
