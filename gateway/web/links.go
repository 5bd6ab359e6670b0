package web

import (
	"errors"
	"html/template"
	"net/http"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

// registerLinkRoutes serves the pages signed links in mails lead to. A GET
// only shows what the link will do, with a button: mail scanners that
// follow every link must not accept a resolution. The POST acts, and so
// does an RFC 8058 one-click unsubscribe POST.
func (h *Handler) registerLinkRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /l/{token}", h.handleLinkPage)
	mux.HandleFunc("POST /l/{token}", h.handleLinkAction)
}

var linkPage = template.Must(template.New("link").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto; line-height: 1.5">
<h1 style="font-size: 1.4em">{{.Title}}</h1>
<p>{{.Message}}</p>
{{- if .Button}}
<form method="post"><button type="submit" style="font-size: 1.1em; padding: .4em 1.2em">{{.Button}}</button></form>
{{- end}}
</body></html>
`))

type linkView struct{ Title, Message, Button string }

func (h *Handler) writeLinkPage(w http.ResponseWriter, status int, v linkView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// A page that acts on a case by one click must not be framed by
	// another site, which could lay its own page over the button.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = linkPage.Execute(w, v)
}

func (h *Handler) handleLinkPage(w http.ResponseWriter, r *http.Request) {
	info, err := h.g.InspectLink(r.Context(), r.PathValue("token"))
	if err != nil {
		h.linkError(w, err)
		return
	}
	h.writeLinkPage(w, http.StatusOK, linkView{Title: "Case " + info.Case, Message: info.Question, Button: info.Button})
}

func (h *Handler) handleLinkAction(w http.ResponseWriter, r *http.Request) {
	info, done, err := h.g.FollowLink(r.Context(), r.PathValue("token"))
	if err != nil {
		h.linkError(w, err)
		return
	}
	h.writeLinkPage(w, http.StatusOK, linkView{Title: "Case " + info.Case, Message: done})
}

func (h *Handler) linkError(w http.ResponseWriter, err error) {
	var stale *gateway.LinkStaleError
	switch {
	case errors.As(err, &stale):
		h.writeLinkPage(w, http.StatusConflict, linkView{Title: "Link no longer applies", Message: stale.Why})
	case errors.Is(err, gateway.ErrBadLink):
		h.writeLinkPage(w, http.StatusForbidden, linkView{Title: "Invalid link", Message: "This link is not valid. Please use the link from the latest mail about your case."})
	case errors.Is(err, store.ErrAlreadyRated):
		h.writeLinkPage(w, http.StatusConflict, linkView{Title: "Already rated", Message: "This case was already rated. Thank you!"})
	default:
		if !h.g.NoteStorage("link action", err) {
			h.log.Error("link action failed", "err", err)
		}
		h.writeLinkPage(w, http.StatusServiceUnavailable, linkView{Title: "Please try again", Message: "Something went wrong on our side; please try the link again in a few minutes."})
	}
}
