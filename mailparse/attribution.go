package mailparse

import (
	"strings"
)

// Attribution lines are what a client writes above the message it quotes:
// "On <date>, <name> wrote:" in its many languages and shapes. They come
// with a verb ("wrote", "schrieb", "đã viết", ...) or without one, date
// first, as webmail services in Russia and old Gmail write them
// ("05.03.2024, 10:12, "Name" <addr>:", "... от Name <addr>:"); wrapped
// over lines by the client, broken by long links or mailto: noise, between
// dashes ("---- Name wrote ----"), or on the same line as the reply.

// attributionVerbs are the verbs of "On ... wrote:" lines, lower-cased.
var attributionVerbs = []string{
	"wrote", "writes", "schrieb", "schreef", "geschreven", "skrev", "a écrit", "escribió",
	"escreveu", "ha scritto", "napisał", "pisze", "kirjoitti", "napsal", "napísal", "írta",
	"έγραψε", "написал", "пишет", "написав", "yazdı", "写道", "寫道", "scrisse", "va escriure",
	"escrigué", "đã viết", "ha escrito", "のメッセージ", "書きました", "작성", "a scris",
}

// attributionLeads start attribution lines in their languages.
var attributionLeads = []string{
	"on ", "am ", "le ", "el ", "il ", "op ", "em ", "den ", "w dniu ", "dnia ",
	"in ", "à ", "quoting ", "zitat von ", "citando ", "the ", "vào ", "på ", "dne ",
	"ngày ", "в ", "пн, ", "вт, ", "ср, ", "чт, ", "пт, ", "сб, ", "вс, ",
}

// inlineLeads start an attribution that shares its line with the reply
// ("Thanks! On Tue, ... wrote:"); they are matched as written, capitals and
// all, so that an "on" inside a sentence does not count.
var inlineLeads = []string{" On ", " Am ", " Le ", " El ", " Il ", " Op ", " Em ", " Den ", " W dniu "}

// maxAttribution bounds the length of an attribution, links left out.
const maxAttribution = 300

// attributionAt returns how many lines (1 to 3 for clients that wrap it,
// up to 6 when blank lines and mailto: noise break it) the attribution
// starting at line i takes, 0 if there is none.
func attributionAt(lines []line, i int) int {
	first := strings.TrimSpace(lines[i].s)
	if first == "" || isQuoted(first) || len(first) > 2*maxAttribution {
		return 0
	}
	if dashedAttribution(first) {
		return 1
	}
	first = withoutLinks(first)
	if len(first) > maxAttribution {
		return 0
	}
	if bareDateAttribution(first) && nextQuoted(lines, i+1) {
		return 1 // "2024/3/5 Name <addr>" above quoted lines
	}
	if strings.HasSuffix(first, ":") || strings.HasSuffix(first, "：") {
		if isAttribution(first, true, nextQuoted(lines, i+1)) {
			return 1
		}
		return 0
	}
	if !colonWithin(lines, i+1, 5) || !mayStartAttribution(first) {
		return 0
	}
	return wrappedAttribution(lines, i, first)
}

// colonWithin reports whether one of the n lines from i ends with a colon,
// as the last line of a wrapped attribution does.
func colonWithin(lines []line, i, n int) bool {
	for j := i; j < len(lines) && j < i+n; j++ {
		t := strings.TrimRight(lines[j].s, " \t")
		if strings.HasSuffix(t, ":") || strings.HasSuffix(t, "：") {
			return true
		}
	}
	return false
}

// wrappedAttribution joins the lines after the first line of a wrapped
// attribution until one ends with a colon, and returns how many lines the
// attribution takes, 0 if they do not make one. Blank lines and a last
// line "> wrote:" (the mailto: noise of some clients) are taken only
// after a first line with a lead word, the blank lines only before such
// noise.
func wrappedAttribution(lines []line, i int, first string) int {
	lead := leadsAttribution(first)
	max := 3
	if lead {
		max = 6
	}
	joined := first
	for n := 2; n <= max && i+n <= len(lines); n++ {
		t := strings.TrimSpace(lines[i+n-1].s)
		switch {
		case t == "" && lead && noiseFollows(lines, i+n):
			continue
		case t == "":
			return 0
		case isQuoted(t):
			t = strings.TrimSpace(strings.TrimLeft(t, "> "))
			if !lead || !isVerbColon(t) {
				return 0
			}
		}
		t = withoutLinks(t)
		if len(joined)+len(t) > maxAttribution {
			return 0
		}
		joined += " " + t
		if strings.HasSuffix(joined, ":") || strings.HasSuffix(joined, "：") {
			if isAttribution(joined, true, nextQuoted(lines, i+n)) {
				return n
			}
			return 0
		}
	}
	return 0
}

// noiseFollows reports whether the first non-blank line from i is the
// mailto: noise some clients break an attribution with ("<",
// "mailto:Name <addr>").
func noiseFollows(lines []line, i int) bool {
	for ; i < len(lines); i++ {
		if t := strings.TrimSpace(lines[i].s); t != "" {
			return strings.HasPrefix(t, "<") || strings.HasPrefix(t, "mailto:") || strings.HasPrefix(t, "[mailto:")
		}
	}
	return false
}

// mayStartAttribution reports whether a line that does not end with a
// colon may be the first line of a wrapped attribution: it leads like one,
// or holds an address, a date or time, or a verb.
func mayStartAttribution(s string) bool {
	if strings.IndexByte(s, '@') >= 0 || hasLeadWord(s) || hasDateTime(s) {
		return true
	}
	return containsVerb(strings.ToLower(s))
}

// isAttribution reports an "On <date>, <name> wrote:" line (joined, if
// the client wrapped it). lead says it may start one; quotedNext that
// quoted lines follow. A line with a verb is one when it starts like one,
// names an address, stands above quoted lines, or carries a year (clients
// that do not quote: "Name kirjoitti 5.3.2024 kello 10.12:").
func isAttribution(s string, lead, quotedNext bool) bool {
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "* ") && strings.HasSuffix(l, "]:") && quotedNext {
		return true // mutt: "* Name <addr> [2024-03-05 10:12]:"
	}
	if !lead {
		return false
	}
	hasAddr := strings.Contains(l, "@")
	if !containsVerb(l) {
		return verblessAttribution(l, hasAddr)
	}
	return leadsAttribution(l) || hasAddr || quotedNext || hasYear(l)
}

// verblessAttribution reports the attributions without a verb: a date
// first and an address ("05.03.2024, 10:12, "Name" <addr>:", old Gmail's
// "2014-10-17 11:28 GMT+03:00 Name <addr>:"), Russian services' "<date>
// от Name <addr>:", and "On <date>, Name <addr> sent:".
func verblessAttribution(l string, hasAddr bool) bool {
	switch {
	case !hasAddr:
		return false
	case leadingDate(l) && hasDateTime(l):
		return true
	case (strings.Contains(l, " от ") || strings.Contains(l, " від ")) && hasDateTime(l):
		return true
	case strings.HasPrefix(l, "on ") && strings.HasSuffix(l, " sent:"):
		return true
	}
	return false
}

// bareDateAttribution reports old Gmail's "2011/4/7 Name <addr>", a date
// and an address without a colon.
func bareDateAttribution(s string) bool {
	return len(s) < 200 && strings.HasSuffix(s, ">") && strings.Contains(s, "@") && leadingDate(s) && hasDateTime(s)
}

// dashedAttribution reports an attribution between dashes, without a
// colon: "---- On ... Name wrote ----", "------On ... wrote-----" (Zoho,
// Android clients).
func dashedAttribution(t string) bool {
	if len(t) > maxAttribution || !strings.HasPrefix(t, "--") || !strings.HasSuffix(t, "--") {
		return false
	}
	core := strings.ToLower(strings.Trim(t, "- \t"))
	if core == "" {
		return false
	}
	for _, v := range attributionVerbs {
		if strings.HasSuffix(core, v) {
			return true
		}
	}
	return false
}

// isVerbColon reports a line that is only a verb and a colon ("wrote:"),
// the end of an attribution broken by mailto: noise.
func isVerbColon(t string) bool {
	l := strings.TrimSpace(strings.TrimSuffix(strings.ToLower(t), ":"))
	for _, v := range attributionVerbs {
		if l == v {
			return true
		}
	}
	return false
}

// inlineAttribution returns the byte offset in s where an attribution
// begins that shares its line with the reply ("Yes. On Tue, Mar 5, 2024
// at 10:12 AM A <a@b.c> wrote:"), -1 if there is none.
func inlineAttribution(s string) int {
	t := strings.TrimRight(s, " \t")
	if !strings.HasSuffix(t, ":") || len(t) > 2*maxAttribution || !strings.Contains(t, "@") || isQuoted(t) ||
		hasLeadWord(strings.TrimSpace(t)) || leadingDate(strings.TrimSpace(t)) {
		return -1
	}
	for _, lead := range inlineLeads {
		p := strings.Index(t, lead)
		if p <= 0 || isBlank(t[:p]) {
			continue
		}
		rest := t[p+1:]
		if (strings.IndexByte(rest, '@') >= 0 || hasDateTime(rest)) && containsVerb(strings.ToLower(rest)) &&
			isAttribution(rest, true, false) {
			return p + 1
		}
	}
	return -1
}

// leadsAttribution reports a line that starts like an attribution: a lead
// word, or a date with an address (Polish Gmail starts with the weekday).
func leadsAttribution(s string) bool {
	return hasLeadWord(s) || strings.ContainsAny(s, "0123456789") && strings.Contains(s, "@")
}

// hasLeadWord reports a line that starts with a lead word ("On ", "Am ").
func hasLeadWord(s string) bool {
	return hasAnyPrefixFold(s, attributionLeads)
}

// containsVerb reports whether a lower-cased line holds an attribution
// verb.
func containsVerb(l string) bool {
	for _, v := range attributionVerbs {
		if strings.Contains(l, v) {
			return true
		}
	}
	return false
}

// nextQuoted reports whether the first non-blank line from i is quoted.
func nextQuoted(lines []line, i int) bool {
	for ; i < len(lines); i++ {
		if !isBlank(lines[i].s) {
			return isQuoted(lines[i].s)
		}
	}
	return false
}

// leadingDate reports a line that starts with a numeric date: 05.03.2024,
// 2024-03-05, 2024/3/5, 5. 3. 2024 or 2024年3月5日.
func leadingDate(s string) bool {
	n1 := digitsAt(s, 0)
	if n1 == 0 || n1 > 4 {
		return false
	}
	if strings.HasPrefix(s[n1:], "年") {
		return true
	}
	i := n1
	for k := 0; k < 2; k++ {
		if i >= len(s) || !strings.ContainsRune("./-", rune(s[i])) {
			return false
		}
		i++
		if i < len(s) && s[i] == ' ' {
			i++
		}
		n := digitsAt(s, i)
		if n == 0 || n > 4 {
			return false
		}
		i += n
	}
	return true
}

// hasDateTime reports a time of day (10:12, 10.12) or a year (19xx, 20xx)
// in s.
func hasDateTime(s string) bool { return hasTime(s) || hasYear(s) }

// hasYear reports a year (19xx, 20xx) standing alone in s.
func hasYear(s string) bool {
	for i := 0; i < len(s); i++ {
		n := digitsAt(s, i)
		if n == 4 && (s[i:i+2] == "19" || s[i:i+2] == "20") && (i == 0 || !isDigit(s[i-1])) {
			return true
		}
		i += n
	}
	return false
}

// hasTime reports a time of day (10:12, 10.12) in s.
func hasTime(s string) bool {
	for i := 0; i < len(s); i++ {
		n := digitsAt(s, i)
		if n > 0 && n <= 2 && i+n+2 < len(s) && (s[i+n] == ':' || s[i+n] == '.') && digitsAt(s, i+n+1) == 2 {
			return true
		}
		i += n
	}
	return false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// withoutLinks removes the links ("<https://...>", "(https://...)", bare
// https://...) a client put into an attribution, so that a long tracking
// link does not hide it.
func withoutLinks(s string) string {
	if !strings.Contains(s, "http") {
		return s
	}
	var sb strings.Builder
	for _, f := range strings.Fields(s) {
		t := strings.TrimLeft(f, "(<")
		if strings.HasPrefix(t, "http://") || strings.HasPrefix(t, "https://") {
			if strings.HasSuffix(f, ">:") || strings.HasSuffix(f, "):") {
				sb.WriteString(":")
			}
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(f)
	}
	return sb.String()
}
