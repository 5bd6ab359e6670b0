package mailparse

import (
	"testing"
	"unsafe"
)

func TestWalkParts(t *testing.T) {
	check := func(raw string, wantText string, wantAtts ...string) {
		t.Helper()
		m, err := Parse([]byte(raw), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range m.Attachments {
			got = append(got, a.Filename+" "+a.ContentType)
		}
		if m.Text != wantText || len(got) != len(wantAtts) {
			t.Fatalf("Parse(%.60q) = %q %q, want %q %q", raw, m.Text, got, wantText, wantAtts)
		}
		for i := range got {
			if got[i] != wantAtts[i] {
				t.Errorf("attachment %d = %q, want %q", i, got[i], wantAtts[i])
			}
		}
	}
	check("Subject: x\n\nbody", "body")
	check("Content-Type: text/plain; name=notes.txt\n\nfile", "", "notes.txt text/plain")
	check("Content-Type: text/plain\nContent-Disposition: attachment\n\nfile", "", "attachment-1.txt text/plain")
	check("Content-Type: image/png\n\npng", "", "attachment-1.png image/png")
	check("Content-Type: bogus\n\ntext", "text")
	check("Content-Type: multipart/mixed; boundary=m\n\n--m\n\none\n--m\nContent-Type: text/plain\n\ntwo\n--m--\n", "one\n\ntwo")
	check("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: inner\n\nhi\n--d--\n", "", "inner.eml message/rfc822")
	check("Content-Type: message/rfc822\n\nnot a message header\n", "", "attachment-1.eml message/rfc822")
	check("Content-Type: application/ms-tnef\n\nnot tnef", "", "attachment-1.dat application/ms-tnef")
}

func TestCleanFilename(t *testing.T) {
	check := func(in, want string) {
		t.Helper()
		if got := cleanFilename(in); got != want {
			t.Errorf("cleanFilename(%q) = %q, want %q", in, got, want)
		}
	}
	check("report.pdf", "report.pdf")
	check("../../etc/passwd", "passwd")
	check(`C:\Users\x\a.doc`, "a.doc")
	check("a\x00b\tc.txt", "abc.txt")
	check("..", "")
	check("  spaced.txt ", "spaced.txt")
}

// Line ends become LF in one copy, and the joined text of a message with
// one body text is that text.
func TestDecodeTextAndJoin(t *testing.T) {
	check := func(in, cs, want string) {
		t.Helper()
		if got := decodeText([]byte(in), cs, func(string) {}); got != want {
			t.Errorf("decodeText(%q, %q) = %q, want %q", in, cs, got, want)
		}
	}
	check("a\r\nb\r\n", "utf-8", "a\nb\n")
	check("a\rb\r\r\nc", "", "a\nb\n\nc")
	check("\r\n\r", "us-ascii", "\n\n")
	check("caf\xe9\r\n", "iso-8859-1", "café\n")
	check("caf\xc3\xa9\r\n", "iso-8859-1", "café\n") // really UTF-8
	check("no line end", "utf-8", "no line end")
	check("\xff\xfea\x00\r\x00\n\x00", "utf-16", "a\n")

	join := func(want string, texts ...string) {
		t.Helper()
		if got := joinTexts(texts); got != want || joinedLen(texts) != len(want) {
			t.Errorf("joinTexts(%q) = %q (length %d), want %q", texts, got, joinedLen(texts), want)
		}
	}
	join("")
	join("one", "\none\n\n")
	join("one", "", "one", "\n")
	join("one\n\ntwo", "one\n", "\n", "two")
	one := "only text\n"
	if got := joinTexts([]string{one}); unsafe.StringData(got) != unsafe.StringData(one) {
		t.Error("the one body text was copied")
	}
}
