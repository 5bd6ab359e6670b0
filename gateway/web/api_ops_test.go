package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

func opsCall(t *testing.T, h *Handler, method, path string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer ops-token")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, rec.Body)
	}
	return rec.Code, body
}

func TestOpsAPI(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{MaxReceivedHops: 2})
	e.relay.FailWith(failAll(550, smtp.EnhancedCode{5, 1, 1}))
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	e.sendDue(t)

	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/outbox", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", rec.Code)
	}
	code, body := opsCall(t, e.h, "GET", "/api/v1/outbox?status=dead")
	if rows, _ := body["outbox"].([]any); code != 200 || len(rows) != 1 {
		t.Fatalf("dead letters: %d %v", code, body)
	}
	if code, _ := opsCall(t, e.h, "GET", "/api/v1/outbox?status=bogus"); code != 400 {
		t.Errorf("bad status: %d", code)
	}
	if code, body := opsCall(t, e.h, "GET", "/api/v1/outbox/1"); code != 200 || len(body["attempts"].([]any)) != 1 {
		t.Errorf("one row: %d %v", code, body)
	}
	if code, body := opsCall(t, e.h, "POST", "/api/v1/outbox/99/retry"); code != 404 || body["error"].(map[string]any)["code"] != "not_found" {
		t.Errorf("retry unknown: %d %v", code, body)
	}
	if code, _ := opsCall(t, e.h, "POST", "/api/v1/outbox/1/retry"); code != 200 {
		t.Fatalf("retry: %d", code)
	}
	if code, body := opsCall(t, e.h, "POST", "/api/v1/outbox/1/retry"); code != 409 || body["error"].(map[string]any)["code"] != "not_dead" {
		t.Errorf("retry of a pending row: %d %v", code, body)
	}
	e.relay.FailWith(nil)
	if e.sendDue(t) != 1 || e.outbox(t, 1).Status != store.OutboxSent {
		t.Fatal("retried row not sent")
	}

	// Quarantine: three hops over a limit of two; a replay takes it in.
	hops := strings.Repeat("Received: from a by b; Mon, 23 Nov 2026 09:00:00 +0000\n", 3)
	res := e.ingest(t, "dave@customer.example", []string{"support@support.test"}, hops+strings.Replace(mailFrom(2), "carol2@", "dave@", 1))
	if res.Outcome != gateway.OutcomeQuarantined || res.Reason != "too_many_hops" {
		t.Fatalf("result %+v", res)
	}
	code, body = opsCall(t, e.h, "GET", "/api/v1/quarantine")
	if rows, _ := body["quarantine"].([]any); code != 200 || len(rows) != 1 {
		t.Fatalf("quarantine: %d %v", code, body)
	}
	code, body = opsCall(t, e.h, "POST", "/api/v1/quarantine/1/replay")
	if code != 200 || body["result"].(map[string]any)["outcome"] != store.OutcomeNewCase {
		t.Fatalf("replay: %d %v", code, body)
	}
	if code, body := opsCall(t, e.h, "POST", "/api/v1/quarantine/1/replay"); code != 409 || body["error"].(map[string]any)["code"] != "already_replayed" {
		t.Errorf("second replay: %d %v", code, body)
	}

	// Addresses: nothing recorded yet for this one.
	if code, _ := opsCall(t, e.h, "POST", "/api/v1/addresses/nobody@customer.example/clear"); code != 404 {
		t.Errorf("clear unknown: %d", code)
	}
	if code, body := opsCall(t, e.h, "GET", "/api/v1/addresses?undeliverable=true"); code != 200 || len(body["addresses"].([]any)) != 0 {
		t.Errorf("addresses: %d %v", code, body)
	}
}

// A replay that is quarantined again says so and keeps the row.
func TestReplayStillQuarantined(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{})
	res := e.ingest(t, "carol@customer.example", []string{"support@support.test"}, "\x00\x01 not a mail at all")
	if res.Outcome != gateway.OutcomeQuarantined {
		t.Skipf("the parser took it (%s); nothing to replay", res.Outcome)
	}
	code, body := opsCall(t, e.h, "POST", "/api/v1/quarantine/1/replay")
	if code != 409 || body["error"].(map[string]any)["code"] != "still_quarantined" {
		t.Fatalf("replay: %d %v", code, body)
	}
	q, _ := e.st.QuarantinedByID(t.Context(), 1)
	if q.ReplayedAt != nil {
		t.Fatal("marked replayed although quarantined again")
	}
}

// A change refused because the disk is full is answered 503
// insufficient_storage, and /healthz says degraded.
func TestAPIStorageFull(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{})
	e.ingest(t, "carol1@customer.example", []string{"support@support.test"}, mailFrom(1))
	if err := e.st.Exec(t.Context(), `PRAGMA max_page_count = 1`); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"body": %q, "public": true, "author": "grace@agents.test"}`, strings.Repeat("Replaced the roller.\n", 20000))
	req := httptest.NewRequest("POST", "/api/v1/cases/CS0000001/comments", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer ops-token")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"insufficient_storage"`) {
		t.Fatalf("API on a full disk: %d %s, want 503 insufficient_storage", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if !strings.Contains(rec.Body.String(), `"status": "degraded"`) || !strings.Contains(rec.Body.String(), `"storage": "full"`) {
		t.Fatalf("/healthz on a full disk: %s", rec.Body)
	}
}

// A quarantined mail over the size limit (an IMAP message may be several
// times it) is kept in pieces: the API streams it back whole as a
// download, and a replay reads it from a spool file and finds it still
// too big, the row kept once.
func TestQuarantinedLargeMailRawAndReplay(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{})
	line := strings.Repeat("The printer shows E42 again. ", 3) + "\r\n"
	raw := "From: Carol <carol@customer.example>\r\nTo: support@support.test\r\nSubject: Printer log\r\n" +
		"Message-ID: <log.1@customer.example>\r\n\r\n" + strings.Repeat(line, (3<<20)/len(line))
	res := e.ingest(t, "carol@customer.example", []string{"support@support.test"}, raw)
	if res.Outcome != gateway.OutcomeQuarantined || res.Reason != "too_big" {
		t.Fatalf("result %+v", res)
	}
	req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/v1/quarantine/%d/raw", res.Quarantine), nil)
	req.Header.Set("Authorization", "Bearer ops-token")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != raw || rec.Header().Get("Content-Type") != "message/rfc822" ||
		!strings.HasPrefix(rec.Header().Get("Content-Disposition"), "attachment") || rec.Header().Get("Content-Length") != fmt.Sprint(len(raw)) {
		t.Fatalf("raw download: %d, %d of %d bytes, headers %v", rec.Code, rec.Body.Len(), len(raw), rec.Header())
	}
	if code, _ := opsCall(t, e.h, "GET", "/api/v1/quarantine/99/raw"); code != 404 {
		t.Errorf("raw of an unknown row: %d", code)
	}
	code, body := opsCall(t, e.h, "POST", fmt.Sprintf("/api/v1/quarantine/%d/replay", res.Quarantine))
	if code != 409 || body["error"].(map[string]any)["code"] != "still_quarantined" {
		t.Fatalf("replay: %d %v", code, body)
	}
	if rows, err := e.st.ListQuarantine(t.Context(), 0); err != nil || len(rows) != 1 || rows[0].Size != len(raw) || rows[0].ReplayedAt != nil {
		t.Fatalf("after the replay: %+v %v", rows, err)
	}
}

// The console shows the start of a large quarantined mail, escaped, and
// links the whole as a download.
func TestConsoleQuarantinedHead(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{})
	raw := "From: Carol <carol@customer.example>\r\nTo: support@support.test\r\nSubject: <b>log</b>\r\n\r\n" +
		strings.Repeat("x", 2<<20) + "THE-END\r\n"
	res := e.ingest(t, "carol@customer.example", []string{"support@support.test"}, raw)
	if res.Outcome != gateway.OutcomeQuarantined {
		t.Fatalf("result %+v", res)
	}
	secret, err := e.g.StartSession(t.Context(), gateway.KindAgent, "grace@agents.test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: secret})
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		return rec
	}
	rec := get(fmt.Sprintf("/console/quarantine/%d", res.Quarantine))
	page := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(page, "Subject: &lt;b&gt;log&lt;/b&gt;") || strings.Contains(page, "THE-END") ||
		!strings.Contains(page, fmt.Sprintf(`href="/console/quarantine/%d/raw"`, res.Quarantine)) ||
		!strings.Contains(page, fmt.Sprintf("The first 256 KiB of %d bytes", len(raw))) || len(page) > 300<<10 {
		t.Fatalf("page: %d, %d bytes", rec.Code, len(page))
	}
	if rec := get(fmt.Sprintf("/console/quarantine/%d/raw", res.Quarantine)); rec.Code != 200 || rec.Body.String() != raw {
		t.Fatalf("download from the console: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// A page shows the first 256 KiB of a mail's text, cut at a line end and
// never inside a character, and says how much is left out.
func TestClip(t *testing.T) {
	if c := clip("short\n"); c.Text != "short\n" || c.More != 0 {
		t.Errorf("short text: %+v", c)
	}
	line := strings.Repeat("é", 49) + "\n" // 99 bytes
	long := strings.Repeat(line, 5000)
	c := clip(long)
	if len(c.Text) > pageTextBytes || len(c.Text) < pageTextBytes*3/4 || !strings.HasSuffix(c.Text, "\n") ||
		!utf8.ValidString(c.Text) || c.More != len(long)-len(c.Text) {
		t.Errorf("long text: %d bytes shown, %d more, valid %v", len(c.Text), c.More, utf8.ValidString(c.Text))
	}
	noLines := strings.Repeat("€", pageTextBytes) // no line end to cut at
	if c := clip(noLines); !utf8.ValidString(c.Text) || len(c.Text) > pageTextBytes || c.More == 0 {
		t.Errorf("text without lines: %d bytes shown, %d more", len(c.Text), c.More)
	}
}

// The agent's case page shows the start of a large mail (the description,
// the visible text, the full text) and says the raw message has the rest.
func TestConsoleCaseClipsLargeText(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{})
	body := strings.Repeat("Line of the printer log the customer pasted: nothing unusual.\n", (900<<10)/62) + "THE-LAST-LINE\n"
	res := e.ingest(t, "carol@customer.example", []string{"support@support.test"},
		"From: Carol <carol@customer.example>\nTo: support@support.test\nSubject: Log\nMessage-ID: <log@customer.example>\n\n"+body)
	if res.Outcome != "new_case" {
		t.Fatalf("result %+v", res)
	}
	secret, err := e.g.StartSession(t.Context(), gateway.KindAgent, "grace@agents.test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/console/cases/"+res.Case, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: secret})
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	page := rec.Body.String()
	if rec.Code != 200 || strings.Contains(page, "THE-LAST-LINE") || !strings.Contains(page, "more bytes are not shown; the raw message has them all") ||
		strings.Count(page, "more bytes are not shown") != 3 || len(page) > 900<<10 {
		t.Fatalf("case page: %d, %d bytes", rec.Code, len(page))
	}
}
