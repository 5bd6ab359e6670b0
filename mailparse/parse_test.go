package mailparse

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseBasic(t *testing.T) {
	raw := "From: =?utf-8?q?J=C3=B6rg?= <joerg@Example.COM>\r\n" +
		"To: support@localhost\r\n" +
		"Subject: Re: AW: [CS0000042] Drucker =?iso-8859-1?q?kaputt_=FC?=\r\n" +
		"Message-ID: <abc@x>\r\n" +
		"References: <a@x> <b@x>\r\n <a@x>\r\n" +
		"Date: Tue, 5 Mar 2024 10:12:00 +0100\r\n" +
		"X-Casegate-Loop: Support.Example\r\n" +
		"Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Hallo,\r\nes geht nicht.\r\n\r\n" +
		"Am Di., 5. M=C3=A4rz 2024 um 10:00 Uhr schrieb Support <support@localhost>:\r\n" +
		"> ##- Please type your reply above this line -##\r\n> Ref: CS0000042\r\n" +
		"--b1\r\nContent-Type: text/html\r\n\r\n<p>Hallo</p>\r\n--b1--\r\n"
	m, err := Parse([]byte(raw), Options{Hostname: "support.example", LoopHeader: "X-Casegate-Loop"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	check("from", m.From.Name+" "+m.From.Email, "Jörg joerg@example.com")
	check("subject", m.Subject, "Re: AW: [CS0000042] Drucker kaputt ü")
	check("topic", m.Topic, "Drucker kaputt ü")
	check("tag", m.CaseTag, "CS0000042")
	check("ref", m.BodyRef, "CS0000042")
	check("refs", strings.Join(m.References, " "), "a@x b@x")
	check("visible", m.Visible, "Hallo,\nes geht nicht.")
	check("html", m.HTML, "<p>Hallo</p>")
	if !m.Signals.Loop {
		t.Error("loop header not seen")
	}
}

func TestParseErrors(t *testing.T) {
	check := func(raw, reason string) {
		t.Helper()
		_, err := Parse([]byte(raw), Options{Limits: Limits{MaxDepth: 3, MaxHeaderBytes: 200}})
		e, ok := IsError(err)
		if !ok || e.Reason != reason {
			t.Errorf("Parse(%.30q) = %v, want reason %s", raw, err, reason)
		}
	}
	check("", "no_header")
	check("just some text\nwithout header\n", "no_header")
	check("\r\nbody only", "no_header")
	check("Subject: "+strings.Repeat("x", 300)+"\r\n\r\n", "header_too_large")
	deep := "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n" +
		"Content-Type: multipart/mixed; boundary=d\r\n\r\n--d\r\n\r\nx\r\n"
	check(deep, "too_deep")
	many := "Content-Type: multipart/mixed; boundary=a\r\n\r\n" + strings.Repeat("--a\r\n\r\nx\r\n", 20)
	checkLim := func(raw string, lim Limits, reason string) {
		t.Helper()
		_, err := Parse([]byte(raw), Options{Limits: lim})
		if e, ok := IsError(err); !ok || e.Reason != reason {
			t.Errorf("Parse(%.30q) = %v, want reason %s", raw, err, reason)
		}
	}
	checkLim(many, Limits{MaxParts: 10}, "too_many_parts")
	checkLim("Subject: x\r\n\r\n"+strings.Repeat("y", 100), Limits{MaxPartBytes: 50}, "part_too_large")
	checkLim("Subject: "+strings.Repeat("z", 100)+"\r\n\r\n", Limits{MaxLineBytes: 50}, "line_too_long")
	fwd := "Content-Type: message/rfc822\r\n\r\n"
	checkLim(strings.Repeat(fwd, 5)+"Subject: inner\r\n\r\nhi", Limits{MaxDepth: 3}, "too_deep")
	if _, err := Parse([]byte(many), Options{}); err != nil {
		t.Errorf("default limits refuse 20 parts: %v", err)
	}
}

func TestErrorText(t *testing.T) {
	e := &Error{Reason: "too_deep"}
	if e.Error() != "mailparse: too_deep" {
		t.Errorf("Error() = %q", e.Error())
	}
	if _, ok := IsError(e); !ok {
		t.Error("IsError(*Error) = false")
	}
}

// Parsing never writes to the mail: the raw bytes are stored after it,
// and their digest was taken before. Each mail is tried as it is and
// with LF line ends, as a pipe gets it.
func TestParseLeavesTheMailAlone(t *testing.T) {
	for _, path := range corpusFiles(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, mail := range [][]byte{raw, bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))} {
			before := bytes.Clone(mail)
			Parse(mail, corpusOptions)
			if !bytes.Equal(mail, before) {
				t.Errorf("%s: Parse changed the mail", filepath.Base(path))
			}
		}
	}
}
