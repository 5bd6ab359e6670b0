package mailparse

import (
	"testing"
)

func TestParseParams(t *testing.T) {
	check := func(in, wantValue, param, want string) {
		t.Helper()
		v, p := parseParams(in, "", func(string) {})
		if v != wantValue || p[param] != want {
			t.Errorf("parseParams(%q) = %q, %s=%q; want %q, %q", in, v, param, p[param], wantValue, want)
		}
	}
	check(`Text/Plain; Charset="UTF-8"`, "text/plain", "charset", "UTF-8")
	check(`multipart/mixed; boundary="a;b"; x=1`, "multipart/mixed", "boundary", "a;b")
	check(`attachment; filename="a \"q\".txt"`, "attachment", "filename", `a "q".txt`)
	check(`attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe.pdf`, "attachment", "filename", "Grüße.pdf")
	check(`attachment; filename*=iso-8859-1'de'%FCber.txt`, "attachment", "filename", "über.txt")
	check("attachment; filename*0*=UTF-8''a%20; filename*1=\"b c\"; filename*2*=%C3%A9", "attachment", "filename", "a b cé")
	check(`attachment; filename="=?UTF-8?B?w5xiZXIucGRm?="`, "attachment", "filename", "Über.pdf")
	check(`attachment; filename="plain.txt"; filename*=UTF-8''better.txt`, "attachment", "filename", "better.txt")
	check(`attachment;; filename=bare.txt;`, "attachment", "filename", "bare.txt")
	check(`attachment; filename="unterminated`, "attachment", "filename", "unterminated")
	check("text/plain", "text/plain", "charset", "")
}
