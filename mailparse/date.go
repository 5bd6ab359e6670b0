package mailparse

import (
	"net/mail"
	"strings"
	"time"
)

// dateLayouts are the Date formats of the wild that net/mail refuses:
// missing seconds or zone, ISO dates, two-digit years, zone names.
var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 -0700",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"Mon, 2 Jan 2006 15:04:05",
	"Mon, 2 Jan 2006",
	"Mon Jan 2 15:04:05 2006",
	"Mon Jan 2 15:04:05 MST 2006",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"Monday, January 2, 2006 15:04:05 -0700",
}

// parseDate reads a Date header (RFC 5322 §3.3) and, failing that, the
// formats broken software writes. An unreadable date is the zero time and a
// warning: the caller uses its own receive time.
func parseDate(s string, warn func(string)) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(s); err == nil {
		return t
	}
	clean := s
	if i := strings.IndexByte(clean, '('); i > 0 { // "(CET)" comments
		clean = strings.TrimSpace(clean[:i])
	}
	clean = strings.Join(strings.Fields(strings.ReplaceAll(clean, ",", ", ")), " ")
	clean = strings.ReplaceAll(clean, " ,", ",")
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, clean); err == nil {
			return t
		}
	}
	warn("unreadable date")
	return time.Time{}
}
