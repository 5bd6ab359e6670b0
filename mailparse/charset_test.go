package mailparse

import (
	"testing"
)

func TestDecodeCharset(t *testing.T) {
	check := func(in []byte, cs, want string, wantWarn bool) {
		t.Helper()
		warned := false
		got := decodeCharset(in, cs, func(string) { warned = true })
		if got != want || warned != wantWarn {
			t.Errorf("decodeCharset(%q, %q) = %q (warned %v), want %q (warn %v)", in, cs, got, warned, want, wantWarn)
		}
	}
	check([]byte("plain"), "", "plain", false)
	check([]byte("gr\xfc\xdf"), "ISO-8859-1", "grüß", false)
	check([]byte("\x80 \x93x\x94"), "windows-1252", "€ “x”", false)
	check([]byte("gr\xc3\xbc\xc3\x9f"), "latin1", "grüß", true) // lying: really UTF-8
	check([]byte("gr\xfc"), "utf-8", "grü", true)               // lying: really Latin-1
	check([]byte("caf\xc3\xa9"), "x-unknown-thing", "café", true)
	check([]byte("caf\xe9"), "x-unknown-thing", "café", true)
	check([]byte("\xf0\xd2\xc9\xd7\xc5\xd4"), "koi8-r", "Привет", false)
	check([]byte("\x1b$B$3$s$K$A$O\x1b(B"), "iso-2022-jp", "こんにちは", false)
	check([]byte("\x82\xb1\x82\xf1"), "shift_jis", "こん", false)
	check([]byte("\xc4\xe3\xba\xc3"), "gb2312", "你好", false)
	check([]byte("\xa7\x41\xa6\x6e"), "big5", "你好", false)
	check([]byte("\xbe\xc8\xb3\xe7"), "ks_c_5601-1987", "안녕", false)
}
