package gateway

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input hygiene: text from mail reaches logs, terminals, HTTP headers and
// the file names of downloads. Control characters (C0, DEL, C1) and the
// bidirectional formatting characters that reorder what a reader sees
// never get through where they could do harm.

// cleanAddress reports whether an address from a transport is valid UTF-8
// without control characters (the null sender "" is clean).
func cleanAddress(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || isBidiControl(r) {
			return false
		}
	}
	return true
}

// isBidiControl reports the Unicode bidirectional formatting characters
// (embeddings, overrides, isolates and marks) that make text display in
// another order than it is stored: "cod.exe" shown as "exe.doc".
func isBidiControl(r rune) bool {
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f':
		return true
	case r >= '\u202a' && r <= '\u202e':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// SafeFilename is an attachment's name as it may be shown and offered for
// download: no path (separators become "_"), no control or bidirectional
// formatting characters, no leading dots, valid UTF-8, at most 255 bytes;
// "" when nothing is left.
func SafeFilename(name string) string {
	name = strings.ToValidUTF8(name, "_")
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == '/' || r == '\\':
			b.WriteRune('_')
		case unicode.IsControl(r) || isBidiControl(r) || r == utf8.RuneError:
			// dropped
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimSpace(strings.TrimLeft(b.String(), ". "))
	for len(out) > 255 {
		_, size := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-size]
	}
	return out
}
