package mailparse

import (
	"strings"
	"testing"
)

func TestAttributionAt(t *testing.T) {
	check := func(text string, want int) {
		t.Helper()
		if got := attributionAt(splitLines(text), 0); got != want {
			t.Errorf("attributionAt(%q) = %d, want %d", text, got, want)
		}
	}
	check("On Tue, Mar 5, 2024 at 10:12 AM A <a@b.c> wrote:", 1)
	check("On Tue, Mar 5, 2024 at 10:12 AM A <\na@b.c> wrote:", 2)
	check("Op di 5 mrt 2024 om 10:12 schreef A <a@b.c>:", 1)
	check("Em ter., 5 de mar. de 2024 às 10:12, A <a@b.c> escreveu:", 1)
	check("Den tis 5 mars 2024 kl 10:12 skrev A <a@b.c>:", 1)
	check("El mar, 5 mar 2024 a las 10:12, A (<a@b.c>)\nescribió:", 2)
	check("Jane wrote:\n> quoted", 1)
	check("Jane wrote:\nnot quoted", 0)
	check("Hi,\nOn Tue A <a@b.c> wrote:", 0)
	check("Note:", 0)
	check("", 0)
}

func TestIsOutlookBlock(t *testing.T) {
	check := func(text string, want bool) {
		t.Helper()
		if got := isOutlookBlock(splitLines(text), 0); got != want {
			t.Errorf("isOutlookBlock(%q) = %v, want %v", text, got, want)
		}
	}
	check("From: A\nSent: B\nTo: C\nSubject: D", true)
	check("*From:* A\n*Sent:* B\n*To:* C", true)
	check("Od: A\nWysłano: B\nDo: C\nTemat: D", true)
	check("Från: A\n\nSkickat: B\nTill: C", true)
	check("Date: A\nFrom: B\nSubject: C", true)
	check("From: A\nSubject: D", false)
	check("Subject: A\nTo: B\nDate: C", false)
	check("From: A\nthe printer\nTo: C", false)
}

func TestMarkers(t *testing.T) {
	check := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	check(dashedMarker("-----Original Message-----"), MarkerOriginal)
	check(dashedMarker("-------- Message original --------"), MarkerOriginal)
	check(dashedMarker("Original message"), "")
	check(dashedMarker("---------- Forwarded message ---------"), MarkerForward)
	check(dashedMarker("Anfang der weitergeleiteten Nachricht:"), MarkerForward)
	check(dashedMarker("--- Below this line is a copy of the message."), MarkerOriginal)
	check(dashedMarker(strings.Repeat("-", 200)), "")
	for _, l := range []string{"Sent from my iPhone", "Von meinem iPad gesendet", "Envoyé de mon iPhone",
		"Enviado desde mi iPhone", "Inviato da iPhone", "Verzonden vanaf mijn iPhone", "Enviado do meu iPhone",
		"Skickat från min iPhone", "Wysłane z mojego iPhone'a", "Get Outlook for Android"} {
		if !isMobileFooter(l) {
			t.Errorf("isMobileFooter(%q) = false", l)
		}
	}
	if isMobileFooter("Sent the report yesterday") {
		t.Error("isMobileFooter took a sentence")
	}
}
