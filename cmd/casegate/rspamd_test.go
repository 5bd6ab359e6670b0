package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/rspamdtest"
	"github.com/casegate/casegate/store"
)

// servedBinary is a running `casegate serve` of the real binary.
type servedBinary struct {
	config, dataDir    string
	smtpAddr, httpAddr string
	logs               *gatewaytest.LogBuffer
}

// serveBinary starts the real binary with extra appended to a config of
// free loopback listeners, and stops it when the test ends.
func serveBinary(t *testing.T, extra string) *servedBinary {
	t.Helper()
	dir := t.TempDir()
	s := &servedBinary{dataDir: filepath.Join(dir, "data"), smtpAddr: freePort(t), httpAddr: freePort(t), logs: &gatewaytest.LogBuffer{}}
	s.config = writeConfig(t, dir, fmt.Sprintf("data_dir: data\nsmtp:\n  listen: %s\nhttp:\n  listen: %s\n%s",
		s.smtpAddr, s.httpAddr, extra))
	cmd := exec.Command(casegateBinary(t), "serve", "--config", s.config)
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	waitUntil(t, 15*time.Second, "casegate serve", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("casegate serve exited: %v\n%s", err, s.logs)
		default:
		}
		return strings.Contains(s.logs.String(), "casegate serving")
	})
	return s
}

// cliJSON runs a command of the binary on s's config with --json and
// decodes its output into v.
func (s *servedBinary) cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	code, out := runCLI(t, append(args, "--json", "--config", s.config)...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s", args, code, out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

// decisions are the decision traces of the stored messages, oldest first.
func (s *servedBinary) decisions(t *testing.T) []string {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(s.dataDir, "casegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT decision FROM messages ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// metrics is the binary's /metrics page.
func (s *servedBinary) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + s.httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func rspamdTestMail(from, id, subject, body string) string {
	return fmt.Sprintf("From: %s\nTo: support@localhost\nSubject: %s\nDate: Mon, 23 Nov 2026 09:00:00 +0000\n"+
		"Message-ID: <%s>\n\n%s\n", from, subject, id, body)
}

// The real binary asking a real rspamd: GTUBE over SMTP is accepted and
// quarantined (policy.spam's default) with no mail back; a plain mail
// opens a case and is confirmed; the checks are counted.
func TestEndToEndRspamd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary and rspamd")
	}
	rs := rspamdtest.Start(t)
	relay := gatewaytest.StartRelay(t)
	s := serveBinary(t, fmt.Sprintf("outbound:\n  relay: %s\n  tls: none\nrspamd:\n  url: %s\n", relay.Addr, rs.URL))

	mustSend(t, s.smtpAddr, "bob@spam.example", []string{"support@localhost"},
		rspamdTestMail("bob@spam.example", "g1@spam.example", "Test", rspamdtest.GTUBE))
	mustSend(t, s.smtpAddr, "carol@customer.example", []string{"support@localhost"},
		rspamdTestMail("Carol <carol@customer.example>", "p1@customer.example", "Printer offline", "My printer shows E42."))

	var q []store.Quarantined
	s.cliJSON(t, &q, "quarantine", "list")
	if len(q) != 1 || q[0].Reason != "spam" || q[0].EnvelopeFrom != "bob@spam.example" ||
		!strings.HasPrefix(q[0].Detail, "rspamd: reject, score 15.00 / 15.00 (GTUBE") {
		t.Fatalf("quarantine: %+v", q)
	}
	// Each mail's notifications are queued with it: after both were
	// accepted, the outbox holds all they will ever cause.
	var outbox []store.OutboxMail
	s.cliJSON(t, &outbox, "outbox", "list")
	if len(outbox) != 1 || outbox[0].Recipient != "carol@customer.example" {
		t.Fatalf("outbox: %+v, want carol's confirmation alone", outbox)
	}
	if m := relay.Wait(t, 1, 10*time.Second); len(m[0].To) != 1 || m[0].To[0] != "carol@customer.example" {
		t.Fatalf("relay got %+v", m[0])
	}
	if d := s.decisions(t); len(d) != 1 || !strings.Contains(d[0], `"result":"no","detail":"rspamd: no action, score`) {
		t.Errorf("decision of the plain mail: %q", d)
	}
	page := s.metrics(t)
	for _, want := range []string{`casegate_rspamd_checks_total{result="spam"} 1`, `casegate_rspamd_checks_total{result="ham"} 1`} {
		if !strings.Contains(page, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Without an answer from rspamd (nobody listening at rspamd.url):
// on_error accept takes the mail and its trace says why rspamd's verdict
// is missing; on_error retry answers 451 and stores nothing.
func TestEndToEndRspamdDown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	dead := "http://" + freePort(t)
	mail := rspamdTestMail("Carol <carol@customer.example>", "d1@customer.example", "VPN", "It drops every hour.")
	t.Run("accept", func(t *testing.T) {
		t.Parallel()
		s := serveBinary(t, "rspamd:\n  url: "+dead+"\n  on_error: accept\n")
		mustSend(t, s.smtpAddr, "carol@customer.example", []string{"support@localhost"}, mail)
		d := s.decisions(t)
		if len(d) != 1 || !strings.Contains(d[0], `"step":"spam","result":"unchecked"`) ||
			!strings.Contains(d[0], "connection refused") || !strings.Contains(d[0], `"step":"case","result":"new"`) {
			t.Fatalf("decisions: %q", d)
		}
		if !strings.Contains(s.metrics(t), `casegate_rspamd_checks_total{result="error"} 1`+"\n") {
			t.Error("the failed check is not counted")
		}
	})
	t.Run("retry", func(t *testing.T) {
		t.Parallel()
		s := serveBinary(t, "rspamd:\n  url: "+dead+"\n  on_error: retry\n")
		err := sendMail(t, s.smtpAddr, "carol@customer.example", []string{"support@localhost"}, mail)
		var se *smtp.SMTPError
		if !errors.As(err, &se) || se.Code != 451 {
			t.Fatalf("SMTP with rspamd down and on_error retry: %v, want 451", err)
		}
		if d := s.decisions(t); len(d) != 0 {
			t.Fatalf("%d messages stored", len(d))
		}
		// The process's log reaches the test through a pipe: wait for it.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(s.logs.String(), "rspamd") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if !strings.Contains(s.logs.String(), "rspamd") {
			t.Errorf("the log does not name rspamd:\n%s", s.logs)
		}
	})
}
