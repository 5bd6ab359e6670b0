package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

const testToken = "s3cret-token"

// apiTest is a gateway on a fresh database served over HTTP, with one
// API token.
type apiTest struct {
	t   *testing.T
	g   *gateway.Gateway
	h   *Handler
	st  *store.Store
	url string
}

func newAPITest(t *testing.T, tokens ...string) *apiTest {
	t.Helper()
	return newAPITestWith(t, envOptions{}, tokens...)
}

func newAPITestWith(t *testing.T, opts envOptions, tokens ...string) *apiTest {
	t.Helper()
	e := newEnv(t, opts)
	e.h.cfg.Tokens = nil
	for _, tok := range tokens {
		e.h.cfg.Tokens = append(e.h.cfg.Tokens, Token{Name: apiActor, Secret: tok})
	}
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	return &apiTest{t: t, g: e.g, h: e.h, st: e.st, url: srv.URL}
}

// call sends a request with the test token and returns the status, the
// headers and the body.
func (a *apiTest) call(method, path, body string) (int, http.Header, []byte) {
	a.t.Helper()
	return a.callAs("Bearer "+testToken, method, path, body)
}

func (a *apiTest) callAs(auth, method, path, body string) (int, http.Header, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// want asserts the status and decodes the JSON answer into v (if not nil).
func (a *apiTest) want(status int, v any, method, path, body string) {
	a.t.Helper()
	code, _, b := a.call(method, path, body)
	if code != status {
		a.t.Fatalf("%s %s: status %d, want %d\n%s", method, path, code, status, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			a.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
}

// wantError asserts an error answer with its stable code and returns the
// message.
func (a *apiTest) wantError(status int, code, method, path, body string) string {
	a.t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	a.want(status, &e, method, path, body)
	if e.Error.Code != code {
		a.t.Fatalf("%s %s: error code %q, want %q (%s)", method, path, e.Error.Code, code, e.Error.Message)
	}
	return e.Error.Message
}

// mail ingests a message from sender to rcpt and returns the case number.
func (a *apiTest) mail(sender, rcpt, subject, body string) string {
	a.t.Helper()
	raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s.%d@customer.example>\r\n\r\n%s\r\n",
		sender, rcpt, subject, strings.ReplaceAll(subject, " ", "."), len(body), body)
	res, err := a.g.Ingest(context.Background(), []byte(raw), gateway.Envelope{Source: "smtp", From: sender, To: []string{rcpt}})
	if err != nil || res.Case == "" {
		a.t.Fatalf("ingest %q: %+v, %v", subject, res, err)
	}
	return res.Case
}

func (a *apiTest) storedCase(number string) store.Case {
	a.t.Helper()
	c, err := a.st.CaseByNumber(context.Background(), number)
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

func (a *apiTest) outboxCount() int {
	a.t.Helper()
	rows, err := a.st.ListOutbox(context.Background(), "", 0)
	if err != nil {
		a.t.Fatal(err)
	}
	return len(rows)
}

// apiRoutes is every token-protected route with a request that would
// otherwise succeed.
var apiRoutes = []struct{ method, path, body string }{
	{"GET", "/api/v1/cases", ""},
	{"GET", "/api/v1/cases/CS0000001", ""},
	{"PATCH", "/api/v1/cases/CS0000001", `{"priority": "high"}`},
	{"POST", "/api/v1/cases/CS0000001/comments", `{"body": "hi", "author": "ann@agents.test"}`},
	{"POST", "/api/v1/cases/CS0000001/transitions", `{"to": "on_hold"}`},
	{"POST", "/api/v1/cases/CS0000001/watchers", `{"email": "x@customer.example"}`},
	{"DELETE", "/api/v1/cases/CS0000001/watchers", `{"email": "dave@customer.example"}`},
	{"GET", "/api/v1/messages/1/raw", ""},
	{"GET", "/api/v1/attachments/1", ""},
}

func TestAPIRefusesRequestsWithoutAValidToken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tokens []string
		auth   string
	}{
		{"no token", []string{testToken}, ""},
		{"wrong token", []string{testToken}, "Bearer not-the-token"},
		{"token as basic auth", []string{testToken}, "Basic " + testToken},
		{"empty bearer", []string{testToken}, "Bearer "},
		{"none configured", nil, "Bearer " + testToken},
		{"none configured, empty bearer", nil, "Bearer "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAPITest(t, tc.tokens...)
			num := a.mail("carol@customer.example", "support@support.test", "Printer offline", "E42")
			before := a.outboxCount()
			for _, r := range apiRoutes {
				code, h, b := a.callAs(tc.auth, r.method, r.path, r.body)
				if code != http.StatusUnauthorized || !strings.Contains(string(b), `"code": "unauthorized"`) {
					t.Errorf("%s %s: %d %s", r.method, r.path, code, b)
				}
				if h.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: no WWW-Authenticate", r.method, r.path)
				}
			}
			if c := a.storedCase(num); c.State != store.StateNew || c.Priority != "normal" || a.outboxCount() != before {
				t.Errorf("a refused request changed the case: %+v", c)
			}
			// /healthz and /metrics stay open, like a load balancer expects.
			for _, p := range []string{"/healthz", "/metrics"} {
				if code, _, _ := a.callAs(tc.auth, "GET", p, ""); code != http.StatusOK {
					t.Errorf("GET %s: %d", p, code)
				}
			}
		})
	}
}

func TestAPIUnknownCaseIsNotFound(t *testing.T) {
	a := newAPITest(t, testToken)
	for _, r := range apiRoutes[1:7] {
		path := strings.Replace(r.path, "CS0000001", "cs0000099", 1)
		if msg := a.wantError(http.StatusNotFound, "not_found", r.method, path, r.body); msg != "case CS0000099 not found" {
			t.Errorf("%s %s: message %q", r.method, path, msg)
		}
	}
	for _, p := range []string{"/api/v1/messages/99/raw", "/api/v1/attachments/99"} {
		a.wantError(http.StatusNotFound, "not_found", "GET", p, "")
	}
	for _, p := range []string{"/api/v1/messages/x/raw", "/api/v1/attachments/-1"} {
		a.wantError(http.StatusBadRequest, "invalid", "GET", p, "")
	}
}

func TestAPIIllegalTransitionChangesNothing(t *testing.T) {
	a := newAPITest(t, testToken)
	num := a.mail("carol@customer.example", "support@support.test", "VPN drops", "every hour")
	var d gateway.CaseDetail
	a.want(http.StatusOK, &d, "POST", "/api/v1/cases/"+num+"/transitions", `{"to": "closed", "note": "duplicate", "author": "ann@agents.test"}`)
	if d.State != store.StateClosed {
		t.Fatalf("state %s after closing", d.State)
	}
	before, outbox := a.storedCase(num), a.outboxCount()
	acts, _ := a.st.Activities(context.Background(), before.ID)

	msg := a.wantError(http.StatusConflict, "illegal_transition", "POST", "/api/v1/cases/"+num+"/transitions", `{"to": "open", "author": "ann@agents.test"}`)
	if !strings.Contains(msg, "closed") {
		t.Errorf("message %q does not say why", msg)
	}
	a.wantError(http.StatusConflict, "illegal_transition", "POST", "/api/v1/cases/"+num+"/comments", `{"body": "hello?", "public": true, "author": "ann@agents.test"}`)
	a.wantError(http.StatusConflict, "illegal_transition", "PATCH", "/api/v1/cases/"+num, `{"priority": "high"}`)
	a.wantError(http.StatusConflict, "illegal_transition", "POST", "/api/v1/cases/"+num+"/watchers", `{"email": "eve@customer.example"}`)

	after := a.storedCase(num)
	actsAfter, _ := a.st.Activities(context.Background(), after.ID)
	if fmt.Sprintf("%+v", after) != fmt.Sprintf("%+v", before) || len(actsAfter) != len(acts) || a.outboxCount() != outbox {
		t.Errorf("refused requests changed the case:\nbefore %+v\nafter  %+v\nactivities %d -> %d", before, after, len(acts), len(actsAfter))
	}
}

func TestAPIRefusesInvalidRequests(t *testing.T) {
	a := newAPITest(t, testToken)
	num := a.mail("carol@customer.example", "support@support.test", "VPN drops", "every hour")
	base := "/api/v1/cases/" + num
	for _, r := range []struct{ method, path, body, wantMsg string }{
		{"POST", base + "/comments", `{"body": "x", "public": true}`, "author"},
		{"POST", base + "/comments", `{"body": "  ", "author": "ann@agents.test"}`, "body"},
		{"POST", base + "/comments", `{"body": "x", "author": "not an address"}`, "author"},
		{"POST", base + "/comments", `{"body": "x", "author": "ann@agents.test", "visibility": "all"}`, "unknown field"},
		{"POST", base + "/comments", `{"body": "x", "author": "ann@agents.test"} {}`, "one JSON object"},
		{"POST", base + "/comments", `{"body": 1}`, "body"},
		{"POST", base + "/comments", `not json`, "bad request body"},
		{"POST", base + "/comments", ``, "empty body"},
		{"POST", base + "/transitions", `{"to": "solved"}`, "solved"},
		{"POST", base + "/transitions", `{"to": "new"}`, "new"},
		{"POST", base + "/transitions", `{"note": "x"}`, "to"},
		{"POST", base + "/transitions", `{"to": "resolved"}`, "resolution note"},
		{"PATCH", base, `{"priority": "asap"}`, "priority"},
		{"PATCH", base, `{}`, "nothing to change"},
		{"PATCH", base, `{"state": "open"}`, "unknown field"},
		{"POST", base + "/watchers", `{"email": "support@support.test"}`, "own addresses"},
		{"POST", base + "/watchers", `{"email": "nobody"}`, "not an address"},
		{"POST", base + "/watchers", `{}`, "email"},
		{"GET", "/api/v1/cases?state=pending", "", "state"},
		{"GET", "/api/v1/cases?kind=incident", "", "kind"},
		{"GET", "/api/v1/cases?limit=0", "", "limit"},
		{"GET", "/api/v1/cases?limit=ten", "", "limit"},
		{"GET", "/api/v1/cases?cursor=%25%25", "", "cursor"},
		{"GET", "/api/v1/cases?cursor=MTI", "", "cursor"},
	} {
		msg := a.wantError(http.StatusBadRequest, "invalid", r.method, r.path, r.body)
		if !strings.Contains(msg, r.wantMsg) {
			t.Errorf("%s %s %s: message %q lacks %q", r.method, r.path, r.body, msg, r.wantMsg)
		}
	}
	big := `{"body": "` + strings.Repeat("x", 1<<20) + `", "author": "ann@agents.test"}`
	a.wantError(http.StatusRequestEntityTooLarge, "too_large", "POST", base+"/comments", big)
	if c := a.storedCase(num); c.State != store.StateNew || c.Priority != "normal" {
		t.Errorf("invalid requests changed the case: %+v", c)
	}
}

// listPage is the answer of GET /api/v1/cases.
type listPage struct {
	Cases      []store.Case `json:"cases"`
	NextCursor *string      `json:"next_cursor"`
}

func TestAPIListPagesThroughEveryCaseOnce(t *testing.T) {
	a := newAPITest(t, testToken)
	var want []string
	for i := 1; i <= 7; i++ {
		want = append([]string{a.mail("carol@customer.example", "support@support.test", fmt.Sprintf("Problem %d", i), "x")}, want...)
	}
	var got []string
	pages, path := 0, "/api/v1/cases?limit=3"
	for {
		var p listPage
		a.want(http.StatusOK, &p, "GET", path, "")
		pages++
		if p.NextCursor == nil {
			t.Fatal("next_cursor missing from the answer")
		}
		for _, c := range p.Cases {
			got = append(got, c.Number)
		}
		if *p.NextCursor == "" {
			break
		}
		if pages > 3 {
			t.Fatalf("more than 3 pages: %v", got)
		}
		path = "/api/v1/cases?limit=3&cursor=" + *p.NextCursor
	}
	if pages != 3 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%d pages: %v\nwant 3 pages: %v", pages, got, want)
	}
	// Without a limit the default page holds them all; a limit over the
	// maximum is capped, not refused.
	var p listPage
	a.want(http.StatusOK, &p, "GET", "/api/v1/cases?limit=100000", "")
	if len(p.Cases) != 7 || *p.NextCursor != "" {
		t.Errorf("limit=100000: %d cases, cursor %q", len(p.Cases), *p.NextCursor)
	}
	// Exactly a full page: the cursor ends there, no empty page follows.
	a.want(http.StatusOK, &p, "GET", "/api/v1/cases?limit=7", "")
	if len(p.Cases) != 7 || *p.NextCursor != "" {
		t.Errorf("limit=7: %d cases, cursor %q", len(p.Cases), *p.NextCursor)
	}
}

func TestAPIListFilters(t *testing.T) {
	a := newAPITest(t, testToken)
	vpn := a.mail("carol@customer.example", "support@support.test", "VPN drops every hour", "since Monday")
	printer := a.mail("dave@other.example", "support@support.test", "Printer offline", "Error E42 on floor 3 (100% broken)")
	laptop := a.mail("Carol@Customer.Example", "orders@support.test", "New laptop for Erin", "model X1")
	a.want(http.StatusOK, nil, "POST", "/api/v1/cases/"+printer+"/transitions", `{"to": "on_hold", "author": "ann@agents.test"}`)

	check := func(query string, want ...string) {
		t.Helper()
		var p listPage
		a.want(http.StatusOK, &p, "GET", "/api/v1/cases?"+query, "")
		var got []string
		for _, c := range p.Cases {
			got = append(got, c.Number)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("?%s: %v, want %v", query, got, want)
		}
	}
	check("", laptop, printer, vpn)
	check("state=on_hold", printer)
	check("state=new", laptop, vpn)
	check("state=closed")
	check("kind=order", laptop)
	check("kind=case", printer, vpn)
	check("contact=CAROL@customer.example", laptop, vpn)
	check("contact=carol@customer.example&kind=case", vpn)
	check("q=vpn", vpn)                         // subject, any case
	check("q=e42", printer)                     // description
	check("q="+strings.ToLower(laptop), laptop) // number
	check("q=100%25", printer)                  // % is literal
	check("q=_")                                // _ is literal
	check("q=nothing+like+this")
	check("q=e&state=new&kind=order", laptop)
}

func TestAPICommentTransitionPatchAndWatchers(t *testing.T) {
	a := newAPITestWith(t, envOptions{Survey: true}, testToken)
	raw := "From: Carol <carol@customer.example>\r\nTo: support@support.test\r\nCc: dave@customer.example\r\n" +
		"Subject: VPN drops\r\nMessage-ID: <vpn.1@customer.example>\r\n\r\nEvery hour.\r\n"
	res, err := a.g.Ingest(context.Background(), []byte(raw), gateway.Envelope{Source: "smtp", From: "carol@customer.example", To: []string{"support@support.test"}})
	if err != nil {
		t.Fatal(err)
	}
	num, base := res.Case, "/api/v1/cases/"+res.Case
	outbox := a.outboxCount()

	// An internal comment mails nobody and leaves the case new.
	var d gateway.CaseDetail
	a.want(http.StatusCreated, &d, "POST", base+"/comments", `{"body": "looks like the DHCP lease", "author": "Ann <ann@agents.test>"}`)
	last := d.Activity[len(d.Activity)-1]
	if d.State != store.StateNew || last.Kind != "comment" || last.Public || last.Actor != "ann@agents.test" || last.Body != "looks like the DHCP lease" {
		t.Fatalf("internal comment: state %s, last activity %+v", d.State, last)
	}
	if n := a.outboxCount(); n != outbox {
		t.Fatalf("internal comment queued %d mails", n-outbox)
	}
	// A public comment picks the case up and mails contact and watcher.
	a.want(http.StatusCreated, &d, "POST", base+"/comments", `{"body": "We are on it.", "public": true, "author": "ann@agents.test"}`)
	if d.State != store.StateOpen || a.storedCase(num).State != store.StateOpen {
		t.Fatalf("public comment on a new case: state %s", d.State)
	}
	if n := a.outboxCount(); n != outbox+2 {
		t.Fatalf("public comment queued %d mails, want 2 (contact, watcher)", n-outbox)
	}

	a.want(http.StatusOK, &d, "PATCH", base, `{"priority": "high", "assignee": "ann@agents.test", "author": "ann@agents.test"}`)
	c := a.storedCase(num)
	if d.Priority != "high" || d.Assignee != "ann@agents.test" || c.Priority != "high" || c.Assignee != "ann@agents.test" || c.Impact != "" {
		t.Fatalf("patch: answer %+v, stored %+v", d.Case, c)
	}
	a.want(http.StatusOK, &d, "PATCH", base, `{"impact": "whole floor"}`)
	if c := a.storedCase(num); c.Impact != "whole floor" || c.Priority != "high" || c.Assignee != "ann@agents.test" {
		t.Fatalf("a patch of one field changed others: %+v", c)
	}

	a.want(http.StatusCreated, &d, "POST", base+"/watchers", `{"email": "Erin <erin@customer.example>"}`)
	if !hasWatcher(d.Watchers, "erin@customer.example") || !hasWatcher(a.watchers(num), "erin@customer.example") {
		t.Fatalf("watcher not added: %+v", d.Watchers)
	}
	a.want(http.StatusOK, &d, "DELETE", base+"/watchers", `{"email": "dave@customer.example"}`)
	if hasWatcher(d.Watchers, "dave@customer.example") || hasWatcher(a.watchers(num), "dave@customer.example") {
		t.Fatalf("watcher not removed: %+v", d.Watchers)
	}
	msg := a.wantError(http.StatusNotFound, "not_found", "DELETE", base+"/watchers", `{"email": "dave@customer.example"}`)
	if strings.Contains(msg, "case") {
		t.Errorf("removing a non-watcher says %q: the case exists", msg)
	}

	a.want(http.StatusOK, &d, "POST", base+"/transitions", `{"to": "resolved", "note": "Lease time raised.", "author": "ann@agents.test"}`)
	c = a.storedCase(num)
	if d.State != store.StateResolved || c.State != store.StateResolved || c.ResolvedAt == nil {
		t.Fatalf("resolve: answer %s, stored %+v", d.State, c)
	}
	last = d.Activity[len(d.Activity)-1]
	if last.Kind != "state" || last.Body != "open → resolved: Lease time raised." || last.Actor != "ann@agents.test" {
		t.Errorf("last activity after resolving: %+v", last)
	}
	// Without an author the API itself is recorded as the actor.
	a.want(http.StatusOK, &d, "POST", base+"/transitions", `{"to": "closed"}`)
	if c := a.storedCase(num); c.State != store.StateClosed || c.ClosedAt == nil {
		t.Fatalf("close: %+v", c)
	}
	if last = d.Activity[len(d.Activity)-1]; last.Actor != "api" || last.Body != "resolved → closed" {
		t.Errorf("last activity after closing: %+v", last)
	}
	var got gateway.CaseDetail
	a.want(http.StatusOK, &got, "GET", base, "")
	if got.State != store.StateClosed || got.Survey == nil || len(got.Activity) != len(d.Activity) {
		t.Errorf("GET after close: state %s, survey %v, %d activities (answer had %d)", got.State, got.Survey, len(got.Activity), len(d.Activity))
	}
}

func hasWatcher(ws []store.Watcher, email string) bool {
	for _, w := range ws {
		if w.Email == email {
			return true
		}
	}
	return false
}

func (a *apiTest) watchers(number string) []store.Watcher {
	a.t.Helper()
	ws, err := a.st.Watchers(context.Background(), a.storedCase(number).ID)
	if err != nil {
		a.t.Fatal(err)
	}
	return ws
}

// hostileMail carries an HTML attachment with script and a name that needs
// encoding, and bytes a careless server would normalise (CRLF, trailing
// space, 8-bit).
const hostileMail = "From: Carol <carol@customer.example>\r\n" +
	"To: support@support.test\r\n" +
	"Subject: =?utf-8?q?Rechnung_f=C3=BCr_M=C3=A4rz?=\r\n" +
	"Message-ID: <invoice.1@customer.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: 8bit\r\n" +
	"\r\n" +
	"Siehe Anhang, Grüße   \r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9%20%22final%22.html\r\n" +
	"\r\n" +
	"<script>alert(document.cookie)</script>\r\n" +
	"--b1--\r\n"

func TestAPIRawMessageAndAttachmentDownload(t *testing.T) {
	a := newAPITest(t, testToken)
	res, err := a.g.Ingest(context.Background(), []byte(hostileMail), gateway.Envelope{Source: "smtp", From: "carol@customer.example", To: []string{"support@support.test"}})
	if err != nil {
		t.Fatal(err)
	}
	var d gateway.CaseDetail
	a.want(http.StatusOK, &d, "GET", "/api/v1/cases/"+res.Case, "")
	if len(d.Activity) == 0 || d.Activity[0].Message == nil {
		t.Fatalf("first activity has no message: %+v", d.Activity)
	}
	m := d.Activity[0].Message
	if !strings.Contains(m.Visible, "Siehe Anhang") || !strings.Contains(m.FullText, "Siehe Anhang") {
		t.Errorf("visible %q, full text %q", m.Visible, m.FullText)
	}
	var trace []gateway.Step
	if err := json.Unmarshal(m.Decision, &trace); err != nil || len(trace) == 0 {
		t.Errorf("decision is not a JSON array of steps: %s (%v)", m.Decision, err)
	}

	code, h, body := a.call("GET", m.RawURL, "")
	if code != http.StatusOK || string(body) != hostileMail {
		t.Fatalf("raw: %d, %d bytes; want the %d bytes received, byte for byte", code, len(body), len(hostileMail))
	}
	if ct := h.Get("Content-Type"); ct != "message/rfc822" {
		t.Errorf("raw Content-Type %q", ct)
	}

	if len(d.Attachments) != 1 {
		t.Fatalf("attachments: %+v", d.Attachments)
	}
	att := d.Attachments[0]
	if att.Filename != `Résumé "final".html` || att.URL != fmt.Sprintf("/api/v1/attachments/%d", att.ID) {
		t.Errorf("attachment metadata %+v", att)
	}
	code, h, body = a.call("GET", att.URL, "")
	if code != http.StatusOK || !strings.Contains(string(body), "<script>") {
		t.Fatalf("attachment: %d %q", code, body)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html",
		"Content-Disposition":     `attachment; filename="R__sum__ _final_.html"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.html`,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "sandbox; default-src 'none'",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestContentDispositionAndType(t *testing.T) {
	check := func(name, want string) {
		t.Helper()
		if got := contentDisposition(name); got != want {
			t.Errorf("contentDisposition(%q) = %s, want %s", name, got, want)
		}
	}
	check("report.pdf", `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`)
	check("../../etc/passwd", `attachment; filename=".._.._etc_passwd"; filename*=UTF-8''.._.._etc_passwd`)
	check("a\r\nX-Evil: 1", `attachment; filename="a__X-Evil: 1"; filename*=UTF-8''a%0D%0AX-Evil%3A%201`)
	check("100%.txt", `attachment; filename="100_.txt"; filename*=UTF-8''100%25.txt`)
	for in, want := range map[string]string{
		"text/html; charset=utf-8": "text/html; charset=utf-8",
		"TEXT/HTML":                "text/html",
		"":                         "application/octet-stream",
		"garbage":                  "application/octet-stream",
		"text/html; x=\"\r\n\"":    "application/octet-stream",
	} {
		if got := safeContentType(in); got != want {
			t.Errorf("safeContentType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	a := newAPITest(t) // /metrics needs no token, even with none configured
	num := a.mail("carol@customer.example", "support@support.test", "VPN drops", "every hour")
	a.mail("dave@customer.example", "support@support.test", "Printer offline", "E42")
	a.h.cfg.Tokens = []Token{{Name: apiActor, Secret: testToken}}
	a.want(http.StatusOK, nil, "POST", "/api/v1/cases/"+num+"/transitions", `{"to": "on_hold"}`)

	code, h, b := a.callAs("", "GET", "/metrics", "")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %s", code, h.Get("Content-Type"))
	}
	body := string(b)
	for _, want := range []string{
		"# TYPE casegate_cases gauge\n",
		`casegate_cases{state="new"} 1` + "\n",
		`casegate_cases{state="on_hold"} 1` + "\n",
		`casegate_cases{state="awaiting_info"} 0` + "\n",
		`casegate_outbox{status="pending"} 3` + "\n", // two confirmations and the on_hold notice
		`casegate_outbox{status="dead"} 0` + "\n",
		"casegate_outbox_oldest_pending_age_seconds 0\n", // the test clock stands still
		"# TYPE casegate_messages_total counter\n",
		`casegate_messages_total{outcome="new_case"} 2` + "\n",
		`casegate_messages_total{outcome="bounce"} 0` + "\n",
		`casegate_messages_total{outcome="duplicate"} 0` + "\n",
		"# TYPE casegate_intake_duration_seconds histogram\n",
		`casegate_intake_duration_seconds_count{source="smtp"} 2` + "\n",
		`casegate_notifications_total{result="sent"} 0` + "\n",
		"# TYPE casegate_notification_latency_seconds histogram\n",
		"casegate_quarantine 0\n",
		"casegate_panics_total 0\n",
		"# TYPE go_goroutines gauge\n",
		"# TYPE process_cpu_seconds_total counter\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	// Closed cases are history: no gauge counts them.
	if strings.Contains(body, `state="closed"`) {
		t.Errorf("metrics count closed cases:\n%s", body)
	}
}

// An agent opens a case on behalf of a customer: the customer is the
// contact and gets the confirmation, the watchers their notice, and the
// thread names the agent; a named token's changes are the agent's.
func TestAPIOpenCaseOnBehalfAndContact(t *testing.T) {
	a := newAPITest(t)
	a.h.cfg.Tokens = []Token{{Name: "grace@agents.test", Secret: testToken}}
	var d gateway.CaseDetail
	a.want(http.StatusCreated, &d, "POST", "/api/v1/cases",
		`{"contact": "Carol <carol@customer.example>", "subject": "Laptop for the new hire", "description": "Please order one.",
		  "kind": "order", "priority": "high", "watchers": ["dave@customer.example"]}`)
	if d.Contact.Email != "carol@customer.example" || d.Kind != "order" || d.Priority != "high" || d.State != "new" ||
		len(d.Watchers) != 1 || d.Description != "Please order one." {
		t.Fatalf("opened: %+v", d)
	}
	rows, _ := a.st.ListOutbox(context.Background(), "", 0)
	got := map[string]string{}
	for _, r := range rows {
		got[r.Recipient] = r.Template
	}
	if got["carol@customer.example"] != "case_created" || got["dave@customer.example"] != "watcher_added" {
		t.Fatalf("mails: %v", got)
	}
	acts, _ := a.st.Activities(context.Background(), a.storedCase(d.Number).ID)
	if len(acts) == 0 || acts[0].Actor != "grace@agents.test" || !strings.Contains(acts[0].Body, "on behalf of carol@customer.example") {
		t.Fatalf("activity: %+v", acts)
	}
	a.wantError(http.StatusBadRequest, "invalid", "POST", "/api/v1/cases", `{"contact": "support@support.test", "subject": "x"}`)
	a.wantError(http.StatusBadRequest, "invalid", "POST", "/api/v1/cases", `{"contact": "carol@customer.example"}`)

	// A comment without author is the token's agent's.
	a.want(http.StatusCreated, &d, "POST", "/api/v1/cases/"+d.Number+"/comments", `{"body": "Ordered.", "public": true}`)
	last := d.Activity[len(d.Activity)-1]
	if last.Actor != "grace@agents.test" {
		t.Fatalf("comment by %q, want the token's name", last.Actor)
	}
	// The contact changes: the new one gets the mails, the old one watches.
	a.want(http.StatusOK, &d, "PATCH", "/api/v1/cases/"+d.Number, `{"contact": "Erin <erin@customer.example>"}`)
	if d.Contact.Email != "erin@customer.example" || !hasWatcher(d.Watchers, "carol@customer.example") {
		t.Fatalf("after the change: %+v", d)
	}
	if tpl := a.lastTemplate("erin@customer.example"); tpl != "contact_changed" {
		t.Fatalf("new contact got %q", tpl)
	}
}

func (a *apiTest) lastTemplate(rcpt string) string {
	a.t.Helper()
	rows, _ := a.st.ListOutbox(context.Background(), "", 0)
	for _, r := range rows { // newest first
		if r.Recipient == rcpt {
			return r.Template
		}
	}
	return ""
}

// An attachment and a raw mail kept in pieces download whole, streamed,
// with their size as Content-Length.
func TestAPIAttachmentInPiecesDownload(t *testing.T) {
	a := newAPITest(t, testToken)
	ctx := context.Background()
	res, err := a.g.Ingest(ctx, []byte(hostileMail), gateway.Envelope{Source: "smtp", From: "carol@customer.example", To: []string{"support@support.test"}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.st.CaseByNumber(ctx, res.Case)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("a large log line of the customer's printer\n"), (5<<20)/43)
	var id int64
	err = a.st.Write(ctx, func(tx *store.Tx) error {
		var err error
		id, err = tx.InsertAttachment(ctx, c.ID, store.Attachment{MessageID: res.MessageID, Filename: "printer.log",
			ContentType: "text/plain", Size: int64(len(content)), SHA256: "x", Content: content})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	code, h, body := a.call("GET", fmt.Sprintf("/api/v1/attachments/%d", id), "")
	if code != http.StatusOK || !bytes.Equal(body, content) || h.Get("Content-Length") != fmt.Sprint(len(content)) ||
		!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d, %d of %d bytes, headers %v", code, len(body), len(content), h)
	}
	// A raw mail kept in pieces downloads whole too.
	raw := append([]byte("From: carol@customer.example\r\nSubject: log\r\n\r\n"), content...)
	var msgID int64
	err = a.st.Write(ctx, func(tx *store.Tx) error {
		var err error
		msgID, err = tx.InsertMessage(ctx, store.InboundMessage{CaseID: c.ID, Source: "smtp", ContentSHA256: "big",
			Outcome: store.OutcomeReply, Raw: raw})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	code, h, body = a.call("GET", fmt.Sprintf("/api/v1/messages/%d/raw", msgID), "")
	if code != http.StatusOK || !bytes.Equal(body, raw) || h.Get("Content-Length") != fmt.Sprint(len(raw)) ||
		h.Get("Content-Type") != "message/rfc822" {
		t.Fatalf("raw download: %d, %d of %d bytes, headers %v", code, len(body), len(raw), h)
	}
}
