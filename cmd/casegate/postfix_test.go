package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/cmd/casegate/postfixtest"
	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// The Postfix recipes of docs/postfix.md, end to end against real Postfix
// instances built from the very blocks the manual shows (marked
// "<!-- test: NAME -->"), with only the example names replaced by the
// test's. Without Postfix, or without root, the tests are skipped unless
// CASEGATE_REQUIRE_POSTFIX=1.

// docSnippet returns the fenced block that follows "<!-- test: name -->"
// in docs/postfix.md.
func docSnippet(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "postfix.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- test: " + regexp.QuoteMeta(name) + " -->\\s*```[a-z]*\\n(.*?)```")
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("docs/postfix.md has no block marked %q", name)
	}
	return string(m[1])
}

// recipe replaces the manual's example names by the test's, failing the
// test when one of them is not in the snippet (the manual changed).
func recipe(t *testing.T, snippet string, names ...string) string {
	t.Helper()
	for i := 0; i < len(names); i += 2 {
		if !strings.Contains(snippet, names[i]) {
			t.Fatalf("the manual's snippet no longer contains %q:\n%s", names[i], snippet)
		}
	}
	return strings.NewReplacer(names...).Replace(snippet)
}

// casegateYAML is the manual's casegate.yaml with the test's listeners,
// data directory and relay.
func casegateYAML(t *testing.T, smtpAddr, httpAddr, dataDir, relay string) string {
	t.Helper()
	return recipe(t, docSnippet(t, "casegate.yaml"),
		"127.0.0.1:2525", smtpAddr, "127.0.0.1:25\n", relay+"\n", "127.0.0.1:8080", httpAddr, "/var/lib/casegate", dataDir)
}

// mxSend sends a mail to the MX and returns its SMTP error, if any.
func mxSend(t *testing.T, mx *postfixtest.Instance, from string, to []string, subject, msgID, body string) error {
	t.Helper()
	raw := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0100\r\n\r\n%s\r\n",
		from, strings.Join(to, ", "), subject, msgID, body)
	c, err := smtp.Dial(mx.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.customer.example"); err != nil {
		t.Fatal(err)
	}
	if from == "MAILER-DAEMON" {
		from = ""
	}
	return c.SendMail(from, to, strings.NewReader(raw))
}

func wantRefused(t *testing.T, err error, code int, what string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("%s: %v, want %d", what, err, code)
	}
}

// waitFor polls cond, showing the instances' logs when it never holds.
func waitFor(t *testing.T, what string, cond func() bool, logs ...func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, l := range logs {
				b.WriteString(l())
				b.WriteString("\n----\n")
			}
			t.Fatalf("timed out waiting for %s\n%s", what, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Relay mode: Postfix as the MX hands mail to casegate's SMTP listener and
// refuses unknown recipients itself; casegate's notification to an address
// that bounces goes out through a second Postfix as relay, and the relay's
// delivery report comes back through the MX to casegate's bounce address
// and is attributed to that notification.
func TestPostfixRelayMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix")
	}
	postfixtest.Require(t)
	t.Parallel()
	casegateSMTP := postfixtest.FreeAddr(t)
	_, casegatePort, _ := net.SplitHostPort(casegateSMTP)
	mx := postfixtest.Start(t, postfixtest.Config{Hostname: "mx.example.com",
		MainCF: []string{recipe(t, docSnippet(t, "relay main.cf"), "[127.0.0.1]:2525", "[127.0.0.1]:"+casegatePort)}})
	_, mxPort, _ := net.SplitHostPort(mx.Addr)
	// The relay stands in for the internet: casegate's domain is reached
	// through the MX, and customer.example's server refuses the mailbox.
	customerMX := gatewaytest.StartRelay(t)
	customerMX.FailWith(func(string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Mailbox unavailable"}
	})
	relay := postfixtest.Start(t, postfixtest.Config{Hostname: "relay.example.com", MainCF: []string{
		"transport_maps = inline:{ help.example.com=smtp:[127.0.0.1]:" + mxPort + ", customer.example=smtp:[" +
			strings.Replace(customerMX.Addr, ":", "]:", 1) + " }"}})

	dir := t.TempDir()
	config := writeConfig(t, dir, casegateYAML(t, casegateSMTP, "127.0.0.1:0", filepath.Join(dir, "data"), relay.Addr))
	cfg, err := loadConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	logs := &gatewaytest.LogBuffer{}
	m := &Main{Config: cfg, ConfigPath: config, Log: slog.New(slog.NewTextHandler(logs, nil))}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	all := []func() string{mx.Log, relay.Log, logs.String}

	if err := mxSend(t, mx, "alice@customer.example", []string{"support@help.example.com"},
		"Printer on floor 3 is offline", "relay.1@customer.example", "It shows E42."); err != nil {
		t.Fatalf("the MX refused mail for casegate: %v\n%s", err, mx.Log())
	}
	waitFor(t, "the mail through the MX to become a case", func() bool {
		_, err := m.Store.CaseByNumber(ctx, "CS0000001")
		return err == nil
	}, all...)

	// A reply to the plus address passes the MX's check and threads.
	if err := mxSend(t, mx, "alice@customer.example", []string{"support+CS0000001@help.example.com"},
		"Re: offline", "relay.3@customer.example", "Still offline."); err != nil {
		t.Fatalf("the MX refused the plus address: %v\n%s", err, mx.Log())
	}
	waitFor(t, "the reply to support+CS0000001@ to thread", func() bool {
		n, err := m.Store.CountMessages(ctx, store.OutcomeReply)
		return err == nil && n == 1
	}, all...)

	err = mxSend(t, mx, "alice@customer.example", []string{"nobody@help.example.com"}, "Hello", "relay.2@customer.example", "x")
	wantRefused(t, err, 550, "an unknown recipient at the MX")
	if !strings.Contains(err.Error(), "5.1.1") {
		t.Errorf("unknown recipient refused with %v, want 5.1.1", err)
	}

	// The confirmation to alice bounced at the relay; the report is
	// attributed to it.
	waitFor(t, "the relay's report to come back and count against alice", func() bool {
		a, err := m.Store.AddressStatus(ctx, "alice@customer.example")
		return err == nil && a.HardBounces == 1
	}, all...)
	n, err := m.Store.CountMessages(ctx, store.OutcomeBounce)
	if err != nil || n != 1 {
		t.Fatalf("%d bounces stored (%v), want the one report", n, err)
	}
	if !strings.Contains(mx.Log(), "bounces+") || !strings.Contains(mx.Log(), "status=sent") {
		t.Errorf("the report did not pass the MX:\n%s", mx.Log())
	}
	if cases, _ := m.Store.ListCases(ctx, store.CaseFilter{}); len(cases) != 1 {
		t.Errorf("%d cases, want 1", len(cases))
	}
	if strings.Contains(mx.Log(), "loops back to myself") {
		t.Errorf("the MX saw a mail loop:\n%s", mx.Log())
	}
}

// Pipe mode: the MX runs `casegate ingest` through the manual's master.cf
// line, as the unprivileged account that also runs `casegate serve`; a
// follow-up to support+CS…@ and another address threads; a delivery
// report with the null sender opens no case; an unknown recipient is
// refused at the MX.
func TestPostfixPipeMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Postfix")
	}
	postfixtest.Require(t)
	t.Parallel()
	const account = "casegate-test"
	uid, gid := postfixtest.SystemUser(t, account)

	// Not t.TempDir: the account must reach the binary, config and data.
	dir, err := os.MkdirTemp("", "casegate-pipe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "casegate")
	copyFile(t, casegateBinary(t), bin, 0o755)
	data := filepath.Join(dir, "data")
	must(t, os.Mkdir(data, 0o750))
	must(t, os.Chown(data, uid, gid))
	httpAddr := postfixtest.FreeAddr(t)
	config := filepath.Join(dir, "casegate.yaml")
	yaml := casegateYAML(t, postfixtest.FreeAddr(t), httpAddr, data, gatewaytest.StartRelay(t).Addr)
	must(t, os.WriteFile(config, []byte(yaml), 0o644))

	logs := &gatewaytest.LogBuffer{}
	serve := exec.Command(bin, "serve", "--config", config)
	serve.Env = []string{"CASEGATE_API_TOKENS=pipe-token", "HOME=/nonexistent"}
	serve.Stderr = logs
	serve.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGTERM)
		serve.Wait()
	})
	api := func(path string, into any) bool {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+path, nil)
		req.Header.Set("Authorization", "Bearer pipe-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && json.Unmarshal(b, into) == nil
	}
	waitFor(t, "casegate serve as "+account, func() bool { return api("/api/v1/cases", &map[string]any{}) }, logs.String)

	mx := postfixtest.Start(t, postfixtest.Config{Hostname: "mx.example.com",
		MainCF: []string{docSnippet(t, "pipe main.cf")},
		MasterCF: []string{recipe(t, docSnippet(t, "pipe master.cf"),
			"/usr/local/bin/casegate", bin, "/etc/casegate/casegate.yaml", config, "user=casegate ", "user="+account+" ")}})
	all := []func() string{mx.Log, logs.String}
	var list struct {
		Cases []map[string]any `json:"cases"`
	}
	cases := func() int {
		if !api("/api/v1/cases", &list) {
			return -1
		}
		return len(list.Cases)
	}
	delivered := func(n int) func() bool {
		return func() bool { return strings.Count(mx.Log(), "delivered via casegate service") >= n }
	}

	if err := mxSend(t, mx, "carol@customer.example", []string{"support@help.example.com"},
		"Badge reader broken", "pipe.1@customer.example", "Door 2 does not react."); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the piped mail to become a case", func() bool { return cases() == 1 }, all...)

	if err := mxSend(t, mx, "carol@customer.example", []string{"orders@help.example.com", "support+CS0000001@help.example.com"},
		"Badge reader", "pipe.2@customer.example", "Still broken."); err != nil {
		t.Fatal(err)
	}
	var detail struct {
		Activity []struct {
			Kind string `json:"kind"`
		} `json:"activity"`
	}
	inbound := func() int {
		n := 0
		if api("/api/v1/cases/CS0000001", &detail) {
			for _, a := range detail.Activity {
				if a.Kind == "inbound" {
					n++
				}
			}
		}
		return n
	}
	waitFor(t, "the follow-up to thread into CS0000001", func() bool { return inbound() == 2 }, all...)

	if err := mxSend(t, mx, "MAILER-DAEMON", []string{"support@help.example.com"},
		"Undelivered Mail Returned to Sender", "pipe.3@mx.customer.example", "Your message could not be delivered."); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the report through the pipe", delivered(4), all...)
	if n := cases(); n != 1 {
		t.Errorf("%d cases after the report with the null sender, want 1", n)
	}
	// One pipe run for both recipients: orders@ comes first, and the plus
	// address after it threads.
	for _, want := range []string{`to=<orders@help\.example\.com>.*\(reply: CS0000001`, `\(bounce: message \d+\)`} {
		if !regexp.MustCompile(want).MatchString(mx.Log()) {
			t.Errorf("the MX's log has no delivery matching %s:\n%s", want, mx.Log())
		}
	}
	if strings.Contains(mx.Log(), "status=deferred") || strings.Contains(mx.Log(), "status=bounced") {
		t.Errorf("a delivery through the pipe failed:\n%s", mx.Log())
	}

	err = mxSend(t, mx, "carol@customer.example", []string{"nobody@help.example.com"}, "Hello", "pipe.4@customer.example", "x")
	wantRefused(t, err, 550, "an unknown recipient at the MX")
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(to, b, mode))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
