package mailparse

import (
	"testing"
)

func TestDecodeTransfer(t *testing.T) {
	check := func(in, cte, want string, wantWarn bool) {
		t.Helper()
		warned := false
		got := decodeTransfer([]byte(in), cte, func(string) { warned = true })
		if string(got) != want || warned != wantWarn {
			t.Errorf("decodeTransfer(%q, %s) = %q (warned %v), want %q (warn %v)", in, cte, got, warned, want, wantWarn)
		}
	}
	check("SGVsbG8gd29ybGQ=", "base64", "Hello world", false)
	check("SGVs\r\nbG8g\r\nd29y bGQ=\r\n", "BASE64", "Hello world", false)
	check("SGVsbG8gd29ybGQ", "base64", "Hello world", true)   // padding missing
	check("SGVsbG8*gd29ybGQ=", "base64", "Hello world", true) // stray character
	check("SGk=SGk=", "base64", "HiHi", true)                 // blocks glued together
	check("SGVsbG8gd29ybGQ=x", "base64", "Hello world", true) // a lone trailing character
	check("a=3Db=\r\nc =20\r\nd  \r\n", "quoted-printable", "a=bc  \nd\n", false)
	check("caf=c3=a9", "quoted-printable", "café", false)
	check("50% =ZZ off=", "quoted-printable", "50% =ZZ off", true)
	check("raw", "x-unknown", "raw", true)
	check("raw", "8bit", "raw", false)
}
