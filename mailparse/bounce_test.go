package mailparse

import (
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
		if (got == nil) != (want == nil) || got != nil && *got != *want {
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
}
