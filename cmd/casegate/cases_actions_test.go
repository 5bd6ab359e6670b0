package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// cliFor runs the command line against m's data directory, as an operator
// on the host would while the server runs.
func cliFor(t *testing.T, m *Main) func(args ...string) (stdout, stderr string, code int) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "casegate.yaml")
	if err := os.WriteFile(conf, []byte("data_dir: "+m.Config.DataDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return func(args ...string) (string, string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		args = append(args, "--config", conf)
		code := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		return out.String(), errOut.String(), code
	}
}

const vpnMail = `From: Carol <carol@customer.example>
To: support@localhost
Cc: dave@customer.example
Subject: VPN drops every hour
Message-ID: <vpn.1@customer.example>

The VPN disconnects every hour on the hour.
`

func TestCasesCommentTransitionWatchCLI(t *testing.T) {
	relay := gatewaytest.StartRelay(t)
	m := startMain(t, relay, nil)
	mustSend(t, m.SMTPAddr, "carol@customer.example", []string{"support@localhost"}, vpnMail)
	relay.Wait(t, 2, 10*time.Second) // confirmation and watcher notice
	cli := cliFor(t, m)
	ctx := context.Background()
	c, err := m.Store.CaseByNumber(ctx, "CS0000001")
	if err != nil {
		t.Fatal(err)
	}
	state := func() string {
		t.Helper()
		c, err := m.Store.CaseByNumber(ctx, "CS0000001")
		if err != nil {
			t.Fatal(err)
		}
		return c.State
	}

	// An internal note: recorded, nobody mailed, still new.
	out, errOut, code := cli("cases", "comment", "cs0000001", "--body", "DHCP lease?", "--internal", "--author", "ann@agents.example")
	if code != 0 || !strings.Contains(out, "internal note added") || state() != store.StateNew {
		t.Fatalf("comment --internal (%d): %s%s state %s", code, out, errOut, state())
	}
	// A public comment picks the case up; the running server mails it.
	out, errOut, code = cli("cases", "comment", "CS0000001", "--body", "We are on it.", "--author", "ann@agents.example", "--json")
	var d gateway.CaseDetail
	if err := json.Unmarshal([]byte(out), &d); code != 0 || err != nil || d.State != store.StateOpen {
		t.Fatalf("comment --json (%d): %v\n%s%s", code, err, out, errOut)
	}
	last := d.Activity[len(d.Activity)-1]
	if last.Actor != "ann@agents.example" || !strings.Contains(last.Body, "picked up") {
		t.Errorf("last activity %+v", last)
	}
	mails := byRecipient(t, relay.Wait(t, 4, 15*time.Second)[2:])
	if pick, ok := mails["carol@customer.example"]; !ok || !strings.Contains(string(pick.Data), "We are on it.") {
		t.Errorf("the contact was not mailed the comment: %v", mails)
	}

	// Watchers: add, remove, remove again.
	if out, errOut, code = cli("cases", "watch", "CS0000001", "--add", "erin@customer.example", "--author", "ann@agents.example"); code != 0 {
		t.Fatalf("watch --add (%d): %s%s", code, out, errOut)
	}
	if out, errOut, code = cli("cases", "watch", "CS0000001", "--remove", "dave@customer.example"); code != 0 {
		t.Fatalf("watch --remove (%d): %s%s", code, out, errOut)
	}
	ws, _ := m.Store.Watchers(ctx, c.ID)
	if len(ws) != 1 || ws[0].Email != "erin@customer.example" {
		t.Fatalf("watchers %+v, want erin only", ws)
	}
	if _, errOut, code = cli("cases", "watch", "CS0000001", "--remove", "dave@customer.example"); code != 1 || !strings.Contains(errOut, "not watching") {
		t.Errorf("removing a non-watcher (%d): %s", code, errOut)
	}

	// Transitions: resolving needs a note; closing is final.
	if _, errOut, code = cli("cases", "transition", "CS0000001", "--to", "resolved"); code != 1 || !strings.Contains(errOut, "resolution note") {
		t.Errorf("resolve without note (%d): %s", code, errOut)
	}
	out, errOut, code = cli("cases", "transition", "CS0000001", "--to", "resolved", "--note", "Lease raised.")
	if code != 0 || !strings.Contains(out, "open → resolved") || state() != store.StateResolved {
		t.Fatalf("resolve (%d): %s%s", code, out, errOut)
	}
	if _, _, code = cli("cases", "transition", "CS0000001", "--to", "closed"); code != 0 || state() != store.StateClosed {
		t.Fatalf("close (%d): state %s", code, state())
	}
	before, _ := m.Store.Activities(ctx, c.ID)
	_, errOut, code = cli("cases", "transition", "CS0000001", "--to", "open", "--author", "ann@agents.example")
	if code != 1 || !strings.Contains(errOut, "CS0000001: case is closed and read-only") {
		t.Errorf("illegal transition (%d): %s", code, errOut)
	}
	if _, errOut, code = cli("cases", "comment", "CS0000001", "--body", "hello?"); code != 1 || !strings.Contains(errOut, "closed") {
		t.Errorf("comment on a closed case (%d): %s", code, errOut)
	}
	after, _ := m.Store.Activities(ctx, c.ID)
	if state() != store.StateClosed || len(after) != len(before) {
		t.Errorf("refused commands changed the case: state %s, %d -> %d activities", state(), len(before), len(after))
	}
}

func TestCasesActionCLIErrors(t *testing.T) {
	m := startMain(t, nil, nil)
	mustSend(t, m.SMTPAddr, "carol@customer.example", []string{"support@localhost"}, vpnMail)
	cli := cliFor(t, m)
	for _, tc := range []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"cases", "transition", "CS0000099", "--to", "open"}, 1, "casegate: case CS0000099 not found\n"},
		{[]string{"cases", "comment", "CS0000099", "--body", "x"}, 1, "case CS0000099 not found"},
		{[]string{"cases", "watch", "CS0000099", "--add", "x@customer.example"}, 1, "case CS0000099 not found"},
		{[]string{"cases", "show", "CS0000099"}, 1, "case CS0000099 not found"},
		{[]string{"cases", "transition", "CS0000001", "--to", "solved"}, 1, `"solved" is not a state`},
		{[]string{"cases", "transition", "CS0000001"}, 2, "--to is required"},
		{[]string{"cases", "transition", "--to", "open"}, 2, "want a case number"},
		{[]string{"cases", "transition", "CS0000001", "CS0000002", "--to", "open"}, 2, "unexpected argument"},
		{[]string{"cases", "comment", "CS0000001"}, 2, "--body is required"},
		{[]string{"cases", "comment", "CS0000001", "--body", "x", "--author", "not an address"}, 2, "--author"},
		{[]string{"cases", "comment", "CS0000001", "--bodyy", "x"}, 2, "flag provided but not defined"},
		{[]string{"cases", "watch", "CS0000001"}, 2, "exactly one of --add"},
		{[]string{"cases", "watch", "CS0000001", "--add", "a@customer.example", "--remove", "b@customer.example"}, 2, "exactly one"},
		{[]string{"cases", "watch", "CS0000001", "--add", "support@localhost"}, 1, "own addresses"},
		{[]string{"cases", "frobnicate"}, 2, "unknown subcommand"},
	} {
		_, errOut, code := cli(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.wantErr) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.wantErr, errOut)
		}
	}
	// Help is not an error, and names the flags.
	if _, errOut, code := cli("cases", "transition", "-h"); code != 0 || !strings.Contains(errOut, "Usage: casegate cases transition NUMBER --to STATE") {
		t.Errorf("-h (%d): %s", code, errOut)
	}
	c, err := m.Store.CaseByNumber(context.Background(), "CS0000001")
	if err != nil || c.State != store.StateNew {
		t.Errorf("refused commands changed the case: %+v, %v", c, err)
	}
}

func TestCasesCLIDefaultAuthor(t *testing.T) {
	t.Setenv("USER", "ops")
	m := startMain(t, nil, nil)
	mustSend(t, m.SMTPAddr, "carol@customer.example", []string{"support@localhost"}, vpnMail)
	cli := cliFor(t, m)
	if _, errOut, code := cli("cases", "transition", "CS0000001", "--to", "on_hold"); code != 0 {
		t.Fatalf("transition (%d): %s", code, errOut)
	}
	c, _ := m.Store.CaseByNumber(context.Background(), "CS0000001")
	acts, _ := m.Store.Activities(context.Background(), c.ID)
	if last := acts[len(acts)-1]; last.Actor != "ops@localhost" {
		t.Errorf("actor %q, want $USER@hostname", last.Actor)
	}
}

// TestCaseAPIThroughMain runs the API on the real wiring, with the tokens
// from the environment variable the config names.
func TestCaseAPIThroughMain(t *testing.T) {
	t.Setenv("CASEGATE_TEST_TOKENS_CASEAPI", " first-token , second-token ")
	m := startMain(t, nil, func(c *Config) { c.HTTP.TokensEnv = "CASEGATE_TEST_TOKENS_CASEAPI" })
	mustSend(t, m.SMTPAddr, "carol@customer.example", []string{"support@localhost"}, vpnMail)
	call := func(token, method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, "http://"+m.HTTPAddr+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := call("", "GET", "/api/v1/cases", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, _ := call("third-token", "GET", "/api/v1/cases", ""); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	code, b := call("second-token", "GET", "/api/v1/cases?state=new", "")
	var list struct {
		Cases      []store.Case `json:"cases"`
		NextCursor string       `json:"next_cursor"`
	}
	if err := json.Unmarshal(b, &list); code != http.StatusOK || err != nil || len(list.Cases) != 1 || list.Cases[0].Number != "CS0000001" {
		t.Fatalf("list (%d): %v\n%s", code, err, b)
	}
	code, b = call("first-token", "POST", "/api/v1/cases/CS0000001/transitions", `{"to": "awaiting_info", "note": "Which client version?", "author": "ann@agents.example"}`)
	if c, _ := m.Store.CaseByNumber(context.Background(), "CS0000001"); code != http.StatusOK || c.State != store.StateAwaitingInfo {
		t.Fatalf("transition (%d): state %s\n%s", code, c.State, b)
	}
	code, b = call("first-token", "GET", "/api/v1/cases/CS0000001", "")
	var d gateway.CaseDetail
	if err := json.Unmarshal(b, &d); code != http.StatusOK || err != nil || len(d.Watchers) != 1 || d.Activity[0].Message == nil {
		t.Fatalf("show (%d): %v\n%s", code, err, b)
	}
	code, raw := call("first-token", "GET", d.Activity[0].Message.RawURL, "")
	want := strings.ReplaceAll(vpnMail, "\n", "\r\n")
	if code != http.StatusOK || string(raw) != want {
		t.Errorf("raw (%d): %q\nwant %q", code, raw, want)
	}
	if code, b := call("", "GET", "/metrics", ""); code != http.StatusOK || !strings.Contains(string(b), `casegate_cases{state="awaiting_info"} 1`) {
		t.Errorf("metrics (%d):\n%s", code, b)
	}
}
