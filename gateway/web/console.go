package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

// The agents' console under /console: sign-in by a one-time link mailed
// to an agents: address, or with an API token (the session then acts
// under the token's name); the queue, the case view with every action of
// the API, opening a case on behalf of a customer, and the operator's
// pages. Every change is recorded under the signed-in agent.

func (h *Handler) registerConsoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console", h.agent(h.queue))
	mux.HandleFunc("POST /console/signin", h.posted("console", h.consoleRequestSignIn))
	mux.HandleFunc("GET /console/signin/{token}", h.signInPage(gateway.KindAgent))
	mux.HandleFunc("POST /console/signin/{token}", h.posted("console", h.signInAction(gateway.KindAgent)))
	mux.HandleFunc("POST /console/token", h.posted("console", h.tokenSignIn))
	mux.HandleFunc("GET /console/cases/{number}", h.agent(h.agentCase))
	mux.HandleFunc("GET /console/new", h.agent(func(w http.ResponseWriter, r *http.Request, who string) {
		h.render(w, r, http.StatusOK, "newcase", view{Title: "New case", Area: "console", Who: who})
	}))
	mux.HandleFunc("POST /console/new", h.posted("console", h.agent(h.openForCustomer)))
	for action, fn := range map[string]func(*http.Request, string, gateway.Actor) (string, error){
		"reply": h.agentReply, "transition": h.agentTransition, "update": h.agentUpdate, "assign-me": h.agentAssignMe,
		"contact": h.agentContact, "watchers/add": h.agentAddWatcher, "watchers/remove": h.agentRemoveWatcher,
	} {
		mux.HandleFunc("POST /console/cases/{number}/"+action, h.posted("console", h.agent(h.agentAction(fn))))
	}
	mux.HandleFunc("GET /console/messages/{id}/raw", h.agent(func(w http.ResponseWriter, r *http.Request, _ string) { h.apiMessageRaw(w, r) }))
	mux.HandleFunc("GET /console/attachments/{id}", h.agent(func(w http.ResponseWriter, r *http.Request, _ string) { h.apiAttachment(w, r) }))
	h.registerOperatorPages(mux)
}

// agent lets a request through only with an agent's session; without one
// the console's sign-in page is shown.
func (h *Handler) agent(next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := h.session(r, gateway.KindAgent)
		if !ok {
			if r.Method != http.MethodGet {
				h.message(w, r, http.StatusUnauthorized, "console", "Signed out", "Your session has ended; sign in again.", "/console")
				return
			}
			h.render(w, r, http.StatusOK, "console_signin", view{Title: "Sign in", Area: "console"})
			return
		}
		next(w, r, s.Email)
	}
}

func (h *Handler) consoleRequestSignIn(w http.ResponseWriter, r *http.Request) {
	h.requestSignIn(w, r, gateway.KindAgent, "console",
		"If that is an agent's address, a sign-in link is on its way to it. It works once, within 15 minutes.")
}

// tokenSignIn signs an agent in with an API token; the session acts under
// the token's name.
func (h *Handler) tokenSignIn(w http.ResponseWriter, r *http.Request) {
	name, ok := h.validToken(r.FormValue("token"))
	if !ok {
		h.message(w, r, http.StatusUnauthorized, "console", "Not signed in", "That is not a valid API token.", "/console")
		return
	}
	secret, err := h.g.StartSession(r.Context(), gateway.KindAgent, name, h.cfg.SessionLifetime)
	if err != nil {
		code, msg := h.actionError(r, err)
		h.message(w, r, code, "console", "Please try again", msg, "/console")
		return
	}
	h.startSession(w, r, secret)
	http.Redirect(w, r, "/console", http.StatusSeeOther)
}

// queueFilter is the queue's query.
type queueFilter struct{ State, Kind, Assignee, Account, Q, Order string }

const queuePage = 50

func (h *Handler) queue(w http.ResponseWriter, r *http.Request, who string) {
	q := r.URL.Query()
	f := queueFilter{State: q.Get("state"), Kind: q.Get("kind"), Assignee: strings.TrimSpace(q.Get("assignee")),
		Account: strings.TrimSpace(q.Get("account")), Q: q.Get("q"), Order: q.Get("order")}
	s := store.CaseSearch{Query: f.Q}
	s.Kind, s.Account, s.Oldest, s.Limit = f.Kind, f.Account, f.Order == "oldest", queuePage+1
	s.Assignee = f.Assignee
	if strings.EqualFold(f.Assignee, "me") {
		s.Assignee = who
	}
	if after, err := strconv.ParseInt(q.Get("after"), 10, 64); err == nil {
		s.After = after
	}
	var cases []store.Case
	var err error
	switch f.State {
	case "all":
		cases, err = h.g.SearchCases(r.Context(), s)
	case "":
		cases, err = h.openCases(r, s)
	default:
		s.State = f.State
		cases, err = h.g.SearchCases(r.Context(), s)
	}
	if err != nil {
		code, msg := h.actionError(r, err)
		h.message(w, r, code, "console", "Please try again", msg, "/console")
		return
	}
	data := map[string]any{"F": f, "States": states, "Kinds": []string{"case", "order"}, "Cases": cases}
	if len(cases) > queuePage {
		q.Set("after", strconv.FormatInt(cases[queuePage-1].ID, 10))
		data["Cases"], data["Next"] = cases[:queuePage], "/console?"+q.Encode()
	}
	h.render(w, r, http.StatusOK, "queue", view{Title: "Queue", Area: "console", Who: who, Data: data})
}

// openCases is the default queue: every case but the closed ones.
func (h *Handler) openCases(r *http.Request, s store.CaseSearch) ([]store.Case, error) {
	var out []store.Case
	for {
		page, err := h.g.SearchCases(r.Context(), s)
		if err != nil {
			return nil, err
		}
		for _, c := range page {
			if c.State != store.StateClosed {
				out = append(out, c)
			}
		}
		if len(page) < s.Limit || len(out) >= s.Limit {
			if len(out) > s.Limit {
				out = out[:s.Limit]
			}
			return out, nil
		}
		s.After = page[len(page)-1].ID
	}
}

func (h *Handler) agentCase(w http.ResponseWriter, r *http.Request, who string) {
	d, err := h.g.CaseDetail(r.Context(), r.PathValue("number"))
	if err != nil {
		code, msg := h.actionError(r, err)
		h.message(w, r, code, "console", "Case not found", msg, "/console")
		return
	}
	var targets []string
	for _, s := range states {
		if s != store.StateNew && s != d.State {
			targets = append(targets, s)
		}
	}
	data := map[string]any{"Case": d.Case, "Watchers": d.Watchers, "Attachments": d.Attachments, "Activity": d.Activity,
		"Survey": d.Survey, "Closed": d.State == store.StateClosed, "Targets": targets,
		"Priorities": []string{"low", "normal", "high", "urgent"}}
	h.render(w, r, http.StatusOK, "agentcase", view{Title: d.Number + " " + d.Subject, Area: "console", Who: who,
		Notice: notices[r.URL.Query().Get("done")], Data: data})
}

// agentAction runs an agent's action on the case of the path and
// redirects back to it.
func (h *Handler) agentAction(fn func(*http.Request, string, gateway.Actor) (string, error)) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, who string) {
		number := strings.ToUpper(r.PathValue("number"))
		done, err := fn(r, number, gateway.Actor{Email: who})
		if err != nil {
			code, msg := h.actionError(r, err)
			h.message(w, r, code, "console", "Not done", msg, "/console/cases/"+number)
			return
		}
		http.Redirect(w, r, "/console/cases/"+number+"?done="+done, http.StatusSeeOther)
	}
}

func (h *Handler) agentReply(r *http.Request, number string, a gateway.Actor) (string, error) {
	internal := r.FormValue("internal") != ""
	_, err := h.g.Comment(r.Context(), number, r.FormValue("body"), !internal, a)
	if internal {
		return "note", err
	}
	return "reply", err
}

func (h *Handler) agentTransition(r *http.Request, number string, a gateway.Actor) (string, error) {
	_, err := h.g.Transition(r.Context(), number, r.FormValue("to"), r.FormValue("note"), a)
	return "state", err
}

func (h *Handler) agentUpdate(r *http.Request, number string, a gateway.Actor) (string, error) {
	assignee, priority, impact := strings.TrimSpace(r.FormValue("assignee")), r.FormValue("priority"), strings.TrimSpace(r.FormValue("impact"))
	_, err := h.g.Update(r.Context(), number, store.CasePatch{Assignee: &assignee, Priority: &priority, Impact: &impact}, a)
	return "update", err
}

func (h *Handler) agentAssignMe(r *http.Request, number string, a gateway.Actor) (string, error) {
	if !strings.Contains(a.Email, "@") {
		return "", invalidReq("signed in with a token named " + a.Email + ", which is not an address to assign to")
	}
	_, err := h.g.Update(r.Context(), number, store.CasePatch{Assignee: &a.Email}, a)
	return "update", err
}

func (h *Handler) agentContact(r *http.Request, number string, a gateway.Actor) (string, error) {
	_, err := h.g.ChangeContact(r.Context(), number, r.FormValue("contact"), a)
	return "contact", err
}

func (h *Handler) agentAddWatcher(r *http.Request, number string, a gateway.Actor) (string, error) {
	_, err := h.g.AddWatcher(r.Context(), number, r.FormValue("email"), a)
	return "watcher", err
}

func (h *Handler) agentRemoveWatcher(r *http.Request, number string, a gateway.Actor) (string, error) {
	_, err := h.g.RemoveWatcher(r.Context(), number, r.FormValue("email"), a)
	return "watcher", err
}

func (h *Handler) openForCustomer(w http.ResponseWriter, r *http.Request, who string) {
	var watchers []string
	for _, s := range strings.Split(r.FormValue("watchers"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			watchers = append(watchers, s)
		}
	}
	c, err := h.g.OpenCase(r.Context(), gateway.OpenRequest{Contact: r.FormValue("contact"), Subject: r.FormValue("subject"),
		Description: r.FormValue("description"), Kind: r.FormValue("kind"), Priority: r.FormValue("priority"), Watchers: watchers},
		gateway.Actor{Email: who})
	if err != nil {
		code, msg := h.actionError(r, err)
		h.message(w, r, code, "console", "Not opened", msg, "/console/new")
		return
	}
	http.Redirect(w, r, "/console/cases/"+c.Number+"?done=opened", http.StatusSeeOther)
}

// registerOperatorPages adds the outbox, the quarantine, the
// undeliverable addresses and health.
func (h *Handler) registerOperatorPages(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/outbox", h.agent(func(w http.ResponseWriter, r *http.Request, who string) {
		status := r.URL.Query().Get("status")
		if !slices.Contains([]string{"", store.OutboxPending, store.OutboxSent, store.OutboxDead}, status) {
			status = ""
		}
		rows, err := h.g.ListOutbox(r.Context(), status, 200)
		h.opsPage(w, r, who, "outbox", "Outbox", map[string]any{"Rows": rows}, err)
	}))
	mux.HandleFunc("POST /console/outbox/{id}/retry", h.posted("console", h.agent(func(w http.ResponseWriter, r *http.Request, who string) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		h.opsAction(w, r, "/console/outbox?status=dead", h.g.RetryOutbox(r.Context(), id))
	})))
	mux.HandleFunc("GET /console/quarantine", h.agent(func(w http.ResponseWriter, r *http.Request, who string) {
		rows, err := h.g.ListQuarantine(r.Context(), 200)
		h.opsPage(w, r, who, "quarantine", "Quarantine", map[string]any{"Rows": rows}, err)
	}))
	mux.HandleFunc("GET /console/quarantine/{id}", h.agent(func(w http.ResponseWriter, r *http.Request, who string) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		q, err := h.g.Quarantined(r.Context(), id)
		var head limitedBuffer
		if err == nil {
			head.max = quarantineHeadBytes
			if err = h.g.QuarantinedRaw(r.Context(), id, &head); errors.Is(err, errHeadFull) {
				err = nil
			}
		}
		h.opsPage(w, r, who, "quarantine", fmt.Sprintf("Quarantined %d", id),
			map[string]any{"One": &q, "Head": head.Bytes(), "More": q.Size > head.Len()}, err)
	}))
	mux.HandleFunc("GET /console/quarantine/{id}/raw", h.agent(func(w http.ResponseWriter, r *http.Request, _ string) { h.apiQuarantineRaw(w, r) }))
	mux.HandleFunc("POST /console/quarantine/{id}/replay", h.posted("console", h.agent(func(w http.ResponseWriter, r *http.Request, who string) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		res, err := h.g.Replay(r.Context(), id)
		if err == nil && res.Case != "" {
			http.Redirect(w, r, "/console/cases/"+res.Case, http.StatusSeeOther)
			return
		}
		h.opsAction(w, r, fmt.Sprintf("/console/quarantine/%d", id), err)
	})))
	mux.HandleFunc("GET /console/addresses", h.agent(func(w http.ResponseWriter, r *http.Request, who string) {
		rows, err := h.g.ListAddresses(r.Context(), true)
		h.opsPage(w, r, who, "addresses", "Addresses", rows, err)
	}))
	mux.HandleFunc("POST /console/addresses/clear", h.posted("console", h.agent(func(w http.ResponseWriter, r *http.Request, who string) {
		h.opsAction(w, r, "/console/addresses", h.g.ClearAddress(r.Context(), r.FormValue("email"), who))
	})))
	mux.HandleFunc("GET /console/health", h.agent(func(w http.ResponseWriter, r *http.Request, who string) {
		body, _ := h.g.Health(r.Context())
		type kv struct{ K, V string }
		var rows []kv
		for _, k := range slices.Sorted(mapKeys(body)) {
			rows = append(rows, kv{K: strings.ReplaceAll(k, "_", " "), V: fmt.Sprint(body[k])})
		}
		h.opsPage(w, r, who, "health", "Health", rows, nil)
	}))
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// quarantineHeadBytes is how much of a quarantined mail its page shows;
// the whole is a download.
const quarantineHeadBytes = 256 << 10

// errHeadFull ends the reading of a quarantined mail once its page has
// what it shows.
var errHeadFull = errors.New("head read")

// limitedBuffer keeps the first max bytes written to it, then fails with
// errHeadFull.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - b.Len()
	if len(p) <= room {
		return b.Buffer.Write(p)
	}
	b.Buffer.Write(p[:room])
	return room, errHeadFull
}

func (h *Handler) opsPage(w http.ResponseWriter, r *http.Request, who, page, title string, data any, err error) {
	if err != nil {
		code, msg := h.actionError(r, err)
		h.message(w, r, code, "console", title, msg, "/console")
		return
	}
	h.render(w, r, http.StatusOK, page, view{Title: title, Area: "console", Who: who, Data: data})
}

func (h *Handler) opsAction(w http.ResponseWriter, r *http.Request, back string, err error) {
	if err != nil {
		code, msg := h.actionError(r, err)
		h.message(w, r, code, "console", "Not done", msg, back)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
