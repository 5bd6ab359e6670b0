package mailparse

import (
	"testing"
	"time"
)

func TestIsForwardSubject(t *testing.T) {
	for s, want := range map[string]bool{
		"Fwd: x": true, "FW: x": true, "WG: Rechnung": true, "TR : facture": true, "RV: factura": true,
		"[EXTERNAL] Fwd: x": true, "Re: Fwd: x": true, "Re: x": false, "AW: x": false, "x": false,
		"Fwd x": false, "Fwdx: x": false, "": false, "i: x": true, "Doorst: x": true,
	} {
		if got := isForwardSubject(s); got != want {
			t.Errorf("isForwardSubject(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestForwardDate(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for s, want := range map[string]time.Time{
		"Mon, Mar 4, 2024 at 4:15 PM":    time.Date(2024, 3, 4, 16, 15, 0, 0, time.UTC),
		"4 March 2024 at 16:15:00 CET":   time.Date(2024, 3, 4, 16, 15, 0, 0, cet),
		"Monday, March 4, 2024 4:15 PM":  time.Date(2024, 3, 4, 16, 15, 0, 0, time.UTC),
		"Mon, 4 Mar 2024 16:15:00 +0100": time.Date(2024, 3, 4, 16, 15, 0, 0, time.FixedZone("", 3600)),
		"Montag, 4. März 2024 16:15":     {},
		"":                               {},
	} {
		if got := forwardDate(s); !got.Equal(want) {
			t.Errorf("forwardDate(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestInlineForward(t *testing.T) {
	check := func(text string, outlook bool, want *Forwarded) {
		t.Helper()
		got := inlineForward(text, outlook)
		if (got == nil) != (want == nil) {
			t.Fatalf("inlineForward(%q) = %+v, want %+v", text, got, want)
		}
		if got == nil {
			return
		}
		if got.Style != want.Style || got.From != want.From || got.Subject != want.Subject ||
			got.Text != want.Text || got.Note != want.Note {
			t.Errorf("inlineForward(%q) =\n%+v\nwant\n%+v", text, got, want)
		}
	}
	jane := Address{Name: "Jane", Email: "jane@c.example"}
	check("FYI\n\n---------- Forwarded message ---------\nFrom: Jane <jane@c.example>\nSubject: Hi\n\nbody",
		false, &Forwarded{Style: "gmail", From: jane, Subject: "Hi", Text: "body", Note: "FYI"})
	check("Begin forwarded message:\n\n> From: Jane <jane@c.example>\n> Subject: Hi\n>\n> body",
		false, &Forwarded{Style: "apple", From: jane, Subject: "Hi", Text: "body"})
	check("See\n\nFrom: Jane [mailto:jane@c.example]\nSent: Monday, March 4, 2024 4:15 PM\nTo: B\nSubject: Hi\n\nbody",
		true, &Forwarded{Style: "outlook", From: jane, Subject: "Hi", Text: "body", Note: "See"})
	check("See\n\nFrom: Jane [mailto:jane@c.example]\nSent: Monday, March 4, 2024 4:15 PM\nTo: B\nSubject: Hi\n\nbody",
		false, nil) // a reply, not a forward
	check("Thanks\n\nOn Tue A <a@b.example> wrote:\n> ---------- Forwarded message ---------\n> From: Jane <jane@c.example>",
		false, nil)
	check("Thanks\n-- \nMike\n\n-------- Forwarded Message --------\nSubject: \tHi\nFrom: \tJane <jane@c.example>\n\nbody",
		false, &Forwarded{Style: "thunderbird", From: jane, Subject: "Hi", Text: "body", Note: "Thanks"})
	check("just text", false, nil)
}

func TestHasPrefixFold(t *testing.T) {
	for _, c := range []struct {
		s, p string
		want bool
	}{
		{"Sent from my iPhone", "sent from my ", true}, {"SENT FROM", "sent", true}, {"Sen", "sent", false},
		{"Returned mail: x", "Returned mail:", true}, {"returned MAIL: x", "Returned mail:", true},
		{"Отправлено из", "отправлено из", true}, {"Wysłane z mojego", "wysłane z mojego ", false},
		{"Wysłane z mojego iPhone", "wysłane z mojego ", true}, {"Sent", "sent from", false}, {"", "", true},
	} {
		if got := hasPrefixFold(c.s, c.p); got != c.want {
			t.Errorf("hasPrefixFold(%q, %q) = %v", c.s, c.p, got)
		}
	}
}
