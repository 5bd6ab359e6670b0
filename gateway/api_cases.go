package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/casegate/casegate/store"
)

// The case API of SPEC §5. Every route but /metrics needs a bearer token.
// Errors are {"error": {"code", "message"}} with the stable codes
// unauthorized (401), not_found (404), illegal_transition (409), invalid
// (400), too_large (413), insufficient_storage (503: the disk is full,
// nothing changed), temporary (503) and internal (500, details only in
// the log).

const (
	maxRequestBody   = 1 << 20
	defaultPageLimit = 50
	maxPageLimit     = 500
	maxQueryRunes    = 200 // the search text q
	maxAddressBytes  = 320 // an address in a query (RFC 5321 §4.5.3.1: 64 + 1 + 255)
	// apiActor acts when an API request names no author.
	apiActor = "api"
)

// registerCaseRoutes adds the case API of SPEC §5 under /api/v1, and
// /metrics.
func (g *Gateway) registerCaseRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/cases", g.requireToken(g.apiListCases))
	mux.HandleFunc("GET /api/v1/cases/{number}", g.requireToken(g.apiGetCase))
	mux.HandleFunc("PATCH /api/v1/cases/{number}", g.requireToken(g.apiPatchCase))
	mux.HandleFunc("POST /api/v1/cases/{number}/comments", g.requireToken(g.apiComment))
	mux.HandleFunc("POST /api/v1/cases/{number}/transitions", g.requireToken(g.apiTransition))
	mux.HandleFunc("POST /api/v1/cases/{number}/watchers", g.requireToken(g.apiAddWatcher))
	mux.HandleFunc("DELETE /api/v1/cases/{number}/watchers", g.requireToken(g.apiRemoveWatcher))
	mux.HandleFunc("GET /api/v1/messages/{id}/raw", g.requireToken(g.apiMessageRaw))
	mux.HandleFunc("GET /api/v1/attachments/{id}", g.requireToken(g.apiAttachment))
	mux.HandleFunc("GET /metrics", g.handleMetrics)
}

// caseList is the answer of GET /api/v1/cases.
type caseList struct {
	Cases      []store.Case `json:"cases"`
	NextCursor string       `json:"next_cursor"`
}

func (g *Gateway) apiListCases(w http.ResponseWriter, r *http.Request) {
	f, err := parseCaseSearch(r)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	cases, err := g.store.SearchCases(r.Context(), f)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	out := caseList{Cases: cases}
	if len(cases) > limit {
		out.Cases = cases[:limit]
		out.NextCursor = encodeCursor(out.Cases[limit-1].ID)
	}
	if out.Cases == nil {
		out.Cases = []store.Case{}
	}
	writeJSON(w, http.StatusOK, out)
}

// parseCaseSearch reads the list query: state, kind, contact, q, limit
// (default 50, at most 500) and cursor.
func parseCaseSearch(r *http.Request) (store.CaseSearch, error) {
	q := r.URL.Query()
	f := store.CaseSearch{Query: q.Get("q")}
	f.State, f.Kind, f.Contact = q.Get("state"), q.Get("kind"), strings.TrimSpace(q.Get("contact"))
	if n := utf8.RuneCountInString(f.Query); n > maxQueryRunes || !utf8.ValidString(f.Query) {
		return f, invalidf("q must be valid UTF-8 of at most %d characters", maxQueryRunes)
	}
	if len(f.Contact) > maxAddressBytes {
		return f, invalidf("contact is longer than any address (%d bytes)", maxAddressBytes)
	}
	if f.State != "" && !slices.Contains(append(activeStates, store.StateClosed), f.State) {
		return f, invalidf("state %q is not one of new, open, awaiting_info, on_hold, resolved, closed", f.State)
	}
	if f.Kind != "" && f.Kind != "case" && f.Kind != "order" {
		return f, invalidf("kind %q is not case or order", f.Kind)
	}
	f.Limit = defaultPageLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, invalidf("limit %q is not a positive number", v)
		}
		f.Limit = min(n, maxPageLimit)
	}
	if v := q.Get("cursor"); v != "" {
		id, err := decodeCursor(v)
		if err != nil {
			return f, invalidf("cursor %q is not one this API handed out", v)
		}
		f.After = id
	}
	return f, nil
}

// A cursor is opaque to clients: the id of the last case of a page.
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("c" + strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(string(b), "c")
	if !ok {
		return 0, errors.New("bad cursor")
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id < 1 {
		return 0, errors.New("bad cursor")
	}
	return id, nil
}

func (g *Gateway) apiGetCase(w http.ResponseWriter, r *http.Request) {
	d, err := g.CaseDetail(r.Context(), r.PathValue("number"))
	if err != nil {
		g.apiError(w, r, g.caseErr(r, err))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

type commentRequest struct {
	Body   string `json:"body"`
	Public bool   `json:"public"`
	Author string `json:"author"`
}

// apiComment adds a comment; public is false unless asked, so nothing is
// mailed to the customer by accident.
func (g *Gateway) apiComment(w http.ResponseWriter, r *http.Request) {
	var req commentRequest
	if !g.decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Author) == "" {
		g.apiError(w, r, invalidf("author (the agent's address) is required"))
		return
	}
	if strings.TrimSpace(req.Body) == "" {
		g.apiError(w, r, invalidf("body is required"))
		return
	}
	g.caseAction(w, r, http.StatusCreated, req.Author, func(number string, a Actor) (store.Case, error) {
		return g.Comment(r.Context(), number, req.Body, req.Public, a)
	})
}

type transitionRequest struct {
	To     string `json:"to"`
	Note   string `json:"note"`
	Author string `json:"author"`
}

func (g *Gateway) apiTransition(w http.ResponseWriter, r *http.Request) {
	var req transitionRequest
	if !g.decodeBody(w, r, &req) {
		return
	}
	if req.To == "" {
		g.apiError(w, r, invalidf("to (the state to move the case to) is required"))
		return
	}
	g.caseAction(w, r, http.StatusOK, req.Author, func(number string, a Actor) (store.Case, error) {
		return g.Transition(r.Context(), number, req.To, req.Note, a)
	})
}

type patchRequest struct {
	Assignee *string `json:"assignee"`
	Priority *string `json:"priority"`
	Impact   *string `json:"impact"`
	Author   string  `json:"author"`
}

func (g *Gateway) apiPatchCase(w http.ResponseWriter, r *http.Request) {
	var req patchRequest
	if !g.decodeBody(w, r, &req) {
		return
	}
	p := store.CasePatch{Assignee: req.Assignee, Priority: req.Priority, Impact: req.Impact}
	if p == (store.CasePatch{}) {
		g.apiError(w, r, invalidf("nothing to change: give assignee, priority or impact"))
		return
	}
	g.caseAction(w, r, http.StatusOK, req.Author, func(number string, a Actor) (store.Case, error) {
		return g.Update(r.Context(), number, p, a)
	})
}

type watcherRequest struct {
	Email  string `json:"email"`
	Author string `json:"author"`
}

func (g *Gateway) apiAddWatcher(w http.ResponseWriter, r *http.Request) {
	g.watcherRoute(w, r, http.StatusCreated, g.AddWatcher)
}

func (g *Gateway) apiRemoveWatcher(w http.ResponseWriter, r *http.Request) {
	g.watcherRoute(w, r, http.StatusOK, g.RemoveWatcher)
}

func (g *Gateway) watcherRoute(w http.ResponseWriter, r *http.Request, status int,
	fn func(ctx context.Context, number, email string, a Actor) (store.Case, error)) {
	var req watcherRequest
	if !g.decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Email) == "" {
		g.apiError(w, r, invalidf("email is required"))
		return
	}
	g.caseAction(w, r, status, req.Author, func(number string, a Actor) (store.Case, error) {
		return fn(r.Context(), number, strings.TrimSpace(req.Email), a)
	})
}

// caseAction runs one agent action on the case of the path and answers with the
// case as it is afterwards.
func (g *Gateway) caseAction(w http.ResponseWriter, r *http.Request, status int, author string,
	fn func(number string, a Actor) (store.Case, error)) {
	actor, err := parseAuthor(author)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	c, err := fn(r.PathValue("number"), actor)
	if err != nil {
		g.apiError(w, r, g.caseErr(r, err))
		return
	}
	d, err := g.CaseDetail(r.Context(), c.Number)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	writeJSON(w, status, d)
}

// parseAuthor reads the acting agent's address; none means the API itself.
func parseAuthor(s string) (Actor, error) {
	if strings.TrimSpace(s) == "" {
		return Actor{Email: apiActor}, nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || !cleanAddress(s) {
		return Actor{}, invalidf("author %q is not an address", s)
	}
	return Actor{Email: strings.ToLower(a.Address), Name: a.Name}, nil
}

// decodeBody reads a JSON request body of at most 1 MiB with no unknown
// fields; on failure it has answered already.
func (g *Gateway) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("one JSON object expected, found more")
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "too_large", "the request body is over 1 MiB")
		return false
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("empty body, a JSON object expected")
	}
	g.apiError(w, r, invalidf("bad request body: %v", err))
	return false
}

// CaseDetail is a case with what an agent reads: its watchers, its
// attachments, its survey and its activity thread, inbound mails with
// their visible reply, full text and decision trace.
type CaseDetail struct {
	store.Case
	Watchers    []store.Watcher  `json:"watchers"`
	Attachments []AttachmentView `json:"attachments"`
	Survey      *store.Survey    `json:"survey,omitempty"`
	Activity    []ActivityView   `json:"activity"`
}

// AttachmentView is an attachment's metadata and where to fetch it.
type AttachmentView struct {
	store.Attachment
	URL string `json:"url"`
}

// ActivityView is one entry of the thread; an inbound entry carries its
// message.
type ActivityView struct {
	store.Activity
	Message *MessageView `json:"message,omitempty"`
}

// MessageView is a stored inbound mail as the API shows it: the decision
// trace and headers as JSON, and where to fetch the raw original.
type MessageView struct {
	store.InboundMessage
	Headers  json.RawMessage `json:"headers"`
	Decision json.RawMessage `json:"decision"`
	RawURL   string          `json:"raw_url"`
}

// CaseDetail reads a case with its watchers, attachments, survey and
// thread.
func (g *Gateway) CaseDetail(ctx context.Context, number string) (CaseDetail, error) {
	c, err := g.store.CaseByNumber(ctx, number)
	if err != nil {
		return CaseDetail{}, err
	}
	d := CaseDetail{Case: c, Watchers: []store.Watcher{}, Attachments: []AttachmentView{}, Activity: []ActivityView{}}
	if ws, err := g.store.Watchers(ctx, c.ID); err != nil {
		return d, err
	} else if ws != nil {
		d.Watchers = ws
	}
	atts, err := g.store.CaseAttachments(ctx, c.ID)
	if err != nil {
		return d, err
	}
	for _, a := range atts {
		a.Filename = SafeFilename(a.Filename)
		d.Attachments = append(d.Attachments, AttachmentView{Attachment: a, URL: fmt.Sprintf("/api/v1/attachments/%d", a.ID)})
	}
	if s, err := g.store.Survey(ctx, c.ID); err == nil {
		d.Survey = &s
	} else if !errors.Is(err, store.ErrNotFound) {
		return d, err
	}
	d.Activity, err = g.thread(ctx, c.ID)
	return d, err
}

// thread joins a case's activity entries with its inbound messages.
func (g *Gateway) thread(ctx context.Context, caseID int64) ([]ActivityView, error) {
	acts, err := g.store.Activities(ctx, caseID)
	if err != nil {
		return nil, err
	}
	msgs, err := g.store.CaseMessages(ctx, caseID)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]store.InboundMessage, len(msgs))
	for _, m := range msgs {
		byID[m.ID] = m
	}
	out := make([]ActivityView, 0, len(acts))
	for _, a := range acts {
		v := ActivityView{Activity: a}
		if m, ok := byID[a.MessageID]; ok && a.MessageID != 0 {
			v.Message = &MessageView{InboundMessage: m, Headers: rawJSON(m.Headers, "{}"), Decision: rawJSON(m.Decision, "[]"),
				RawURL: fmt.Sprintf("/api/v1/messages/%d/raw", m.ID)}
		}
		out = append(out, v)
	}
	return out, nil
}

// rawJSON passes stored JSON through as JSON, and anything that is not
// valid JSON as a string, so one bad row cannot break the answer.
func rawJSON(s, empty string) json.RawMessage {
	if s == "" {
		return json.RawMessage(empty)
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

func (g *Gateway) apiMessageRaw(w http.ResponseWriter, r *http.Request) {
	id, err := resourceID(r)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	m, err := g.store.Message(r.Context(), id)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	if gonePurged(w, "message", id, m.Purged, m.PurgedAt) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Length", strconv.Itoa(len(m.Raw)))
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="message-%d.eml"`, m.ID))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(m.Raw)
}

// apiAttachment serves an attachment as a download, never inline: a
// hostile HTML or SVG attachment must not run in an agent's browser on
// our origin.
func (g *Gateway) apiAttachment(w http.ResponseWriter, r *http.Request) {
	id, err := resourceID(r)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	a, err := g.store.AttachmentByID(r.Context(), id)
	if err != nil {
		g.apiError(w, r, err)
		return
	}
	if gonePurged(w, "attachment", id, a.Purged, a.PurgedAt) {
		return
	}
	name := SafeFilename(a.Filename)
	if name == "" {
		name = fmt.Sprintf("attachment-%d", a.ID)
	}
	h := w.Header()
	h.Set("Content-Type", safeContentType(a.ContentType))
	h.Set("Content-Length", strconv.Itoa(len(a.Content)))
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(a.Content)
}

// safeContentType re-formats a stored content type, or falls back to
// application/octet-stream when it does not parse.
func safeContentType(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(mt, "/") {
		return "application/octet-stream"
	}
	if v := mime.FormatMediaType(mt, params); v != "" {
		return v
	}
	return "application/octet-stream"
}

// contentDisposition forces a download, with an ASCII fallback name and
// the real one in RFC 5987/6266 form.
func contentDisposition(name string) string {
	name = strings.NewReplacer("/", "_", `\`, "_").Replace(name)
	ascii := []byte(name)
	for i, c := range ascii {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '%' {
			ascii[i] = '_'
		}
	}
	var enc strings.Builder
	for _, c := range []byte(name) {
		if isAttrChar(c) {
			enc.WriteByte(c)
		} else {
			fmt.Fprintf(&enc, "%%%02X", c)
		}
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, enc.String())
}

// isAttrChar is RFC 5987's attr-char.
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// resourceID reads the {id} of a message or attachment path.
func resourceID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, invalidf("the id must be a positive number")
	}
	return id, nil
}

// apiErr is an error with its API answer.
type apiErr struct {
	status    int
	code, msg string
}

func (e *apiErr) Error() string { return e.msg }

func invalidf(format string, args ...any) error {
	return &apiErr{status: http.StatusBadRequest, code: "invalid", msg: fmt.Sprintf(format, args...)}
}

// caseErr names the case of the path when it is the case that was not
// found (rather than, say, the watcher to remove).
func (g *Gateway) caseErr(r *http.Request, err error) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	number := strings.ToUpper(r.PathValue("number"))
	if _, cerr := g.store.CaseByNumber(r.Context(), number); errors.Is(cerr, store.ErrNotFound) {
		return &apiErr{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("case %s not found", number)}
	}
	return err
}

// apiError answers with the error's stable code. Internal errors are
// logged, and the client sees only that there was one.
func (g *Gateway) apiError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiErr
	var ite *IllegalTransitionError
	var te *TemporaryError
	switch {
	case errors.As(err, &ae):
		writeJSONError(w, ae.status, ae.code, ae.msg)
	case errors.As(err, &ite):
		writeJSONError(w, http.StatusConflict, "illegal_transition", ite.Error())
	case errors.Is(err, ErrInvalid):
		writeJSONError(w, http.StatusBadRequest, "invalid", strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	case errors.Is(err, store.ErrNotFound):
		writeJSONError(w, http.StatusNotFound, "not_found", err.Error())
	case g.noteStorage("api "+r.Method+" "+r.URL.Path, err):
		writeJSONError(w, http.StatusServiceUnavailable, "insufficient_storage",
			"the server's disk is full; nothing was changed, try again once space is freed")
	case errors.As(err, &te):
		g.log.Warn("api request failed, temporary", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "temporary", "temporary failure, try again")
	default:
		g.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}
