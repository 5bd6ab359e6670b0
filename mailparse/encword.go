package mailparse

import (
	"strings"
	"unicode/utf8"
)

// decodeHeaderText decodes an unstructured header value: RFC 2047 encoded
// words, including the broken ones of the wild (words inside quotes or
// glued to text, blanks inside a word, a multi-byte character split across
// two words), and raw 8-bit bytes, read in fallback (the body's charset)
// when they are not UTF-8.
func decodeHeaderText(s, fallback string, warn func(string)) string {
	if !strings.Contains(s, "=?") {
		return decode8bit(s, fallback, warn)
	}
	var out strings.Builder
	var pend []byte // decoded bytes of adjacent words in pendCS
	pendCS := ""
	flush := func() {
		if len(pend) > 0 {
			out.WriteString(decodeCharset(pend, pendCS, warn))
			pend = pend[:0]
		}
	}
	for len(s) > 0 {
		i := strings.Index(s, "=?")
		if i < 0 {
			flush()
			out.WriteString(decode8bit(s, fallback, warn))
			break
		}
		cs, data, n, ok := parseEncodedWord(s[i:], warn)
		if !ok {
			flush()
			out.WriteString(decode8bit(s[:i+2], fallback, warn))
			s = s[i+2:]
			continue
		}
		between := s[:i]
		if len(pend) > 0 && strings.TrimLeft(between, " \t\r\n") == "" {
			// RFC 2047 §6.2: blanks between adjacent encoded words vanish.
			if !strings.EqualFold(cs, pendCS) {
				flush()
			}
		} else {
			flush()
			out.WriteString(decode8bit(between, fallback, warn))
		}
		pendCS = cs
		pend = append(pend, data...)
		s = s[i+n:]
	}
	flush()
	return out.String()
}

// maxWordBytes bounds the text of one encoded word (RFC 2047 allows 75
// bytes; broken encoders write longer ones).
const maxWordBytes = 1024

// parseEncodedWord reads "=?charset?enc?text?=" at the start of s and
// returns the charset, the decoded bytes and the length consumed.
func parseEncodedWord(s string, warn func(string)) (cs string, data []byte, n int, ok bool) {
	rest := s[2:]
	q := strings.IndexByte(rest[:min(len(rest), 66)], '?')
	if q <= 0 || q > 64 || len(rest) < q+3 || rest[q+2] != '?' {
		return "", nil, 0, false
	}
	cs = rest[:q]
	if star := strings.IndexByte(cs, '*'); star >= 0 { // RFC 2231 §5 language
		cs = cs[:star]
	}
	enc := rest[q+1]
	text := rest[q+3:]
	// Bounded so that a line of "=?" without ends stays linear.
	end := strings.Index(text[:min(len(text), maxWordBytes)], "?=")
	if end < 0 {
		// Unterminated: take up to the next blank, as clients that cut
		// long subjects leave it.
		end = strings.IndexAny(text[:min(len(text), maxWordBytes)], " \t")
		if end < 0 {
			end = min(len(text), maxWordBytes)
		}
		n = 2 + q + 3 + end
		warn("unterminated encoded word")
	} else {
		n = 2 + q + 3 + end + 2
	}
	text = text[:end]
	switch enc {
	case 'B', 'b':
		d, damaged := decodeBase64([]byte(text))
		if damaged {
			warn("damaged base64 in encoded word")
		}
		return cs, d, n, true
	case 'Q', 'q':
		return cs, decodeQWord(text), n, true
	}
	return "", nil, 0, false
}

// decodeQWord decodes the "Q" encoding of RFC 2047 §4.2; a stray "=" is
// kept as it is.
func decodeQWord(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out
}

// decode8bit returns s as UTF-8: unchanged when it already is, read in
// fallback (or Windows-1252) when it holds raw 8-bit bytes of another
// charset.
func decode8bit(s, fallback string, warn func(string)) string {
	if utf8.ValidString(s) {
		return s
	}
	cs := normCharset(fallback)
	if cs == "" || cs == "utf-8" || cs == "us-ascii" || !asciiCompatible(cs) {
		cs = "windows-1252"
	}
	warn("8-bit header read as " + cs)
	return decodeCharset([]byte(s), cs, func(string) {})
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}
