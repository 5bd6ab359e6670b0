package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/casegate/casegate/gateway"
)

// The erasure route is token-protected and refuses what is not an
// address; afterwards the person's raw mail answers 410 with the code
// "erased", and the link to it in the case says so too.
func TestForgetAPI(t *testing.T) {
	e := newOpsEnv(t, gateway.Protection{})
	const who = "alice@customer.example"
	e.ingest(t, who, []string{"support@support.test"}, "From: "+who+"\nTo: support@support.test\nSubject: Hi\n"+
		"Message-ID: <api.1@customer.example>\n\nHello.\n")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/contacts/"+who+"/forget", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", rec.Code)
	}
	if code, body := opsCall(t, e.h, http.MethodPost, "/api/v1/contacts/not-an-address/forget"); code != http.StatusBadRequest {
		t.Errorf("not an address: %d %v", code, body)
	}
	code, body := opsCall(t, e.h, http.MethodPost, "/api/v1/contacts/"+who+"/forget")
	got, _ := body["erased"].(map[string]any)
	if code != http.StatusOK || got["messages"] != float64(1) {
		t.Fatalf("forget: %d %v", code, body)
	}
	d, err := e.g.CaseDetail(context.Background(), "CS0000001")
	if err != nil || d.Activity[0].Message == nil {
		t.Fatalf("case after the erasure: %+v %v", d, err)
	}
	code, body = opsCall(t, e.h, http.MethodGet, d.Activity[0].Message.RawURL)
	if errBody, _ := body["error"].(map[string]any); code != http.StatusGone || errBody["code"] != "erased" ||
		!strings.Contains(errBody["message"].(string), "erased") {
		t.Errorf("the erased raw mail: %d %v", code, body)
	}
}
