package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

// The pages (portal.go for customers, console.go for agents) are
// server-rendered html/template, usable without JavaScript, with every
// asset embedded. Every response carries a Content-Security-Policy that
// allows only our own stylesheet and forms posting to us, and forbids
// framing. Every form that changes something carries a CSRF token: an
// HMAC, under the gateway's link key, of a random cookie of the browser's
// (signed double submit), so a form another site makes cannot carry it.
// Sessions are a random cookie (HttpOnly, SameSite=Lax, Secure when the
// pages are served over HTTPS) whose hash the database keeps.

//go:embed pages/*.html pages/*.css
var pageFiles embed.FS

const (
	csrfCookie    = "casegate_csrf"
	sessionCookie = "casegate_session"
)

// pageSet holds the parsed page templates, by file name.
type pageSet map[string]*template.Template

var pageFuncs = template.FuncMap{
	"human":    gateway.HumanState,
	"date":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"safename": gateway.SafeFilename,
	"join":     func(s []string) string { return strings.Join(s, ", ") },
	"raw":      func(b []byte) string { return gateway.EscapeControls(string(b), true) },
	"clip":     clip,
	"trace": func(raw json.RawMessage) string {
		var b bytes.Buffer
		if json.Indent(&b, raw, "", "  ") != nil {
			return string(raw)
		}
		return b.String()
	},
}

// pageTextBytes is how much of a mail's text a page shows: a 25 MB mail
// would make a page too large to send and to show. The raw message (a
// download) and the API have the whole.
const pageTextBytes = 256 << 10

// clipped is a text as a page shows it: its start, and how many bytes
// are left out.
type clipped struct {
	Text string
	More int
}

// clip cuts s to pageTextBytes, at a line end where one is near, never
// inside a UTF-8 sequence.
func clip(s string) clipped {
	if len(s) <= pageTextBytes {
		return clipped{Text: s}
	}
	end := pageTextBytes
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	if nl := strings.LastIndexByte(s[:end], '\n'); nl > end*3/4 {
		end = nl + 1
	}
	return clipped{Text: s[:end], More: len(s) - end}
}

func parsePages() (pageSet, error) {
	names, err := fs.Glob(pageFiles, "pages/*.html")
	if err != nil {
		return nil, err
	}
	base, err := template.New("layout.html").Funcs(pageFuncs).ParseFS(pageFiles, "pages/layout.html")
	if err != nil {
		return nil, err
	}
	set := pageSet{}
	for _, n := range names {
		if strings.HasSuffix(n, "/layout.html") {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(pageFiles, n)
		if err != nil {
			return nil, err
		}
		set[strings.TrimSuffix(strings.TrimPrefix(n, "pages/"), ".html")] = t
	}
	return set, nil
}

// view is what every page gets.
type view struct {
	Title  string
	Area   string // portal | console
	Who    string // the signed-in person, if any
	CSRF   string
	Notice string
	Error  string
	Data   any
}

// securityHeaders are set on every page.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// render writes a page; v.CSRF is filled in.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.CSRF = h.csrfToken(w, r)
	var b bytes.Buffer
	if err := h.pages[page].Execute(&b, v); err != nil {
		h.log.Error("render page", "page", page, "err", err)
		status, b = http.StatusInternalServerError, *bytes.NewBufferString("internal error")
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// message renders a page of a title, a text and a way back.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, area, title, text, back string) {
	h.render(w, r, status, "message", view{Title: title, Area: area, Data: map[string]string{"Text": text, "Back": back}})
}

func (h *Handler) serveStyle(w http.ResponseWriter, r *http.Request) {
	b, _ := pageFiles.ReadFile("pages/style.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(b)
}

// cookie sets a cookie for the pages: HttpOnly, SameSite=Lax, Secure over
// HTTPS; maxAge 0 ends with the browser session, < 0 deletes it.
func (h *Handler) cookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: h.secure(r)})
}

// secure reports whether the pages are served over HTTPS: the public URL
// says so, or the connection, or a trusted proxy's X-Forwarded-Proto.
func (h *Handler) secure(r *http.Request) bool {
	if h.cfg.SecureCookies || r.TLS != nil {
		return true
	}
	return h.fromTrustedProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// csrfToken is the form token of the browser's CSRF cookie, setting the
// cookie when the browser has none.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(csrfCookie)
	val := ""
	if err == nil && len(c.Value) >= 20 {
		val = c.Value
	} else {
		val = randomString()
		h.cookie(w, r, csrfCookie, val, 0)
	}
	return h.g.PageMAC("csrf", val)
}

// checkCSRF reports whether a POST carries the form token of the
// browser's cookie, and comes from our own pages by its Origin.
func (h *Handler) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || len(c.Value) < 20 {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) && !strings.EqualFold(u.Host, h.cfg.PublicHost) {
			return false
		}
	}
	want := h.g.PageMAC("csrf", c.Value)
	return hmac.Equal([]byte(r.FormValue("csrf")), []byte(want))
}

// posted wraps a POST handler of the pages: a request without the right
// CSRF token is refused with 403 and does nothing.
func (h *Handler) posted(area string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.checkCSRF(r) {
			h.message(w, r, http.StatusForbidden, area, "Please try again",
				"This form has expired or did not come from our pages. Reload the page and send it again.", "")
			return
		}
		next(w, r)
	}
}

// session reads the session of the request's cookie, of kind; ok false
// when there is none.
func (h *Handler) session(r *http.Request, kind string) (store.Session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return store.Session{}, false
	}
	s, err := h.g.Session(r.Context(), c.Value)
	if err != nil || s.Kind != kind {
		return store.Session{}, false
	}
	return s, true
}

// startSession sets the session cookie of a new session.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, secret string) {
	h.cookie(w, r, sessionCookie, secret, int(h.cfg.SessionLifetime/time.Second))
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	area := "portal"
	if c, err := r.Cookie(sessionCookie); err == nil {
		if s, err := h.g.Session(r.Context(), c.Value); err == nil && s.Kind == gateway.KindAgent {
			area = "console"
		}
		if err := h.g.SignOut(r.Context(), c.Value); err != nil {
			h.log.Warn("sign out", "err", err)
		}
	}
	h.cookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/"+area, http.StatusSeeOther)
}

// clientAddr is the client's address: the peer's, or, from a trusted
// proxy, the last address of X-Forwarded-For that is not a trusted proxy.
func (h *Handler) clientAddr(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !h.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		if !h.trusted(a) {
			return a.Unmap()
		}
		peer = a
	}
	return peer
}

func (h *Handler) fromTrustedProxy(r *http.Request) bool { return h.trusted(peerAddr(r)) }

func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.cfg.TrustedProxies {
		if a.IsValid() && p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// clientCtx is the request's context, with the client as the source
// the notifications it causes count against.
func (h *Handler) clientCtx(r *http.Request) context.Context {
	return gateway.WithClient(r.Context(), h.clientAddr(r))
}

func randomString() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// actionError says in words why an action on a page failed; internal
// errors are logged and said to be ours.
func (h *Handler) actionError(r *http.Request, err error) (int, string) {
	var ite *gateway.IllegalTransitionError
	var stale *gateway.LinkStaleError
	switch {
	case errors.As(err, &ite):
		return http.StatusConflict, "That is not possible now: " + ite.Error() + "."
	case errors.Is(err, gateway.ErrInvalid):
		return http.StatusBadRequest, strings.TrimPrefix(err.Error(), gateway.ErrInvalid.Error()+": ")
	case errors.Is(err, gateway.ErrForbidden):
		return http.StatusForbidden, "You may not do this on this case."
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "Not found."
	case errors.Is(err, store.ErrAlreadyRated):
		return http.StatusConflict, "This case was already rated. Thank you!"
	case errors.As(err, &stale):
		return http.StatusConflict, stale.Why
	case h.g.NoteStorage("page "+r.URL.Path, err):
		return http.StatusServiceUnavailable, "Our disk is full; nothing was changed. Please try again later."
	}
	h.log.Error("page action failed", "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "Something went wrong on our side; please try again in a few minutes."
}
