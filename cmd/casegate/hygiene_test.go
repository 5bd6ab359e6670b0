package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

// controlIn returns the first control or bidirectional formatting
// character of s that would reach a terminal, or -1.
func controlIn(s string) rune {
	for _, r := range s {
		if r == '\n' || r == '\t' {
			continue
		}
		if unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return r
		}
	}
	return -1
}

// Control sequences in a subject, a name and a body never reach the
// operator's terminal: the CLI prints them escaped.
func TestCLIEscapesControlCharacters(t *testing.T) {
	m := startMain(t, nil, nil)
	mustSend(t, m.SMTPAddr, "carol@customer.example", []string{"support@localhost"},
		"From: =?utf-8?q?Carol=1B]0;pwned=07?= <carol@customer.example>\n"+
			"To: support@localhost\n"+
			"Subject: =?utf-8?q?Printer=C2=9B2J_offline_=E2=80=AEfdp.exe?=\n"+
			"Message-ID: <esc.1@customer.example>\n"+
			"Content-Type: text/plain; charset=utf-8\n\n"+
			"It says \x1b[31mERROR\x1b[0m and then \x1b]2;title\x07.\n")
	cli := cliFor(t, m)
	out, errOut, code := cli("cases", "list")
	if code != 0 || !strings.Contains(out, "CS0000001") {
		t.Fatalf("cases list (%d): %s %s", code, out, errOut)
	}
	if r := controlIn(out); r >= 0 {
		t.Fatalf("cases list prints %U raw:\n%q", r, out)
	}
	if !strings.Contains(out, `Printer\u009b2J offline \u202efdp.exe`) {
		t.Fatalf("cases list does not show the subject escaped:\n%s", out)
	}
	out, _, code = cli("cases", "show", "CS0000001")
	if r := controlIn(out); code != 0 || r >= 0 {
		t.Fatalf("cases show (%d) prints %U raw:\n%q", code, r, out)
	}
	if !strings.Contains(out, `\x1b[31mERROR`) {
		t.Fatalf("cases show does not show the body escaped:\n%s", out)
	}
	// JSON for scripts keeps the text, escaped by JSON itself.
	out, _, _ = cli("cases", "list", "--json")
	var cases []store.Case
	if err := json.Unmarshal([]byte(out), &cases); err != nil || !strings.Contains(cases[0].Subject, "\u009b") {
		t.Fatalf("cases list --json: %v %q", err, out)
	}
}

// Addresses an agent or the API supplies are validated; a search query
// has a length limit; attachment names are cleaned; link pages cannot be
// framed.
func TestAPIInputHygiene(t *testing.T) {
	t.Setenv("CASEGATE_TEST_HYGIENE_TOKENS", "agent-token")
	m := startMain(t, nil, func(c *Config) { c.HTTP.TokensEnv = "CASEGATE_TEST_HYGIENE_TOKENS" })
	mustSend(t, m.SMTPAddr, "carol@customer.example", []string{"support@localhost"}, "From: carol@customer.example\n"+
		"To: support@localhost\nSubject: Report\nMessage-ID: <hy.1@customer.example>\nMIME-Version: 1.0\n"+
		"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nSee attached.\n--b\n"+
		"Content-Type: application/octet-stream\n"+
		"Content-Disposition: attachment; filename*=utf-8''..%2F..%2Finvoice%E2%80%AEfdp.exe%0D%0A\n\nMZ\n--b--\n")
	for _, assignee := range []string{"not an address", "grace@agents.example\r\nBcc: x@evil.example", "support@localhost",
		"grace\x1b@agents.example", strings.Repeat("a", 400) + "@agents.example"} {
		var e struct {
			Error struct{ Code, Message string }
		}
		if code := api(t, m, "PATCH", "/api/v1/cases/CS0000001", map[string]any{"assignee": assignee}, &e); code != http.StatusBadRequest || e.Error.Code != "invalid" {
			t.Errorf("assignee %q: %d %+v, want 400 invalid", assignee, code, e)
		}
	}
	if c, _ := m.Store.CaseByNumber(context.Background(), "CS0000001"); c.Assignee != "" || c.State != store.StateNew {
		t.Fatalf("a refused assignee changed the case: %+v", c)
	}
	var d gateway.CaseDetail
	if code := api(t, m, "PATCH", "/api/v1/cases/CS0000001", map[string]any{"assignee": "Grace <Grace@Agents.Example>"}, &d); code != http.StatusOK ||
		d.Assignee != "grace@agents.example" {
		t.Fatalf("a good assignee: %d %q", code, d.Assignee)
	}
	for _, bad := range []map[string]any{{"email": "x@y\n.example"}, {"email": "support+x@localhost"}} {
		if code := api(t, m, "POST", "/api/v1/cases/CS0000001/watchers", bad, nil); code != http.StatusBadRequest {
			t.Errorf("watcher %v: %d, want 400", bad, code)
		}
	}

	var e struct{ Error struct{ Code string } }
	if code := api(t, m, "GET", "/api/v1/cases?q="+url.QueryEscape(strings.Repeat("printer ", 5000)), nil, &e); code != http.StatusBadRequest || e.Error.Code != "invalid" {
		t.Fatalf("a 40,000-character query: %d %+v, want 400 invalid", code, e)
	}
	if code := api(t, m, "GET", "/api/v1/cases?q=Report", nil, nil); code != http.StatusOK {
		t.Fatalf("a short query: %d", code)
	}

	if code := api(t, m, "GET", "/api/v1/cases/CS0000001", nil, &d); code != http.StatusOK || len(d.Attachments) != 1 {
		t.Fatalf("case: %d %+v", code, d.Attachments)
	}
	if name := d.Attachments[0].Filename; name != "invoicefdp.exe" {
		t.Fatalf("attachment name shown as %q", name)
	}
	req, _ := http.NewRequest("GET", "http://"+m.HTTPAddr+d.Attachments[0].URL, nil)
	req.Header.Set("Authorization", "Bearer agent-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="invoicefdp.exe"`) || strings.Contains(cd, "%E2%80%AE") {
		t.Fatalf("download named %q", cd)
	}

	resp, err = http.Get("http://" + m.HTTPAddr + "/l/forged.token")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if xfo, csp := resp.Header.Get("X-Frame-Options"), resp.Header.Get("Content-Security-Policy"); xfo != "DENY" ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("link page may be framed: X-Frame-Options %q, CSP %q", xfo, csp)
	}
}
