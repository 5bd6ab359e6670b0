package mailparse

import (
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	check := func(in, want string) {
		t.Helper()
		warned := false
		got := parseDate(in, func(string) { warned = true })
		if want == "" {
			if !got.IsZero() || (in != "" && !warned) {
				t.Errorf("parseDate(%q) = %v, want zero and a warning", in, got)
			}
			return
		}
		if got.Format(time.RFC3339) != want {
			t.Errorf("parseDate(%q) = %s, want %s", in, got.Format(time.RFC3339), want)
		}
	}
	check("Tue, 5 Mar 2024 10:12:00 +0100", "2024-03-05T10:12:00+01:00")
	check("Tue,  5 Mar 2024 10:12:03 +0100 (CET)", "2024-03-05T10:12:03+01:00")
	check("5 Mar 2024 09:12:05 -0000", "2024-03-05T09:12:05Z")
	check("Tue, 5 Mar 2024 10:12 +0100", "2024-03-05T10:12:00+01:00")
	check("Tuesday, 05-Mar-2024 10:00:00 CET", "2024-03-05T10:00:00+01:00")
	check("Tue Mar 5 10:00:00 2024", "2024-03-05T10:00:00Z")
	check("2024-03-05 10:00:00", "2024-03-05T10:00:00Z")
	check("Tue, 5 Mar 2024 10:00:00 PST", "2024-03-05T10:00:00-08:00")
	check("05 Mar 24 09:30 GMT", "2024-03-05T09:30:00Z")
	check("Fri, 31 Dec 99 23:59:59 -0500", "1999-12-31T23:59:59-05:00")
	check("Tue, 5 Mar 2024 25:12:00 +0100", "")
	check("Tue, 5 Foo 2024 10:12:00 +0100", "")
	check("1 MAY 00 00:00 +7000", "") // found by the fuzzer: no JSON for it
	check("", "")
	check("yesterday", "")
}
