package mailparse

import "strings"

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
