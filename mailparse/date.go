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
	"Monday, 02-Jan-2006 15:04:05 MST", // RFC 850
	"Monday, 02-Jan-06 15:04:05 MST",
}

// zoneOffsets are the zone names of dates in the wild, in seconds east
// of UTC; time.Parse knows only the local ones.
var zoneOffsets = map[string]int{
	"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEST": 3600, "BST": 3600,
	"CET": 3600, "CEST": 7200, "MET": 3600, "MEST": 7200, "EET": 7200, "EEST": 10800,
	"MSK": 10800, "IST": 19800, "JST": 32400, "KST": 32400, "HKT": 28800,
	"AEST": 36000, "AEDT": 39600, "EST": -18000, "EDT": -14400, "CST": -21600,
	"CDT": -18000, "MST": -25200, "MDT": -21600, "PST": -28800, "PDT": -25200,
}

// fixZone gives a time parsed with an unknown zone name its real offset.
func fixZone(t time.Time) time.Time {
	name, off := t.Zone()
	if real, ok := zoneOffsets[name]; ok && off != real {
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0,
			time.FixedZone(name, real))
	}
	return t
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
		return fixZone(t)
	}
	clean := s
	if i := strings.IndexByte(clean, '('); i > 0 { // "(CET)" comments
		clean = strings.TrimSpace(clean[:i])
	}
	clean = strings.Join(strings.Fields(strings.ReplaceAll(clean, ",", ", ")), " ")
	clean = strings.ReplaceAll(clean, " ,", ",")
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, clean); err == nil {
			return fixZone(t)
		}
	}
	warn("unreadable date")
	return time.Time{}
}
