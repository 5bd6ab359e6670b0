package mailparse

import (
	"testing"
)

func TestHTMLMetaCharset(t *testing.T) {
	check := func(in, want string) {
		t.Helper()
		if got := htmlMetaCharset([]byte(in)); got != want {
			t.Errorf("htmlMetaCharset(%q) = %q, want %q", in, got, want)
		}
	}
	check(`<meta charset="windows-1252">`, "windows-1252")
	check(`<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">`, "iso-8859-1")
	check(`<p>no meta</p>`, "")
	check(`charset=`, "")
}

func TestHTMLLinks(t *testing.T) {
	check := func(in, want string) {
		t.Helper()
		if got, _ := htmlToText(in); got != want {
			t.Errorf("htmlToText(%q) = %q, want %q", in, got, want)
		}
	}
	check(`<a href="#top">top</a>`, "top")
	check(`<a href="javascript:x()">click</a>`, "click")
	check(`<a href="https://x.example"><img src="a.png" alt="logo"></a>`, "[logo] (https://x.example)")
	check(`<a href="https://x.example"></a>after`, "after")
	check(`<a href="https://x.example">x.example</a>`, "x.example")
	check(`<a href="https://x.example">one<a href="https://y.example">two</a>`, "one (https://x.example)two (https://y.example)")
}
