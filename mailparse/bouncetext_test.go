package mailparse

import (
	"strings"
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

func TestScanRecipients(t *testing.T) {
	check := func(text string, want ...string) {
		t.Helper()
		recs, pending := scanRecipients(text)
		var got []string
		for _, r := range recs {
			got = append(got, r.addr+" | "+strings.Join(r.diag, " "))
		}
		if len(recs) == 0 && len(pending) > 0 {
			got = append(got, "pending | "+strings.Join(pending, " "))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("scanRecipients(%q) =\n%s\nwant\n%s", text, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	check("<Gone@Old.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n\nnot this",
		"gone@old.example | Sorry, no mailbox here by that name. (#5.1.1)")
	check("<a@b.example>: host mx said: 550 5.1.1\n    <a@b.example>: Recipient address rejected",
		"a@b.example | host mx said: 550 5.1.1 Recipient address rejected")
	check("failed:\n\n  someone@x.example\n    host mx [192.0.2.1]\n    550 5.1.1 unknown\n",
		"someone@x.example | host mx [192.0.2.1] 550 5.1.1 unknown")
	check(">>> RCPT To:<u@x.example>\n<<< 550 5.1.1 <u@x.example>... User unknown\n550 <u@x.example>... User unknown",
		"u@x.example | <<< 550 5.1.1 <u@x.example>... User unknown 550 <u@x.example>... User unknown")
	check("There was an error delivering your mail to <k@x.example>.\n\nhost did not like our RCPT TO:\n552 5.2.2 full",
		"k@x.example | host did not like our RCPT TO: 552 5.2.2 full")
	check("Error message below:\n550 - no such user here\n\nMessage details:\n  RCPT TO: j@x.example\n",
		"j@x.example | ")
	check("Hello <not an address>")
	check("")
}
