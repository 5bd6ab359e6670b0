package mailparse

import (
	"testing"
)

func TestSignals(t *testing.T) {
	opts := Options{Hostname: "desk.example", LoopHeader: "X-Loop-Test"}
	check := func(raw string, want Signals) {
		t.Helper()
		m, err := Parse([]byte(raw+"\r\n\r\nbody\r\n"), opts)
		if err != nil {
			t.Fatal(err)
		}
		m.Signals.Bounce = nil
		if m.Signals != want {
			t.Errorf("signals of %q = %+v, want %+v", raw, m.Signals, want)
		}
	}
	check("From: a@b.c", Signals{})
	check("Auto-Submitted: auto-replied; owner-email=x@y", Signals{AutoReply: true, AutoReason: "Auto-Submitted: auto-replied"})
	check("Auto-Submitted: No", Signals{})
	check("X-Autoreply: yes", Signals{AutoReply: true, AutoReason: "X-Autoreply"})
	check("X-Autorespond: hello", Signals{AutoReply: true, AutoReason: "X-Autorespond"})
	check("Precedence: junk", Signals{AutoReply: true, AutoReason: "Precedence: junk"})
	check("Precedence: list\r\nList-Id: <l.x>", Signals{AutoReply: true, AutoReason: "Precedence: list", List: true})
	check("List-Unsubscribe: <mailto:u@x>", Signals{List: true})
	check("X-Auto-Response-Suppress: DR, OOF", Signals{AutoReply: true, AutoReason: "X-Auto-Response-Suppress"})
	check("Subject: Out of Office: holiday", Signals{AutoReply: true, AutoReason: "subject: out of office"})
	check("Subject: Re: Abwesenheitsnotiz: x", Signals{AutoReply: true, AutoReason: "subject: abwesenheitsnotiz"})
	check("Subject: Question about out of office hours", Signals{})
	check("X-Loop-Test: DESK.example", Signals{Loop: true})
	check("X-Loop-Test: other.example", Signals{})
	check("Received: a\r\nReceived: b", Signals{ReceivedHops: 2})
	check("X-Priority: 2 (High)", Signals{Priority: "high"})
	check("X-Priority: 3", Signals{})
	check("Importance: High", Signals{Priority: "high"})
	check("Priority: Urgent", Signals{Priority: "high"})
	check("Priority: normal", Signals{})
}

func TestSignalsKind(t *testing.T) {
	check := func(raw, want string) {
		t.Helper()
		m, err := Parse([]byte(raw), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Signals.Kind(); got != want {
			t.Errorf("Kind of %.60q = %q, want %q (signals %+v)", raw, got, want, m.Signals)
		}
	}
	dsn := func(action, status string) string {
		return "Return-Path: <>\nFrom: MAILER-DAEMON@x.example\nAuto-Submitted: auto-replied\n" +
			"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\n\nreport\n" +
			"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@y.example\n" +
			"Action: " + action + "\nStatus: " + status + "\n\n--b--\n"
	}
	check("From: Jane <jane@y.example>\nSubject: Re: [CS0000042] x\n\nThanks!\n", "")
	check("Return-Path: <>\nFrom: Jane <jane@y.example>\nAuto-Submitted: auto-replied\nSubject: Re: x\n\nI am away.\n", KindAutoReply)
	check("Return-Path: <>\nFrom: Jane <jane@y.example>\nSubject: Re: x\n\nI am on leave until Monday.\n", KindAutoReply)
	check("Return-Path: <>\nFrom: Mail System <m@y.example>\nSubject: x\n\n<a@y.example>: 550 5.1.1 user unknown\n", KindBounce)
	check(dsn("failed", "5.1.1"), KindBounce)
	check(dsn("delayed", "4.4.7"), KindDelay)
	check("From: fbl@y.example\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\n\n"+
		"--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n\n--b--\n", KindComplaint)
	check("From: jane@y.example\nContent-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n"+
		"--b\n\nread\n--b--\n", KindReadReceipt)
	check("From: l@y.example\nList-Id: <l.y.example>\n\nnews\n", KindList)
}
