package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
