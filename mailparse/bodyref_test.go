package mailparse

import (
	"testing"
)

func TestFindBodyRef(t *testing.T) {
	check := func(text, prefix, want string) {
		t.Helper()
		if got := findBodyRef(text, prefix); got != want {
			t.Errorf("findBodyRef(%q) = %q, want %q", text, got, want)
		}
	}
	check("Thanks\n\nRef: CS0000042\n", "CS", "CS0000042")
	check("Thanks\n> > Ref: cs0000042", "CS", "CS0000042")
	check("REF: CS0000042", "CS", "CS0000042")
	check("our Ref: CS0000042", "CS", "")
	check("Ref: CS00000421", "CS", "")
	check("Ref: CS000004", "CS", "")
	check("Ref: HD0000001", "HD", "HD0000001")
	check("Ref: CS0000042", "HD", "")
	check("", "CS", "")
}
