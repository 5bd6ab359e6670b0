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
