package mailparse

import (
	"reflect"
	"strings"
	"testing"
)

func TestDetectBounce(t *testing.T) {
	check := func(raw string, want *Bounce) {
		t.Helper()
		m, err := Parse([]byte(raw), Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := m.Signals.Bounce
		if got != nil {
			g := *got
			g.Recipients, g.Format, g.Hard = nil, "", false
			got = &g
		}
		if (got == nil) != (want == nil) || got != nil && !reflect.DeepEqual(got, want) {
			t.Errorf("bounce of %.40q = %+v, want %+v", raw, got, want)
		}
	}
	check("From: a@b.c\n\nhello\n", nil)
	check("Return-Path: <>\nFrom: x@y\nAuto-Submitted: auto-replied\n\nI am away.\n", nil)
	check("Return-Path: <>\nFrom: x@y\n\n<u@x.org>: 550 5.1.1 user unknown\n",
		&Bounce{Recipient: "u@x.org", Status: "5.1.1", Permanent: true, Reason: "null_sender"})
	check("From: Mailer-Daemon@x.org\n\nsomething went wrong\n", &Bounce{Reason: "mailer_daemon"})
	check("From: postmaster@x.org\nSubject: Undeliverable: hi\n\nuser unknown\n", &Bounce{Permanent: true, Reason: "mailer_daemon"})
	check("From: postmaster@x.org\nSubject: hi\n\nhello\n", nil)
	dsn := "From: MAILER-DAEMON@x\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
		"--b\n\nfailed\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n" +
		"Final-Recipient: rfc822; ok@y\nAction: delivered\nStatus: 2.0.0\n\n" +
		"Final-Recipient: rfc822; <Gone@Y>\nAction: failed\nStatus: 5.1.1\n\n" +
		"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <orig@x>\n\n--b--\n"
	check(dsn, &Bounce{OriginalMessageID: "orig@x", Recipient: "gone@y", Status: "5.1.1", Permanent: true, Reason: "dsn"})

	// A person forwarding a bounce writes about it: no bounce.
	check("From: Jane <jane@x.example>\nSubject: Fwd: failure notice\n\nWhy?\n\n"+
		"Hi. This is the qmail-send program at x.example.\n<gone@y.example>:\nno mailbox\n", nil)
	// No Return-Path, no mailer daemon: recognised by the report's own words.
	check("From: MAILER-DAEMON <>\nSubject: Mail delivery failed\n\nThis is the DragonFly Mail Agent v0.13 at x.\n\n"+
		"There was an error delivering your mail to <k@y.example>.\n\nx did not like our RCPT TO:\n"+
		"550 5.1.1 <k@y.example>: User unknown\n\nOriginal message follows.\n",
		&Bounce{Recipient: "k@y.example", Status: "5.1.1", Permanent: true, Reason: "mailer_daemon"})
}

func TestBounceSummary(t *testing.T) {
	parse := func(raw string) *Message {
		t.Helper()
		m, err := Parse([]byte(raw), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	report := func(blocks ...string) string {
		return "From: MAILER-DAEMON@x\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n" +
			"--b\n\nreport\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n" +
			strings.Join(blocks, "\n") + "\n--b--\n"
	}
	b := parse(report("Final-Recipient: rfc822; s@y\nAction: delayed\nStatus: 4.4.7\n")).Signals.Bounce
	if b == nil || !b.Delayed || b.Permanent || b.Hard || b.Recipients[0].Reason != ReasonDelayed {
		t.Errorf("delayed report: %+v", b)
	}
	b = parse(report("Final-Recipient: rfc822; a@y\nAction: failed\nStatus: 5.7.1\nDiagnostic-Code: smtp; 550 5.7.1 spam\n",
		"Final-Recipient: rfc822; b@y\nAction: failed\nStatus: 5.1.1\n")).Signals.Bounce
	if b == nil || b.Delayed || !b.Permanent || b.Hard || len(b.Recipients) != 2 ||
		b.Recipients[0].Reason != ReasonSpamDetected || !b.Recipients[1].AddressGone() {
		t.Errorf("two recipients: %+v", b)
	}
	m := parse("From: fbl@x\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\nReturn-Path: <>\n\n" +
		"--b\n\nabuse report\n--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n" +
		"Original-Rcpt-To: <C@Y.example>\nOriginal-Mail-From: <bounces+1-a@z>\n\n--b--\n")
	c := m.Signals.Complaint
	if m.Signals.Bounce != nil || c == nil || c.FeedbackType != "abuse" || c.Recipient != "c@y.example" ||
		c.OriginalMailFrom != "bounces+1-a@z" || c.Format != "arf" {
		t.Errorf("feedback report: bounce %+v, complaint %+v", m.Signals.Bounce, c)
	}
}
