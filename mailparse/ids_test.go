package mailparse

import (
	"reflect"
	"testing"
)

func TestParseMsgIDs(t *testing.T) {
	check := func(in string, want ...string) {
		t.Helper()
		if got := parseMsgIDs(in); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("parseMsgIDs(%q) = %q, want %q", in, got, want)
		}
	}
	check("<a@b>", "a@b")
	check("<a@b> <c@d>\r\n\t<a@b>", "a@b", "c@d")
	check("<a@b> (Jane's message of Tue)", "a@b")
	check("a@b c@d", "a@b", "c@d")
	check("< a@b >", "a@b")
	check("<a@\r\n b>", "a@b")
	check("")
	check("no ids here")
	check("<unterminated@x", "unterminated@x")
	check("<bad<id@x>", "id@x")
}
