package mailparse

import (
	"strings"
	"testing"
)

func TestReadHeader(t *testing.T) {
	nowarn := func(string) {}
	check := func(raw, name, want, body string) {
		t.Helper()
		h, b, err := readHeader([]byte(raw), DefaultLimits(), nowarn)
		if err != nil {
			t.Fatalf("readHeader(%q): %v", raw, err)
		}
		if got := h.get(name); got != want {
			t.Errorf("readHeader(%q) %s = %q, want %q", raw, name, got, want)
		}
		if string(b) != body {
			t.Errorf("readHeader(%q) body = %q, want %q", raw, b, body)
		}
	}
	check("Subject: a\r\n b\r\n\r\nbody", "subject", "a b", "body")
	check("Subject: a\n\tb\n\nbody\n", "SUBJECT", "a\tb", "body\n")
	check("From x@y Tue Mar  5 09:30:00 2024\nSubject: s\n\nb", "Subject", "s", "b")
	check("Subject : spaced\n\nb", "Subject", "spaced", "b")
	check("Subject: no blank line\nthis is body\n", "Subject", "no blank line", "this is body\n")
	check("Subject: only header", "Subject", "only header", "")
}

func TestReadHeaderLimits(t *testing.T) {
	lim := Limits{MaxHeaderBytes: 100, MaxLineBytes: 40}
	check := func(raw, reason string) {
		t.Helper()
		_, _, err := readHeader([]byte(raw), lim, func(string) {})
		if e, ok := IsError(err); !ok || e.Reason != reason {
			t.Errorf("readHeader(%.20q) = %v, want %s", raw, err, reason)
		}
	}
	check("Subject: "+string(make([]byte, 50)), "line_too_long")
	check("Subject: a\n "+string(make([]byte, 38))+"\n\n", "line_too_long")
	check(strings.Repeat("Received: by relay\n", 6)+"\n", "header_too_large")
	check(" continuation first\n\n", "no_header")
	check("no colon here\n\n", "no_header")
}
