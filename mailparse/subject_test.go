package mailparse

import (
	"testing"
)

func TestNormalizeSubject(t *testing.T) {
	check := func(subject, prefix, wantTopic, wantTag string) {
		t.Helper()
		topic, tag := NormalizeSubject(subject, prefix)
		if topic != wantTopic || tag != wantTag {
			t.Errorf("NormalizeSubject(%q, %q) = %q, %q; want %q, %q", subject, prefix, topic, tag, wantTopic, wantTag)
		}
	}
	check("Printer broken", "", "Printer broken", "")
	check("Re: [CS0000042] Printer broken", "", "Printer broken", "CS0000042")
	check("AW: WG: SV: VS: RV: TR: Antw: Odp: Fwd: FW: Re: x", "", "x", "")
	check("RE : Réf. x", "", "Réf. x", "")
	check("Re[2]: Re(3): Re^4: x", "", "x", "")
	check("[EXTERNAL] RE: [cs0000042] x", "", "x", "CS0000042")
	check("x [CS0000042] y [CS0000043]", "", "x y", "CS0000042")
	check("x [CS000004] y", "", "x [CS000004] y", "")     // six digits
	check("x [CS00000421] y", "", "x [CS00000421] y", "") // eight digits
	check("Re: [HD0000007] x", "HD", "x", "HD0000007")
	check("Re: [CS0000042] x", "HD", "x", "") // a foreign tag is a bracketed prefix
	check("回复：x", "", "x", "")
	check("Reply to all", "", "Reply to all", "")
	check("Re:", "", "", "")
	check("[only tag]", "", "[only tag]", "")
	check("  Re:   lots   of\tspace  ", "", "lots of space", "")
}

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
