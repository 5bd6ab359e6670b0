package mailparse

import (
	"strings"
	"testing"
)

func TestSplitMultipart(t *testing.T) {
	check := func(body, boundary string, wantClosed bool, want ...string) {
		t.Helper()
		parts, closed := splitMultipart([]byte(body), boundary)
		var got []string
		for _, p := range parts {
			got = append(got, string(p))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") || closed != wantClosed {
			t.Errorf("splitMultipart(%q) = %q, %v; want %q, %v", body, got, closed, want, wantClosed)
		}
	}
	check("preamble\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\nepilogue", "b", true, "\r\none", "\r\ntwo")
	check("--b\n\none\n--b--", "b", true, "\none")
	check("--b  \n\none\n--b-- \n", "b", true, "\none") // transport padding
	check("--b\n\none --b inside\n--bb\nnot a delimiter\n--b--\n", "b", true, "\none --b inside\n--bb\nnot a delimiter")
	check("--b\n\nunclosed", "b", false, "\nunclosed")
	check("no delimiter at all", "b", false)
	check("", "b", false)
}

func TestAlternativeChoice(t *testing.T) {
	check := func(raw, wantText string, wantHTML bool) {
		t.Helper()
		m, err := Parse([]byte(raw), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Text != wantText || (m.HTML != "") != wantHTML {
			t.Errorf("Parse(%.50q) text %q html %v, want %q %v", raw, m.Text, m.HTML != "", wantText, wantHTML)
		}
	}
	head := "Content-Type: multipart/alternative; boundary=a\n\n"
	check(head+"--a\nContent-Type: text/plain\n\nplain\n--a\nContent-Type: text/html\n\n<b>html</b>\n--a--\n", "plain", true)
	check(head+"--a\nContent-Type: text/plain\n\n  \n--a\nContent-Type: text/html\n\n<b>html</b>\n--a--\n", "html", true)
	check(head+"--a\nContent-Type: text/html\n\n<p>only html</p>\n--a--\n", "only html", true)
	check(head+"--a\nContent-Type: text/plain\n\nplain\n--a\nContent-Type: multipart/related; boundary=r\n\n"+
		"--r\nContent-Type: text/html\n\n<p>rich</p>\n--r\nContent-Type: image/png\nContent-ID: <i@x>\n\npng\n--r--\n--a--\n", "plain", true)
}
