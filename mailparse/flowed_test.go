package mailparse

import (
	"testing"
)

func TestUnflow(t *testing.T) {
	check := func(in string, delSp bool, want string) {
		t.Helper()
		if got := unflow(in, delSp); got != want {
			t.Errorf("unflow(%q, %v) = %q, want %q", in, delSp, got, want)
		}
	}
	check("a long \nline\nnext", false, "a long line\nnext")
	check("a long \nline", true, "a longline")
	check(">quoted \n>line\n>>deeper", false, "> quoted line\n>> deeper")
	check("> stuffed \n> line", false, "> stuffed line")
	check(" From stuffed", false, "From stuffed")
	check("text \n> quote", false, "text \n> quote")
	check("-- \nsig", false, "-- \nsig")
	check("", false, "")
}
