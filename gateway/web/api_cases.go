package web

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

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

// The case API of SPEC §5. Every route but /metrics needs a bearer token.
// Errors are {"error": {"code", "message"}} with the stable codes
// unauthorized (401), not_found (404), illegal_transition (409), invalid
// (400), too_large (413), insufficient_storage (503: the disk is full,
// nothing changed), temporary (503) and internal (500, details only in
// the log).

// states are the states a case can be in.
var states = []string{store.StateNew, store.StateOpen, store.StateAwaitingInfo, store.StateOnHold, store.StateResolved, store.StateClosed}

const (
	maxRequestBody   = 1 << 20
	defaultPageLimit = 50
	maxPageLimit     = 500
	maxQueryRunes    = 200 // the search text q
	maxAddressBytes  = 320 // an address in a query (RFC 5321 §4.5.3.1: 64 + 1 + 255)
	// apiActor acts when an API request names no author.
	apiActor = "api"
)

// registerCaseRoutes adds the case API of SPEC §5 under /api/v1.
func (h *Handler) registerCaseRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/cases", h.requireToken(h.apiListCases))
	mux.HandleFunc("POST /api/v1/cases", h.requireToken(h.apiOpenCase))
	mux.HandleFunc("GET /api/v1/cases/{number}", h.requireToken(h.apiGetCase))
	mux.HandleFunc("PATCH /api/v1/cases/{number}", h.requireToken(h.apiPatchCase))
	mux.HandleFunc("POST /api/v1/cases/{number}/comments", h.requireToken(h.apiComment))
	mux.HandleFunc("POST /api/v1/cases/{number}/transitions", h.requireToken(h.apiTransition))
	mux.HandleFunc("POST /api/v1/cases/{number}/watchers", h.requireToken(h.apiAddWatcher))
	mux.HandleFunc("DELETE /api/v1/cases/{number}/watchers", h.requireToken(h.apiRemoveWatcher))
	mux.HandleFunc("GET /api/v1/messages/{id}/raw", h.requireToken(h.apiMessageRaw))
	mux.HandleFunc("GET /api/v1/attachments/{id}", h.requireToken(h.apiAttachment))
}

// caseList is the answer of GET /api/v1/cases.
type caseList struct {
	Cases      []store.Case `json:"cases"`
	NextCursor string       `json:"next_cursor"`
}

func (h *Handler) apiListCases(w http.ResponseWriter, r *http.Request) {
	f, err := parseCaseSearch(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	cases, err := h.g.SearchCases(r.Context(), f)
	if err != nil {
		h.apiError(w, r, err)
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
	if f.State != "" && !slices.Contains(states, f.State) {
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

func (h *Handler) apiGetCase(w http.ResponseWriter, r *http.Request) {
	d, err := h.g.CaseDetail(r.Context(), r.PathValue("number"))
	if err != nil {
		h.apiError(w, r, h.caseErr(r, err))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

type openRequest struct {
	Contact     string   `json:"contact"`
	Subject     string   `json:"subject"`
	Description string   `json:"description"`
	Kind        string   `json:"kind"`
	Priority    string   `json:"priority"`
	Impact      string   `json:"impact"`
	Watchers    []string `json:"watchers"`
	LinkedTo    string   `json:"linked_to"`
	Author      string   `json:"author"`
}

// apiOpenCase opens a case on behalf of a customer: the contact gets the
// confirmation, as if she had written.
func (h *Handler) apiOpenCase(w http.ResponseWriter, r *http.Request) {
	var req openRequest
	if !h.decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Contact) == "" || strings.TrimSpace(req.Subject) == "" {
		h.apiError(w, r, invalidf("contact and subject are required"))
		return
	}
	actor, err := parseAuthor(req.Author, tokenName(r))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	c, err := h.g.OpenCase(r.Context(), gateway.OpenRequest{Contact: req.Contact, Subject: req.Subject, Description: req.Description,
		Kind: req.Kind, Priority: req.Priority, Impact: req.Impact, Watchers: req.Watchers, LinkedTo: req.LinkedTo}, actor)
	if errors.Is(err, store.ErrNotFound) {
		err = invalidf("linked_to %q is not a case", req.LinkedTo)
	}
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	d, err := h.g.CaseDetail(r.Context(), c.Number)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

type commentRequest struct {
	Body   string `json:"body"`
	Public bool   `json:"public"`
	Author string `json:"author"`
}

// apiComment adds a comment; public is false unless asked, so nothing is
// mailed to the customer by accident.
func (h *Handler) apiComment(w http.ResponseWriter, r *http.Request) {
	var req commentRequest
	if !h.decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Author) == "" && tokenName(r) == apiActor {
		h.apiError(w, r, invalidf("author (the agent's address) is required with an unnamed token"))
		return
	}
	if strings.TrimSpace(req.Body) == "" {
		h.apiError(w, r, invalidf("body is required"))
		return
	}
	h.caseAction(w, r, http.StatusCreated, req.Author, func(number string, a gateway.Actor) (store.Case, error) {
		return h.g.Comment(r.Context(), number, req.Body, req.Public, a)
	})
}

type transitionRequest struct {
	To     string `json:"to"`
	Note   string `json:"note"`
	Author string `json:"author"`
}

func (h *Handler) apiTransition(w http.ResponseWriter, r *http.Request) {
	var req transitionRequest
	if !h.decodeBody(w, r, &req) {
		return
	}
	if req.To == "" {
		h.apiError(w, r, invalidf("to (the state to move the case to) is required"))
		return
	}
	h.caseAction(w, r, http.StatusOK, req.Author, func(number string, a gateway.Actor) (store.Case, error) {
		return h.g.Transition(r.Context(), number, req.To, req.Note, a)
	})
}

type patchRequest struct {
	Assignee *string `json:"assignee"`
	Priority *string `json:"priority"`
	Impact   *string `json:"impact"`
	Contact  *string `json:"contact"`
	Author   string  `json:"author"`
}

func (h *Handler) apiPatchCase(w http.ResponseWriter, r *http.Request) {
	var req patchRequest
	if !h.decodeBody(w, r, &req) {
		return
	}
	p := store.CasePatch{Assignee: req.Assignee, Priority: req.Priority, Impact: req.Impact}
	if p == (store.CasePatch{}) && req.Contact == nil {
		h.apiError(w, r, invalidf("nothing to change: give assignee, priority, impact or contact"))
		return
	}
	h.caseAction(w, r, http.StatusOK, req.Author, func(number string, a gateway.Actor) (store.Case, error) {
		if req.Contact != nil {
			c, err := h.g.ChangeContact(r.Context(), number, *req.Contact, a)
			if err != nil || p == (store.CasePatch{}) {
				return c, err
			}
		}
		return h.g.Update(r.Context(), number, p, a)
	})
}

type watcherRequest struct {
	Email  string `json:"email"`
	Author string `json:"author"`
}

func (h *Handler) apiAddWatcher(w http.ResponseWriter, r *http.Request) {
	h.watcherRoute(w, r, http.StatusCreated, h.g.AddWatcher)
}

func (h *Handler) apiRemoveWatcher(w http.ResponseWriter, r *http.Request) {
	h.watcherRoute(w, r, http.StatusOK, h.g.RemoveWatcher)
}

func (h *Handler) watcherRoute(w http.ResponseWriter, r *http.Request, status int,
	fn func(ctx context.Context, number, email string, a gateway.Actor) (store.Case, error)) {
	var req watcherRequest
	if !h.decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Email) == "" {
		h.apiError(w, r, invalidf("email is required"))
		return
	}
	h.caseAction(w, r, status, req.Author, func(number string, a gateway.Actor) (store.Case, error) {
		return fn(r.Context(), number, strings.TrimSpace(req.Email), a)
	})
}

// caseAction runs one agent action on the case of the path and answers with the
// case as it is afterwards.
func (h *Handler) caseAction(w http.ResponseWriter, r *http.Request, status int, author string,
	fn func(number string, a gateway.Actor) (store.Case, error)) {
	actor, err := parseAuthor(author, tokenName(r))
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	c, err := fn(r.PathValue("number"), actor)
	if err != nil {
		h.apiError(w, r, h.caseErr(r, err))
		return
	}
	d, err := h.g.CaseDetail(r.Context(), c.Number)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	writeJSON(w, status, d)
}

// parseAuthor reads the acting agent's address; none means the token's
// name (an agent's address or an integration's name, "api" for a bare
// token).
func parseAuthor(s, token string) (gateway.Actor, error) {
	if strings.TrimSpace(s) == "" {
		if token == "" {
			token = apiActor
		}
		return gateway.Actor{Email: token}, nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || gateway.EscapeControls(s, false) != s {
		return gateway.Actor{}, invalidf("author %q is not an address", s)
	}
	return gateway.Actor{Email: strings.ToLower(a.Address), Name: a.Name}, nil
}

// decodeBody reads a JSON request body of at most 1 MiB with no unknown
// fields; on failure it has answered already.
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
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
	h.apiError(w, r, invalidf("bad request body: %v", err))
	return false
}

func (h *Handler) apiMessageRaw(w http.ResponseWriter, r *http.Request) {
	id, err := resourceID(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	info, err := h.g.MessageRawInfo(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if gonePurged(w, "message", id, info.Purged, info.PurgedAt) {
		return
	}
	h.download(w, r, "message/rfc822", fmt.Sprintf("message-%d.eml", id), info.Size, "message", id, h.g.MessageRaw)
}

// apiAttachment serves an attachment as a download, never inline: a
// hostile HTML or SVG attachment must not run in an agent's browser on
// our origin.
func (h *Handler) apiAttachment(w http.ResponseWriter, r *http.Request) {
	id, err := resourceID(r)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	a, err := h.g.Attachment(r.Context(), id)
	if err != nil {
		h.apiError(w, r, err)
		return
	}
	if gonePurged(w, "attachment", id, a.Purged, a.PurgedAt) {
		return
	}
	h.writeAttachment(w, r, a)
}

// writeAttachment serves an attachment as a download, never inline, its
// content streamed a piece at a time.
func (h *Handler) writeAttachment(w http.ResponseWriter, r *http.Request, a store.Attachment) {
	name := gateway.SafeFilename(a.Filename)
	if name == "" {
		name = fmt.Sprintf("attachment-%d", a.ID)
	}
	size := a.Size
	if a.Purged != "" {
		size = 0 // the content is gone; the row says so
	}
	h.download(w, r, safeContentType(a.ContentType), name, size, "attachment", a.ID, h.g.AttachmentContent)
}

// download serves the stored bytes of what id as a file to save, never
// to show: sniffing off, and sandboxed should a browser render it anyway.
// write streams them a piece at a time (a large mail or file is never
// read whole); once the status is sent, a failure can only cut the body
// short, which the client sees against Content-Length.
func (h *Handler) download(w http.ResponseWriter, r *http.Request, contentType, name string, size int64,
	what string, id int64, write func(context.Context, int64, io.Writer) error) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Length", strconv.FormatInt(size, 10))
	hd.Set("Content-Disposition", contentDisposition(name))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	w.WriteHeader(http.StatusOK)
	if err := write(r.Context(), id, w); err != nil {
		h.log.Warn("download cut short", what+"_id", id, "err", err)
	}
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
func (h *Handler) caseErr(r *http.Request, err error) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	number := strings.ToUpper(r.PathValue("number"))
	if _, cerr := h.g.Case(r.Context(), number); errors.Is(cerr, store.ErrNotFound) {
		return &apiErr{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("case %s not found", number)}
	}
	return err
}

// apiError answers with the error's stable code. Internal errors are
// logged, and the client sees only that there was one.
func (h *Handler) apiError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiErr
	var ite *gateway.IllegalTransitionError
	var te *gateway.TemporaryError
	switch {
	case errors.As(err, &ae):
		writeJSONError(w, ae.status, ae.code, ae.msg)
	case errors.As(err, &ite):
		writeJSONError(w, http.StatusConflict, "illegal_transition", ite.Error())
	case errors.Is(err, gateway.ErrInvalid):
		writeJSONError(w, http.StatusBadRequest, "invalid", strings.TrimPrefix(err.Error(), gateway.ErrInvalid.Error()+": "))
	case errors.Is(err, store.ErrNotFound):
		writeJSONError(w, http.StatusNotFound, "not_found", err.Error())
	case h.g.NoteStorage("api "+r.Method+" "+r.URL.Path, err):
		writeJSONError(w, http.StatusServiceUnavailable, "insufficient_storage",
			"the server's disk is full; nothing was changed, try again once space is freed")
	case errors.As(err, &te):
		h.log.Warn("api request failed, temporary", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSONError(w, http.StatusServiceUnavailable, "temporary", "temporary failure, try again")
	default:
		h.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}
