package mailparse

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// decodeCharset turns b, written in the named charset, into UTF-8. It never
// fails: an unknown charset is read as UTF-8 when the bytes are valid UTF-8
// and as Windows-1252 otherwise, and a charset that lies (UTF-8 bytes
// labelled Latin-1, Latin-1 bytes labelled UTF-8) is read as what the bytes
// really are. Each such guess is reported through warn.
func decodeCharset(b []byte, name string, warn func(string)) string {
	return decodeCharsetAs(b, name, warn, func(b []byte) string { return string(b) })
}

// decodeText is decodeCharset followed by normalizeNewlines, for a body
// text. Bytes that are UTF-8 already (the common case) are copied once,
// with their line ends made LF on the way, instead of once per step.
func decodeText(b []byte, name string, warn func(string)) string {
	return normalizeNewlines(decodeCharsetAs(b, name, warn, lfString))
}

// decodeCharsetAs is decodeCharset; asIs turns bytes that are UTF-8
// already into the string returned.
func decodeCharsetAs(b []byte, name string, warn func(string), asIs func([]byte) string) string {
	cs := normCharset(name)
	switch cs {
	case "", "utf-8", "us-ascii":
		if utf8.Valid(b) {
			return asIs(b)
		}
		if cs != "" {
			warn("invalid " + cs + " text read as windows-1252")
		}
		return decodeCP1252(b)
	case "iso-8859-1", "windows-1252":
		if isASCII(b) {
			return asIs(b)
		}
		if lyingUTF8(b) {
			warn(cs + " text is really utf-8")
			return asIs(b)
		}
		return decodeCP1252(b)
	}
	if isASCII(b) && asciiCompatible(cs) {
		return asIs(b)
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		if utf8.Valid(b) {
			warn("unknown charset " + quoteWarn(cs) + " read as utf-8")
			return asIs(b)
		}
		warn("unknown charset " + quoteWarn(cs) + " read as windows-1252")
		return decodeCP1252(b)
	}
	if singleByte(cs) && lyingUTF8(b) {
		warn(cs + " text is really utf-8")
		return asIs(b)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		warn("charset " + quoteWarn(cs) + ": " + err.Error())
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// normCharset lower-cases a charset label and folds the common aliases, so
// the fast paths of decodeCharset see one name each.
func normCharset(name string) string {
	cs := strings.ToLower(strings.Trim(name, " \t\"'"))
	switch cs {
	case "utf8", "utf-8", "x-utf-8", "unicode-1-1-utf-8":
		return "utf-8"
	case "ascii", "us-ascii", "ansi_x3.4-1968", "iso646-us", "us", "7bit", "8bit":
		return "us-ascii"
	case "latin1", "latin-1", "iso-8859-1", "iso8859-1", "iso_8859-1", "l1", "cp819":
		return "iso-8859-1"
	case "cp1252", "windows-1252", "x-cp1252", "ms-ansi":
		return "windows-1252"
	case "default", "unknown", "unknown-8bit", "x-unknown", "charset", "none":
		return ""
	}
	return cs
}

// decodeCP1252 reads b as Windows-1252, the superset of Latin-1 that mail
// labelled Latin-1 really uses; undefined bytes map to their Latin-1 code
// points so nothing is lost.
func decodeCP1252(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/8)
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
			continue
		}
		r := charmap.Windows1252.DecodeByte(c)
		if r == utf8.RuneError {
			r = rune(c)
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// lyingUTF8 reports whether b is valid UTF-8 with at least one multi-byte
// sequence: text in a single-byte charset almost never is.
func lyingUTF8(b []byte) bool {
	return !isASCII(b) && utf8.Valid(b)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// asciiCompatible reports whether pure ASCII bytes mean the same in cs. The
// 7-bit ISO-2022 and UTF-7/16/32 forms are the exceptions.
func asciiCompatible(cs string) bool {
	return !strings.HasPrefix(cs, "iso-2022") && !strings.HasPrefix(cs, "utf-7") &&
		!strings.HasPrefix(cs, "utf-16") && !strings.HasPrefix(cs, "utf-32") &&
		!strings.HasPrefix(cs, "ucs") && !strings.HasPrefix(cs, "hz")
}

// singleByte reports whether cs is one of the single-byte charsets that a
// misconfigured client puts on UTF-8 text.
func singleByte(cs string) bool {
	return strings.HasPrefix(cs, "iso-8859") || strings.HasPrefix(cs, "iso8859") ||
		strings.HasPrefix(cs, "windows-125") || strings.HasPrefix(cs, "cp125") ||
		strings.HasPrefix(cs, "koi8")
}

// quoteWarn keeps a charset label from the wild short and printable in a
// warning.
func quoteWarn(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return "\"" + strings.ToValidUTF8(s, "?") + "\""
}
