package mailparse

import (
	"testing"
)

func TestDecodeHeaderText(t *testing.T) {
	check := func(in, fallback, want string) {
		t.Helper()
		if got := decodeHeaderText(in, fallback, func(string) {}); got != want {
			t.Errorf("decodeHeaderText(%q) = %q, want %q", in, got, want)
		}
	}
	check("plain text", "", "plain text")
	check("=?utf-8?q?Gr=C3=BC=C3=9Fe?=", "", "Grüße")
	check("=?UTF-8?B?R3LDvMOfZQ==?=", "", "Grüße")
	check("=?iso-8859-1?Q?a?= =?iso-8859-1?Q?b?=", "", "ab") // RFC 2047 §6.2
	check("=?iso-8859-1?Q?a?=\r\n =?utf-8?Q?b?=", "", "ab")  // different charsets
	check("x =?utf-8?q?a?= y", "", "x a y")                  // blanks kept next to text
	check("=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=", "", "€")      // character split across words
	check("=?utf-8?q?with spaces?=", "", "with spaces")      // blanks inside a word
	check("glued=?utf-8?q?=C3=BC?=", "", "gluedü")           // glued to text
	check("=?utf-8?q?unterminated", "", "unterminated")
	check("=?utf-8*de?q?Sprache?=", "", "Sprache") // RFC 2231 §5 language
	check("=?bogus", "", "=?bogus")
	check("=?utf-8?x?bad-encoding?=", "", "=?utf-8?x?bad-encoding?=")
	check("B\xfcro", "iso-8859-1", "Büro")
	check("B\xfcro", "", "Büro")
	check("=?x-unknown?q?caf=C3=A9?=", "", "café")
}
