package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// decision is what the gateway made of one message: comparable across
// the ways a message comes in.
type decision struct {
	Outcome string
	Bounce  string // the result of the trace's first "bounce" step
	Thread  string // the result of the trace's last "thread" step
}

// decisionOf reads a decision trace as stored or as classify prints it.
func decisionOf(t *testing.T, outcome, trace string) decision {
	t.Helper()
	var steps []struct{ Step, Result string }
	if err := json.Unmarshal([]byte(trace), &steps); err != nil {
		t.Fatalf("trace %q: %v", trace, err)
	}
	d := decision{Outcome: outcome}
	for _, s := range steps {
		switch s.Step {
		case "bounce":
			if d.Bounce == "" {
				d.Bounce = s.Result
			}
		case "thread":
			d.Thread = s.Result
		}
	}
	return d
}

// decisionWorld is a gateway with one case, CS0000001, whose confirmation
// reached the relay: the state every path starts from.
type decisionWorld struct {
	m       *Main
	conf    string // a config file for pipe mode and classify
	notice  string // the confirmation's Message-ID
	bounces string // its envelope sender: the VERP bounce address
}

func newDecisionWorld(t *testing.T, dv *dovecottest.Server, folder string) *decisionWorld {
	t.Helper()
	relay := gatewaytest.StartRelay(t)
	t.Setenv(dovecotPasswordEnv, dv.Password)
	m := startMain(t, relay, func(c *Config) {
		if folder != "" {
			c.IMAP = []IMAPConfig{dovecotMailbox(dv, folder, "move:Processed")}
		}
	})
	mustSend(t, m.SMTPAddr, "carol@customer.example", []string{"support@localhost"},
		"From: Carol <carol@customer.example>\r\nTo: support@localhost\r\nSubject: Printer offline\r\n"+
			"Message-ID: <open.1@customer.example>\r\n\r\nThe printer is offline.\r\n")
	waitUntil(t, 10*time.Second, "the confirmation", func() bool { return len(relay.Mails()) >= 1 })
	conf := relay.Mails()[0]
	w := &decisionWorld{m: m, notice: strings.Trim(conf.Header.Get("Message-Id"), "<>"), bounces: conf.From}
	w.conf = writeConfig(t, t.TempDir(), fmt.Sprintf("data_dir: %s\nagents: [\"@agents.example\"]\naccounts: {customer.example: Customer Inc}\n", m.Config.DataDir))
	return w
}

// stored is the decision the gateway stored for the message after the
// first n.
func (w *decisionWorld) stored(t *testing.T, n int) decision {
	t.Helper()
	msg, err := w.m.Store.Message(context.Background(), int64(n+1))
	if err != nil {
		t.Fatalf("message %d: %v", n+1, err)
	}
	return decisionOf(t, msg.Outcome, msg.Decision)
}

// One set of messages through SMTP, pipe mode, an IMAP mailbox and
// classify: every path takes the same decision. Among them the
// out-of-office that comes with the null sender to a notification's
// bounce address: an auto-reply on the case, never a bounce.
func TestSameDecisionOnEveryPath(t *testing.T) {
	dv := dovecottest.Start(t)
	tc := dv.Client(t)
	type message struct {
		name     string
		envFrom  string // "" is the null sender
		toBounce bool   // sent to the confirmation's bounce address, else to support@
		raw      func(w *decisionWorld) string
		want     decision
	}
	messages := []message{
		{"reply by subject tag", "carol@customer.example", false, func(w *decisionWorld) string {
			return "From: carol@customer.example\r\nTo: support@localhost\r\nSubject: Re: [CS0000001] Printer offline\r\n" +
				"Message-ID: <r.1@customer.example>\r\n\r\nStill offline.\r\n"
		}, decision{Outcome: "reply", Bounce: "no", Thread: "subject_tag"}},
		{"out-of-office with the null sender", "", true, func(w *decisionWorld) string {
			return "From: Carol <carol@customer.example>\r\nTo: " + w.bounces + "\r\nSubject: Automatic reply: [CS0000001] Printer offline\r\n" +
				"Message-ID: <ooo.1@customer.example>\r\nIn-Reply-To: <" + w.notice + ">\r\nAuto-Submitted: auto-replied\r\n\r\n" +
				"I am out of the office until Monday.\r\n"
		}, decision{Outcome: "auto_reply", Bounce: "no", Thread: "message_id"}},
		{"delivery report", "", true, func(w *decisionWorld) string {
			return "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\nTo: " + w.bounces + "\r\n" +
				"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.1@mx.customer.example>\r\nAuto-Submitted: auto-replied\r\n" +
				"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n" +
				"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
				"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n" +
				"Final-Recipient: rfc822; carol@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n" +
				"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--b--\r\n"
		}, decision{Outcome: "bounce", Bounce: "yes"}},
	}
	folders := 0
	for _, msg := range messages {
		var got []string
		want := fmt.Sprintf("%+v", msg.want)
		for _, path := range []string{"smtp", "pipe", "imap", "classify"} {
			folder := ""
			if path == "imap" {
				folders++
				folder = fmt.Sprintf("Inbound%d", folders)
				tc.Create(folder)
			}
			w := newDecisionWorld(t, dv, folder)
			n := storedMessages(t, w.m.Store)
			rcpt := "support@localhost"
			if msg.toBounce {
				rcpt = w.bounces
			}
			raw := msg.raw(w)
			var d decision
			switch path {
			case "smtp":
				mustSend(t, w.m.SMTPAddr, msg.envFrom, []string{rcpt}, raw)
				d = w.stored(t, n)
			case "pipe":
				var out, errOut bytes.Buffer
				args := []string{"ingest", "--config", w.conf, "--from", msg.envFrom, "--to", rcpt}
				if code := run(context.Background(), args, strings.NewReader(raw), &out, &errOut); code != 0 {
					t.Fatalf("%s: ingest exit %d: %s", msg.name, code, errOut.String())
				}
				d = w.stored(t, n)
			case "imap":
				tc.Append(folder, []byte(raw))
				waitUntil(t, 10*time.Second, "the polled message", func() bool { return storedMessages(t, w.m.Store) > n })
				d = w.stored(t, n)
			case "classify":
				var out, errOut bytes.Buffer
				args := []string{"classify", "--config", w.conf, "--json", "--from", msg.envFrom, "--to", rcpt}
				if code := run(context.Background(), args, strings.NewReader(raw), &out, &errOut); code != 0 {
					t.Fatalf("%s: classify exit %d: %s", msg.name, code, errOut.String())
				}
				var v struct {
					Decision struct {
						Outcome string          `json:"outcome"`
						Trace   json.RawMessage `json:"trace"`
					} `json:"decision"`
				}
				if err := json.Unmarshal(out.Bytes(), &v); err != nil {
					t.Fatalf("%s: classify output: %v\n%s", msg.name, err, out.String())
				}
				d = decisionOf(t, v.Decision.Outcome, string(v.Decision.Trace))
			}
			got = append(got, fmt.Sprintf("%+v", d))
			if fmt.Sprintf("%+v", d) != want {
				t.Errorf("%s over %s: %+v, want %s", msg.name, path, d, want)
			}
		}
		t.Logf("%s: %s", msg.name, strings.Join(got, " | "))
	}
}
