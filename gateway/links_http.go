package gateway

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/casegate/casegate/store"
)

// registerLinkRoutes serves the pages signed links in mails lead to. A GET
// only shows what the link will do, with a button: mail scanners that
// follow every link must not accept a resolution. The POST acts, and so
// does an RFC 8058 one-click unsubscribe POST.
func (g *Gateway) registerLinkRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /l/{token}", g.handleLinkPage)
	mux.HandleFunc("POST /l/{token}", g.handleLinkAction)
}

// errLinkStale is a genuine link that no longer applies.
type errLinkStale struct{ why string }

func (e *errLinkStale) Error() string { return e.why }

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

func (g *Gateway) writeLinkPage(w http.ResponseWriter, status int, v linkView) {
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

func (g *Gateway) handleLinkPage(w http.ResponseWriter, r *http.Request) {
	l, c, err := g.openLink(r.Context(), r.PathValue("token"))
	if err == nil {
		err = g.linkApplies(r.Context(), l, c)
	}
	if err != nil {
		g.linkError(w, err)
		return
	}
	v := linkView{Title: "Case " + c.Number, Button: "Confirm"}
	switch {
	case l.Action == linkAccept:
		v.Message, v.Button = "Accept the resolution and close case "+c.Number+"?", "Yes, close the case"
	case l.Action == linkReject:
		v.Message, v.Button = "Reject the resolution and reopen case "+c.Number+"?", "Reopen the case"
	case l.Action == linkClose:
		v.Message, v.Button = "Close case "+c.Number+"?", "Close the case"
	case l.Action == linkUnsubscribe:
		v.Message, v.Button = "Stop receiving updates of case "+c.Number+" at "+l.Email+"?", "Unsubscribe"
	case strings.HasPrefix(l.Action, linkUnwatch):
		v.Message, v.Button = "Remove "+strings.TrimPrefix(l.Action, linkUnwatch)+" from the watch list of case "+c.Number+"?", "Remove"
	case strings.HasPrefix(l.Action, linkRate):
		v.Message, v.Button = fmt.Sprintf("Rate case %s with %s out of 5?", c.Number, strings.TrimPrefix(l.Action, linkRate)), "Send my rating"
	}
	g.writeLinkPage(w, http.StatusOK, v)
}

func (g *Gateway) handleLinkAction(w http.ResponseWriter, r *http.Request) {
	l, c, err := g.openLink(r.Context(), r.PathValue("token"))
	if err != nil {
		g.linkError(w, err)
		return
	}
	var done string
	_, err = g.onCase(r.Context(), c.Number, func(tx *store.Tx, c *store.Case) error {
		if err := g.linkApplies(r.Context(), l, *c); err != nil {
			return err
		}
		var err error
		done, err = g.actOnLink(r.Context(), tx, l, c)
		return err
	})
	if err != nil {
		g.linkError(w, err)
		return
	}
	g.writeLinkPage(w, http.StatusOK, linkView{Title: "Case " + c.Number, Message: done})
}

// openLink verifies a token and loads its case.
func (g *Gateway) openLink(ctx context.Context, token string) (link, store.Case, error) {
	l, err := g.verifyLink(token)
	if err != nil {
		return l, store.Case{}, err
	}
	c, err := g.store.CaseByNumber(ctx, l.Case)
	if errors.Is(err, store.ErrNotFound) {
		return l, c, errBadLink
	}
	return l, c, err
}

// linkApplies checks that a genuine link still means what it meant when it
// was sent.
func (g *Gateway) linkApplies(ctx context.Context, l link, c store.Case) error {
	isContact := strings.EqualFold(l.Email, c.Contact.Email)
	switch {
	case l.Action == linkAccept || l.Action == linkReject || l.Action == linkClose:
		if !isContact {
			return errBadLink
		}
		if c.State != store.StateResolved || resolutionGen(c) != l.Gen {
			return &errLinkStale{why: fmt.Sprintf("This link no longer applies: case %s is %s now.", c.Number, humanState(c.State))}
		}
	case strings.HasPrefix(l.Action, linkRate):
		if _, err := strconv.Atoi(strings.TrimPrefix(l.Action, linkRate)); err != nil || !isContact {
			return errBadLink
		}
		s, err := g.store.Survey(ctx, c.ID)
		if err != nil {
			return &errLinkStale{why: "There is no survey for case " + c.Number + "."}
		}
		if s.RatedAt != nil {
			return &errLinkStale{why: fmt.Sprintf("Case %s was already rated %d out of 5. Thank you!", c.Number, s.Rating)}
		}
	case l.Action == linkUnsubscribe:
	case strings.HasPrefix(l.Action, linkUnwatch):
		if !isContact {
			return errBadLink
		}
		if c.State == store.StateClosed {
			return &errLinkStale{why: "Case " + c.Number + " is closed and can no longer be changed."}
		}
	default:
		return errBadLink
	}
	return nil
}

// actOnLink performs a link's action inside the case's transaction and
// says what was done.
func (g *Gateway) actOnLink(ctx context.Context, tx *store.Tx, l link, c *store.Case) (string, error) {
	actor := Actor{Email: l.Email}
	switch {
	case l.Action == linkAccept:
		return "Thank you! Case " + c.Number + " is closed.", g.transition(ctx, tx, c, store.StateClosed, byContact, actor, "accepted by the contact", "")
	case l.Action == linkClose:
		return "Case " + c.Number + " is closed.", g.transition(ctx, tx, c, store.StateClosed, byContact, actor, "closed by the contact", "")
	case l.Action == linkReject:
		return "Case " + c.Number + " is open again; an analyst will look at it.", g.transition(ctx, tx, c, store.StateOpen, byContact, actor, "resolution rejected", "")
	case l.Action == linkUnsubscribe || strings.HasPrefix(l.Action, linkUnwatch):
		who := l.Email
		if strings.HasPrefix(l.Action, linkUnwatch) {
			who = strings.TrimPrefix(l.Action, linkUnwatch)
		}
		err := g.removeWatcher(ctx, tx, c, who, actor)
		if errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		return who + " no longer receives updates of case " + c.Number + ".", err
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(l.Action, linkRate))
	if err := tx.RateSurvey(ctx, c.ID, n, "", "link"); err != nil {
		return "", err
	}
	_, err := tx.AddActivity(ctx, c.ID, store.Activity{Kind: "survey", Actor: l.Email, Body: fmt.Sprintf("rated %d/5", n)})
	return fmt.Sprintf("Thank you for rating case %s with %d out of 5!", c.Number, n), err
}

func (g *Gateway) linkError(w http.ResponseWriter, err error) {
	var stale *errLinkStale
	switch {
	case errors.As(err, &stale):
		g.writeLinkPage(w, http.StatusConflict, linkView{Title: "Link no longer applies", Message: stale.why})
	case errors.Is(err, errBadLink):
		g.writeLinkPage(w, http.StatusForbidden, linkView{Title: "Invalid link", Message: "This link is not valid. Please use the link from the latest mail about your case."})
	case errors.Is(err, store.ErrAlreadyRated):
		g.writeLinkPage(w, http.StatusConflict, linkView{Title: "Already rated", Message: "This case was already rated. Thank you!"})
	default:
		if !g.noteStorage("link action", err) {
			g.log.Error("link action failed", "err", err)
		}
		g.writeLinkPage(w, http.StatusServiceUnavailable, linkView{Title: "Please try again", Message: "Something went wrong on our side; please try the link again in a few minutes."})
	}
}

func humanState(s string) string { return strings.ReplaceAll(s, "_", " ") }
