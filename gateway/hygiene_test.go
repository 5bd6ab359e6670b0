package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestEscapeControls(t *testing.T) {
	check := func(in string, multiline bool, want string) {
		t.Helper()
		if got := EscapeControls(in, multiline); got != want {
			t.Errorf("EscapeControls(%q, %v) = %q, want %q", in, multiline, got, want)
		}
	}
	check("Printer on floor 3", false, "Printer on floor 3")
	check("Grüße, 日本", false, "Grüße, 日本")
	check("\x1b[2J\x1b]0;pwned\x07Hi", false, `\x1b[2J\x1b]0;pwned\x07Hi`)
	check("a\tb\nc\r", false, `a\x09b\x0ac\x0d`)
	check("a\tb\nc\r", true, "a\tb\nc\\x0d")
	check("invoice\u202efdp.exe", false, `invoice\u202efdp.exe`)
	check("x\u0085y\x7f", false, `x\u0085y\x7f`)
	check("caf\xe9", false, `caf\xe9`)
}

func TestCleanAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"": true, "carol@customer.example": true, "jürgen@bücher.example": true,
		"a\x1bb@x.example": false, "a\x00b@x.example": false, "caf\xe9@x.example": false, "x\u202e@x.example": false,
	} {
		if got := cleanAddress(addr); got != want {
			t.Errorf("cleanAddress(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestSafeFilename(t *testing.T) {
	check := func(in, want string) {
		t.Helper()
		if got := SafeFilename(in); got != want {
			t.Errorf("SafeFilename(%q) = %q, want %q", in, got, want)
		}
	}
	check("report.pdf", "report.pdf")
	check("Bericht März.pdf", "Bericht März.pdf")
	check("invoice\u202efdp.exe", "invoicefdp.exe")
	check("../../etc/passwd", "_.._etc_passwd")
	check(`C:\Windows\evil.dll`, "C:_Windows_evil.dll")
	check("a\x00b\r\nc.txt", "abc.txt")
	check(".hidden", "hidden")
	check("caf\xe9.txt", "caf_.txt")
	check("\u2066\u2069", "")
}

// An agent's "#assign" must name an address: anything else is a refused
// command, recorded on the case, and nobody is mailed at it.
func TestAgentMailAssignValidated(t *testing.T) {
	e := newAuthEnv(t) // agent mail acts only when authenticated: DKIM-signed here
	e.publishKey(t, "agents.test")
	g, st := e.g, e.st
	ctx := context.Background()
	c := openTestCase(t, g)
	reply := func(_ *testing.T, _ *Gateway, from, number, id, body string) Result {
		return e.ingest(t, "", from, e.sign(t, "agents.test",
			fmt.Sprintf("From: %s\nTo: support@support.test\nSubject: Re: [%s] VPN drops every hour\nMessage-ID: <%s>\n\n%s\n", from, number, id, body)))
	}
	for i, arg := range []string{"nobody", "support@support.test", "x@y.example\x1b[2J"} {
		reply(t, g, agent, c.Number, fmt.Sprintf("as.%d@agents.test", i), "#assign "+arg+"\nLooking into it.")
		got, _ := st.CaseByNumber(ctx, c.Number)
		if got.Assignee != "" {
			t.Fatalf("#assign %q set the assignee to %q", arg, got.Assignee)
		}
	}
	acts, _ := st.Activities(ctx, c.ID)
	refused := 0
	for _, a := range acts {
		if strings.HasPrefix(a.Body, "command refused: assignee") {
			refused++
		}
	}
	if refused != 3 {
		t.Fatalf("%d refusals recorded, want 3", refused)
	}
	reply(t, g, agent, c.Number, "as.9@agents.test", "#assign me")
	if got, _ := st.CaseByNumber(ctx, c.Number); got.Assignee != agent {
		t.Fatalf("#assign me: %q", got.Assignee)
	}
}
