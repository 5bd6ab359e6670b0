package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// TestOperatorCLI drives outbox, quarantine and addresses commands against
// a running gateway's database, as an operator on the host would.
func TestOperatorCLI(t *testing.T) {
	relay := gatewaytest.StartRelay(t)
	relay.FailWith(func(rcpt string) *smtp.SMTPError {
		if strings.HasPrefix(rcpt, "gone@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	m := startMain(t, relay, nil)
	conf := filepath.Join(t.TempDir(), "casegate.yaml")
	if err := os.WriteFile(conf, []byte("data_dir: "+m.Config.DataDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, int) {
		t.Helper()
		var out, errOut bytes.Buffer
		code := run(context.Background(), append(args, "--config", conf), strings.NewReader(""), &out, &errOut)
		return out.String() + errOut.String(), code
	}
	ctx := context.Background()

	// A confirmation the relay refuses with 550 is a dead letter at once.
	mustSend(t, m.SMTPAddr, "gone@customer.example", []string{"support@localhost"},
		"From: gone@customer.example\nTo: support@localhost\nSubject: Hello\nMessage-ID: <g1@customer.example>\n\nHi\n")
	var dead []store.OutboxMail
	waitUntil(t, 10*time.Second, "the outbox", func() bool {
		dead, _ = m.Store.ListOutbox(ctx, store.OutboxDead, 0)
		return len(dead) == 1
	})
	out, code := cli("outbox", "list", "--status", "dead", "--json")
	var rows []store.OutboxMail
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 1 || rows[0].Recipient != "gone@customer.example" {
		t.Fatalf("outbox list --status dead (%d): %v\n%s", code, err, out)
	}
	// The text list shows the relay's refusal, and no time for a dead
	// letter (never 0001-01-01).
	out, code = cli("outbox", "list")
	if code != 0 || !strings.Contains(out, "5.1.1 user_unknown (relay refused)") || strings.Contains(out, "0001-01-01") {
		t.Fatalf("outbox list (%d):\n%s", code, out)
	}
	relay.FailWith(nil)
	if out, code := cli("outbox", "retry", strconv.FormatInt(dead[0].ID, 10)); code != 0 {
		t.Fatalf("outbox retry (%d): %s", code, out)
	}
	waitUntil(t, 10*time.Second, "the outbox", func() bool {
		r, _ := m.Store.OutboxByID(ctx, dead[0].ID)
		return r.Status == store.OutboxSent
	})
	if mails := relay.Mails(); len(mails) != 1 || strings.Trim(mails[0].Header.Get("Message-Id"), "<>") != dead[0].MessageID {
		t.Fatalf("retried mail: %d mails, want the dead letter with its Message-ID", len(mails))
	}
	if out, code := cli("outbox", "retry", strconv.FormatInt(dead[0].ID, 10)); code == 0 {
		t.Fatalf("retry of a sent mail accepted: %s", out)
	}
	// A report at the mail's bounce address makes it bounced, with the
	// report's status, reason and message id.
	report := "From: MAILER-DAEMON@mx.customer.example\nTo: " + relay.Mails()[0].From + "\nSubject: Undelivered Mail\n" +
		"Message-ID: <dsn1@mx.customer.example>\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nGone.\n\n" +
		"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.customer.example\n\n" +
		"Final-Recipient: rfc822; gone@customer.example\nAction: failed\nStatus: 5.1.1\n\n--b--\n"
	mustSend(t, m.SMTPAddr, "", []string{relay.Mails()[0].From}, report)
	out, code = cli("outbox", "list", "--status", "bounced")
	if code != 0 || !strings.Contains(out, "bounced") || !strings.Contains(out, "5.1.1 user_unknown (report: message 2)") {
		t.Fatalf("outbox list --status bounced (%d):\n%s", code, out)
	}

	// Mail with too many hops is quarantined; listing and replaying it.
	var hops strings.Builder
	for i := 0; i < 60; i++ {
		hops.WriteString("Received: from relay" + strconv.Itoa(i) + ".example by relay.example; Mon, 23 Nov 2026 10:00:00 +0000\n")
	}
	mustSend(t, m.SMTPAddr, "loop@customer.example", []string{"support@localhost"},
		hops.String()+"From: loop@customer.example\nTo: support@localhost\nSubject: Looping\nMessage-ID: <h1@customer.example>\n\nround and round\n")
	out, code = cli("quarantine", "list", "--json")
	var q []store.Quarantined
	if err := json.Unmarshal([]byte(out), &q); code != 0 || err != nil || len(q) != 1 || q[0].Reason != "too_many_hops" {
		t.Fatalf("quarantine list (%d): %v\n%s", code, err, out)
	}
	if out, code := cli("quarantine", "replay", strconv.FormatInt(q[0].ID, 10)); code != 0 || !strings.Contains(out, "CS0000002") {
		t.Fatalf("quarantine replay (%d): %s", code, out)
	}
	if _, err := m.Store.CaseByNumber(ctx, "CS0000002"); err != nil {
		t.Fatalf("replayed mail is no case: %v", err)
	}
	if out, code := cli("addresses", "list", "--json"); code != 0 {
		t.Fatalf("addresses list (%d): %s", code, out)
	}
}
