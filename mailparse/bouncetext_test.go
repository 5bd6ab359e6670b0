package mailparse

import (
	"testing"
)

func TestFindStatusCode(t *testing.T) {
	check := func(text, want string) {
		t.Helper()
		if got := findStatusCode(text); got != want {
			t.Errorf("findStatusCode(%q) = %q, want %q", text, got, want)
		}
	}
	check("said: 550 5.1.1 <x>", "5.1.1")
	check("(#5.1.1)", "5.1.1")
	check("version 2.4.10-beta", "")
	check("4.4.7\n", "4.4.7")
	check("on 5.3.2024", "")
	check("", "")
}

func TestFindBouncedRecipient(t *testing.T) {
	check := func(text, want string) {
		t.Helper()
		if got := findBouncedRecipient(text); got != want {
			t.Errorf("findBouncedRecipient(%q) = %q, want %q", text, got, want)
		}
	}
	check("<Gone@Old.example>:\nSorry, no mailbox here", "gone@old.example")
	check("This message was not delivered:\n\n  someone@x.example\n", "someone@x.example")
	check("Hello <not an address>", "")
	check("", "")
}
