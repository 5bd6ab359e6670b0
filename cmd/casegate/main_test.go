package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// startMain runs the real wiring on :0 ports in a temporary directory.
func startMain(t testing.TB, relay *gatewaytest.Relay, adjust func(*Config)) *Main {
	t.Helper()
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.SMTP.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Agents = []string{"@agents.example"}
	cfg.Accounts = map[string]string{"customer.example": "Customer Inc"}
	if relay != nil {
		cfg.Outbound.Relay, cfg.Outbound.TLS = relay.Addr, "none"
	}
	if adjust != nil {
		adjust(&cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if testing.Verbose() {
		m.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if n := m.Gateway.Panics(); n != 0 {
			t.Errorf("%d panics recovered", n)
		}
	})
	return m
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// sendMail sends raw over SMTP to the gateway and returns the SMTP error, if any.
func sendMail(t *testing.T, addr, from string, to []string, raw string) error {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, to, strings.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

func mustSend(t *testing.T, addr, from string, to []string, raw string) {
	t.Helper()
	if err := sendMail(t, addr, from, to, raw); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// byRecipient indexes relayed mails by their single envelope recipient.
func byRecipient(t *testing.T, mails []gatewaytest.Mail) map[string]gatewaytest.Mail {
	t.Helper()
	out := map[string]gatewaytest.Mail{}
	for _, m := range mails {
		if len(m.To) != 1 {
			t.Fatalf("mail to %v: want one recipient per mail", m.To)
		}
		if _, dup := out[m.To[0]]; dup {
			t.Fatalf("two mails to %s", m.To[0])
		}
		out[m.To[0]] = m
	}
	return out
}

func TestEndToEndNewCaseAndReplies(t *testing.T) {
	relay := gatewaytest.StartRelay(t)
	m := startMain(t, relay, nil)
	ctx := context.Background()

	mustSend(t, m.SMTPAddr, "alice@customer.example", []string{"support@localhost"}, `From: Alice Example <alice@customer.example>
To: Support <support@localhost>
Cc: Bob Example <bob@customer.example>, support@localhost
Subject: Printer on floor 3 is offline
Message-ID: <first.1@customer.example>
Date: Mon, 23 Nov 2026 09:00:00 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

The printer shows error E42 since this morning.

Alice
`)
	c, err := m.Store.CaseByNumber(ctx, "CS0000001")
	if err != nil {
		t.Fatalf("case not created: %v", err)
	}
	if c.State != store.StateNew || c.Contact.Email != "alice@customer.example" || c.Contact.Name != "Alice Example" ||
		c.Subject != "Printer on floor 3 is offline" || c.Account != "Customer Inc" || c.Kind != "case" {
		t.Fatalf("case = %+v", c)
	}
	ws, err := m.Store.Watchers(ctx, c.ID)
	if err != nil || len(ws) != 1 || ws[0].Email != "bob@customer.example" {
		t.Fatalf("watchers = %+v, %v (want bob only, never our own address)", ws, err)
	}

	mails := byRecipient(t, relay.Wait(t, 2, 10*time.Second))
	confirm, ok := mails["alice@customer.example"]
	if !ok {
		t.Fatalf("no confirmation to the contact: %v", mails)
	}
	checkNotification(t, confirm, "CS0000001", "Printer on floor 3 is offline", "first.1@customer.example", "auto-replied")
	watcher, ok := mails["bob@customer.example"]
	if !ok {
		t.Fatalf("no notice to the watcher")
	}
	checkNotification(t, watcher, "CS0000001", "Printer on floor 3 is offline", "first.1@customer.example", "auto-generated")

	// A reply that keeps only In-Reply-To, with the subject changed.
	confirmID := strings.Trim(confirm.Header.Get("Message-Id"), "<>")
	mustSend(t, m.SMTPAddr, "alice@customer.example", []string{"support@localhost"}, fmt.Sprintf(`From: alice@customer.example
To: support@localhost
Subject: something else entirely
Message-ID: <reply.2@customer.example>
In-Reply-To: <%s>

It is back online after a restart.
`, confirmID))
	// A reply that keeps only the tag, from the watcher.
	mustSend(t, m.SMTPAddr, "bob@customer.example", []string{"support@localhost"}, `From: bob@customer.example
To: support@localhost
Subject: AW: Re: [CS0000001] Printer on floor 3 is offline
Message-ID: <reply.3@customer.example>

Same here on floor 4.
`)
	cases, err := m.Store.ListCases(ctx, store.CaseFilter{})
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases = %d, %v; want exactly one", len(cases), err)
	}
	msgs, err := m.Store.CaseMessages(ctx, c.ID)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("messages on case = %d, %v", len(msgs), err)
	}
	for i, want := range []string{store.OutcomeNewCase, store.OutcomeReply, store.OutcomeReply} {
		if msgs[i].Outcome != want {
			t.Errorf("message %d outcome %s, want %s", i, msgs[i].Outcome, want)
		}
	}
	if !strings.Contains(msgs[1].Decision, `"message_id"`) || !strings.Contains(msgs[2].Decision, `"subject_tag"`) {
		t.Errorf("decision traces do not name the threading rule:\n%s\n%s", msgs[1].Decision, msgs[2].Decision)
	}
}

// checkNotification asserts the headers of SPEC §4 on a relayed mail.
func checkNotification(t *testing.T, m gatewaytest.Mail, number, subject, inReplyTo, autoSubmitted string) {
	t.Helper()
	h := m.Header
	if got, want := h.Get("Subject"), "["+number+"] "+subject; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	if id := h.Get("Message-Id"); !strings.HasSuffix(id, "@localhost>") || !strings.HasPrefix(id, "<") {
		t.Errorf("Message-ID %q not on our hostname", id)
	}
	if got := h.Get("In-Reply-To"); got != "<"+inReplyTo+">" {
		t.Errorf("In-Reply-To %q, want <%s>", got, inReplyTo)
	}
	if got := h.Get("References"); !strings.Contains(got, "<"+inReplyTo+">") {
		t.Errorf("References %q lacks <%s>", got, inReplyTo)
	}
	if got := h.Get("Auto-Submitted"); got != autoSubmitted {
		t.Errorf("Auto-Submitted %q, want %q", got, autoSubmitted)
	}
	if got := h.Get("X-Auto-Response-Suppress"); got != "All" {
		t.Errorf("X-Auto-Response-Suppress %q", got)
	}
	if got := h.Get("X-Casegate-Loop"); got != "localhost" {
		t.Errorf("loop header %q", got)
	}
	if got := h.Get("Reply-To"); !strings.Contains(got, "support+"+number+"@localhost") {
		t.Errorf("Reply-To %q not plus-addressed", got)
	}
	body := string(m.Data)
	if !strings.Contains(body, "##- Please type your reply above this line -##") || !strings.Contains(body, "Ref: "+number) {
		t.Errorf("body lacks separator or Ref line:\n%s", body)
	}
}

func TestNoRelayDeliversIntoMaildir(t *testing.T) {
	m := startMain(t, nil, nil)
	mustSend(t, m.SMTPAddr, "alice@customer.example", []string{"support@localhost"}, `From: alice@customer.example
To: support@localhost
Subject: Where is my invoice?
Message-ID: <invoice.1@customer.example>

Hello, I cannot find last month's invoice.
`)
	dir := filepath.Join(m.Config.DataDir, "maildir", "new")
	var files []os.DirEntry
	for deadline := time.Now().Add(10 * time.Second); len(files) == 0 && time.Now().Before(deadline); {
		files, _ = os.ReadDir(dir)
		time.Sleep(20 * time.Millisecond)
	}
	if len(files) != 1 {
		t.Fatalf("maildir/new has %d files, want the one confirmation", len(files))
	}
	b, err := os.ReadFile(filepath.Join(dir, files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("maildir file is not a mail: %v", err)
	}
	// The envelope sender is the notification's bounce address (VERP).
	if got := msg.Header.Get("Return-Path"); !strings.HasPrefix(got, "<bounces+1-") || !strings.HasSuffix(got, "@localhost>") {
		t.Errorf("Return-Path %q, want the bounce address of outbox row 1", got)
	}
	if got := msg.Header.Get("Subject"); got != "[CS0000001] Where is my invoice?" {
		t.Errorf("Subject %q", got)
	}
	if tmp, _ := os.ReadDir(filepath.Join(m.Config.DataDir, "maildir", "tmp")); len(tmp) != 0 {
		t.Errorf("maildir/tmp not empty: %d files", len(tmp))
	}
}

func TestBrokenTemplateOverrideStopsStartup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "case_resolved.html")
	if err := os.WriteFile(path, []byte("<p>Resolved</p>\n<p>{{.Note</p>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.DataDir, cfg.TemplatesDir = t.TempDir(), dir
	cfg.SMTP.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	m := &Main{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), path+":2") {
		t.Fatalf("start-up with a broken override: %v (want it to name %s:2)", err, path)
	}
}

// Close right after Run returns: the listeners' Serve goroutines may not
// have started yet, and Close must still end them (a Serve that began
// after Shutdown would otherwise accept forever).
func TestCloseRightAfterRun(t *testing.T) {
	for i := range 20 {
		m := startMain(t, nil, nil)
		done := make(chan error, 1)
		go func() { done <- m.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("close %d: %v", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("close %d right after run did not return", i)
		}
	}
}
