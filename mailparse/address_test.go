package mailparse

import (
	"reflect"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	check := func(in string, want ...Address) {
		t.Helper()
		got := parseAddressList(in, "", func(string) {})
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("parseAddressList(%q) = %+v, want %+v", in, got, want)
		}
	}
	check("Jane <Jane.Doe@Example.COM>", Address{"Jane", "Jane.Doe@example.com"})
	check(`"Doe, Jane" <j@x.org>, bob@y.org`, Address{"Doe, Jane", "j@x.org"}, Address{"", "bob@y.org"})
	check("=?utf-8?q?J=C3=B6rg?= <j@x.de>", Address{"Jörg", "j@x.de"})
	check(`"=?utf-8?q?M=C3=BCller=2C_A?=" <a@x.de>`, Address{"Müller, A", "a@x.de"})
	check("Dr. John Q. Public, Jr. <jqp@x.com>", Address{"Dr. John Q. Public, Jr.", "jqp@x.com"})
	check("undisclosed-recipients:;")
	check("Kim Lee kim@x.com", Address{"Kim Lee", "kim@x.com"})
	check("j@x.org (Jane Doe)", Address{"Jane Doe", "j@x.org"})
	check("J\xf6rg <j@x.de>", Address{"Jörg", "j@x.de"})
	check("a@b.c, Name <D@E.F>", Address{"", "a@b.c"}, Address{"Name", "D@e.f"})
	check("a@b.c,", Address{"", "a@b.c"})
	check("=?utf-8?B?0000?= <0@0>", Address{"ÓM4", "0@0"}) // found by the fuzzer: not UTF-8
	check("")
}
