package mailparse

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultCasePrefix is the case number prefix when Options.CasePrefix is
// empty.
const DefaultCasePrefix = "CS"

// caseDigits is the number of digits of a case number after its prefix.
const caseDigits = 7

// replyPrefixes are the reply and forward abbreviations that clients put in
// front of a subject, lower-cased: English, German (AW, WG), Nordic (SV, VS,
// VB, VL), Dutch (Antw, Doorst), French (TR, Réf), Spanish and Portuguese
// (RV, RES, ENC), Italian (R, I, Rif), Polish (Odp, PD), Czech, Turkish,
// Greek and Chinese.
var replyPrefixes = map[string]bool{
	"re": true, "fw": true, "fwd": true, "aw": true, "wg": true, "sv": true,
	"vs": true, "vb": true, "vl": true, "antw": true, "antwort": true,
	"doorst": true, "tr": true, "réf": true, "ref": true, "rv": true,
	"res": true, "enc": true, "r": true, "i": true, "rif": true, "odp": true,
	"pd": true, "fs": true, "ynt": true, "ilt": true, "απ": true,
	"σχετ": true, "προώθ": true, "回复": true, "转发": true, "答复": true,
	"回覆": true, "轉寄": true, "転送": true, "vá": true, "továbbítás": true,
	"wtr": true, "pr": true,
}

// NormalizeSubject returns the topic of a subject — reply and forward
// prefixes in any of the common languages ("Re:", "AW:", "SV:", "RE :",
// "Re[2]:"), leading bracketed tags ("[EXTERNAL]") and every case tag
// removed, blanks folded — and the first case tag: "[" + casePrefix + 7
// digits + "]" anywhere in the subject, returned without brackets in the
// configured spelling. casePrefix "" means DefaultCasePrefix.
func NormalizeSubject(subject, casePrefix string) (topic, tag string) {
	if casePrefix == "" {
		casePrefix = DefaultCasePrefix
	}
	s := subject
	tag, s = extractTags(s, casePrefix)
	for {
		t := strings.TrimLeftFunc(s, unicode.IsSpace)
		t = stripBracketPrefix(t)
		t = stripReplyPrefix(t)
		if t == s {
			break
		}
		s = t
	}
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " "), tag
}

// extractTags removes every "[PREFIX0000000]" tag from s and returns the
// first one without brackets.
func extractTags(s, prefix string) (string, string) {
	first := ""
	var sb strings.Builder
	for {
		i := indexTag(s, prefix)
		if i < 0 {
			break
		}
		n := 1 + len(prefix) + caseDigits + 1
		if first == "" {
			first = prefix + s[i+1+len(prefix):i+n-1]
		}
		sb.WriteString(s[:i])
		sb.WriteByte(' ')
		s = s[i+n:]
	}
	if first == "" {
		return first, s
	}
	sb.WriteString(s)
	return first, sb.String()
}

// indexTag finds the first case tag in s, -1 if none. The prefix matches
// regardless of case.
func indexTag(s, prefix string) int {
	n := 1 + len(prefix) + caseDigits + 1
	for i := 0; i+n <= len(s); i++ {
		if s[i] != '[' || s[i+n-1] != ']' || !strings.EqualFold(s[i+1:i+1+len(prefix)], prefix) {
			continue
		}
		if allDigits(s[i+1+len(prefix) : i+n-1]) {
			return i
		}
	}
	return -1
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// stripBracketPrefix removes a leading "[...]" tag of up to 40 bytes, as
// mail gateways ("[EXTERNAL]") and lists ("[users]") add.
func stripBracketPrefix(s string) string {
	if !strings.HasPrefix(s, "[") {
		return s
	}
	end := strings.IndexByte(s, ']')
	if end < 0 || end > 40 || strings.TrimSpace(s[end+1:]) == "" {
		return s
	}
	return s[end+1:]
}

// stripReplyPrefix removes one "Re:"-like prefix: a known abbreviation,
// an optional counter ("[2]", "(2)", "^2"), optional blanks and a colon
// (ASCII or full width).
func stripReplyPrefix(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsLetter(r) {
			break
		}
		i += size
	}
	if i == 0 || i > 24 || !replyPrefixes[strings.ToLower(s[:i])] {
		return s
	}
	rest := s[i:]
	if len(rest) > 0 && (rest[0] == '[' || rest[0] == '(') {
		end := strings.IndexAny(rest, "])")
		if end < 0 || !allDigits(rest[1:end]) {
			return s
		}
		rest = rest[end+1:]
	} else if len(rest) > 0 && rest[0] == '^' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		rest = rest[j:]
	}
	rest = strings.TrimLeft(rest, " \t")
	switch {
	case strings.HasPrefix(rest, ":"):
		return rest[1:]
	case strings.HasPrefix(rest, "："):
		return rest[len("："):]
	}
	return s
}

// findBodyRef returns the case number of the first "Ref: PREFIX0000042"
// line of text (the line our notifications end with), "" if none. The line
// may be quoted ("> Ref: ...") as replies carry it back, and the prefix
// matches regardless of case; the number is returned in the configured
// spelling.
func findBodyRef(text, prefix string) string {
	for len(text) > 0 {
		i := strings.Index(text, "Ref:")
		if i < 0 {
			i = strings.Index(text, "REF:")
			if i < 0 {
				return ""
			}
		}
		if !onlyQuoteBefore(text[:i]) {
			text = text[i+4:]
			continue
		}
		rest := strings.TrimLeft(text[i+4:], " \t")
		n := len(prefix) + caseDigits
		if len(rest) >= n && strings.EqualFold(rest[:len(prefix)], prefix) &&
			allDigits(rest[len(prefix):n]) && (len(rest) == n || !isWordByte(rest[n])) {
			return prefix + rest[len(prefix):n]
		}
		text = text[i+4:]
	}
	return ""
}

// onlyQuoteBefore reports whether the line that before ends in holds only
// blanks and ">" quote marks so far.
func onlyQuoteBefore(before string) bool {
	line := before[strings.LastIndexByte(before, '\n')+1:]
	return strings.Trim(line, " \t>") == ""
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
