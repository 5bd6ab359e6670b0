package mailparse

import (
	"testing"
)

func TestInlineAttribution(t *testing.T) {
	for s, want := range map[string]int{
		"Yes. On Tue, Mar 5, 2024 at 10:12 AM A <a@b.example> wrote:":       5,
		"Danke. Am Di., 5. März 2024 um 10:12 Uhr schrieb A <a@b.example>:": 7,
		"On Tue, Mar 5, 2024 at 10:12 AM A <a@b.example> wrote:":            -1, // a whole attribution
		"On Tue, 5 Mar 2024 at 10:12, Le Dang <le@b.example> wrote:":        -1,
		"Mail a@b.example. On Monday we send what Bob wrote:":               -1, // no address or date after the lead
		"Yes. On Tue A <a@b.example> wrote: more":                           -1,
		"": -1,
	} {
		if got := inlineAttribution(s); got != want {
			t.Errorf("inlineAttribution(%q) = %d, want %d", s, got, want)
		}
	}
}
