package gateway

import (
	"fmt"
	"net/mail"
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

// EscapeControls makes text from mail safe to print on an operator's
// terminal: control characters (C0, DEL, C1), bidirectional formatting
// characters and invalid UTF-8 are written as escapes (\x1b, \u202e,
// \xe9), so the text can neither move the cursor, set colours or the
// window title, nor make a line read in another order than it is stored.
// With multiline, newlines and tabs are kept as they are.
func EscapeControls(s string, multiline bool) string {
	if !needsEscape(s, multiline) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || isBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if (unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t'))) || isBidiControl(r) {
			return true
		}
	}
	return false
}

// suppliedAddress checks an address an agent or the API supplies (an
// assignee, a watcher), named what in the error: one address (RFC 5322,
// with or without a display name), clean, of a sane length, and not one of
// ours (we never mail ourselves). It returns the display name and the
// bare address, lower-cased; an error wraps ErrInvalid.
func (g *Gateway) suppliedAddress(what, s string) (name, addr string, err error) {
	s = strings.TrimSpace(s)
	a, perr := mail.ParseAddress(s)
	switch {
	case len(s) > 320 || perr != nil || !cleanAddress(s) || !strings.Contains(a.Address, "@"):
		return "", "", fmt.Errorf("%w: %s %q is not an address", ErrInvalid, what, s)
	case g.isOwn(a.Address) || g.isBounceAddress(a.Address):
		return "", "", fmt.Errorf("%w: %s %s is one of support's own addresses", ErrInvalid, what, a.Address)
	}
	return sanitizeLine(a.Name), strings.ToLower(a.Address), nil
}
