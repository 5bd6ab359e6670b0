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
// warning: the caller uses its own receive time. A zone offset of a day or
// more is read as UTC, so that every date can be written as JSON.
func parseDate(s string, warn func(string)) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	t, ok := readDate(s)
	if !ok || t.Year() < 1 || t.Year() > 9999 {
		warn("unreadable date")
		return time.Time{}
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		warn("date with an impossible zone read as UTC")
		t = t.UTC()
	}
	return t
}

// readDate tries the usual form, net/mail, then the layouts of the wild.
func readDate(s string) (time.Time, bool) {
	if t, ok := fastDate(s); ok {
		return t, true
	}
	if t, err := mail.ParseDate(s); err == nil {
		return fixZone(t), true
	}
	clean := s
	if i := strings.IndexByte(clean, '('); i > 0 { // "(CET)" comments
		clean = strings.TrimSpace(clean[:i])
	}
	clean = strings.Join(strings.Fields(strings.ReplaceAll(clean, ",", ", ")), " ")
	clean = strings.ReplaceAll(clean, " ,", ",")
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, clean); err == nil {
			return fixZone(t), true
		}
	}
	return time.Time{}, false
}

// fastDate reads the usual form of a Date header, "Tue, 5 Mar 2024
// 10:12:00 +0100 (CET)", without allocating; ok is false for anything
// else, which the slower layouts then try.
func fastDate(s string) (time.Time, bool) {
	if i := strings.IndexByte(s, ','); i >= 0 && i <= 10 {
		s = s[i+1:]
	}
	var f [6]string
	n := 0
	for _, w := range strings.Fields(s) { // Fields of a short string: one small slice
		if n == len(f) {
			break
		}
		f[n] = w
		n++
	}
	if n < 5 {
		return time.Time{}, false
	}
	day, ok1 := atoiSmall(f[0], 2)
	mon := monthIndex(f[1])
	year, ok2 := atoiSmall(f[2], 4)
	if !ok1 || !ok2 || mon == 0 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	if len(f[2]) == 2 { // RFC 5322 §4.3
		year += 1900
		if year < 1950 {
			year += 100
		}
	} else if len(f[2]) != 4 {
		return time.Time{}, false
	}
	hh, mm, ss, ok := clock(f[3])
	off, ok3 := zoneOffset(f[4])
	if !ok || !ok3 {
		return time.Time{}, false
	}
	loc := time.UTC
	if off != 0 {
		loc = time.FixedZone("", off)
	}
	return time.Date(year, time.Month(mon), day, hh, mm, ss, 0, loc), true
}

func atoiSmall(s string, maxDigits int) (int, bool) {
	if s == "" || len(s) > maxDigits {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func monthIndex(s string) int {
	if len(s) != 3 {
		return 0
	}
	const months = "janfebmaraprmayjunjulaugsepoctnovdec"
	for i := 0; i < 12; i++ {
		if strings.EqualFold(s, months[i*3:i*3+3]) {
			return i + 1
		}
	}
	return 0
}

// clock reads "15:04" or "15:04:05".
func clock(s string) (hh, mm, ss int, ok bool) {
	if len(s) != 5 && len(s) != 8 || s[2] != ':' || len(s) == 8 && s[5] != ':' {
		return 0, 0, 0, false
	}
	hh, ok1 := atoiSmall(s[0:2], 2)
	mm, ok2 := atoiSmall(s[3:5], 2)
	ok3 := true
	if len(s) == 8 {
		ss, ok3 = atoiSmall(s[6:8], 2)
	}
	return hh, mm, ss, ok1 && ok2 && ok3 && hh < 24 && mm < 60 && ss < 61
}

// zoneOffset reads "+0100", "-0000" or a zone name.
func zoneOffset(s string) (int, bool) {
	if len(s) == 5 && (s[0] == '+' || s[0] == '-') {
		h, ok1 := atoiSmall(s[1:3], 2)
		m, ok2 := atoiSmall(s[3:5], 2)
		if !ok1 || !ok2 || h > 23 || m > 59 {
			return 0, false
		}
		off := h*3600 + m*60
		if s[0] == '-' {
			off = -off
		}
		return off, true
	}
	off, ok := zoneOffsets[strings.ToUpper(s)]
	return off, ok
}
