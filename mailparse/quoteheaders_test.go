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
	check("Op 5 mrt. 2024 om 10:12 heeft A <a@b.c> het volgende geschreven:", 1)
	check("Vào 10:12 Th 3, 5 thg 3, 2024 A <a@b.c> đã viết:", 1)
	check("A <a@b.c> wrote on\nTuesday, 5 March 2024 at 10:12:", 2)
	check("tir. 5. mar. 2024 kl. 10:12 skrev A <\na@b.c>:", 2)
	check("------On 03/05/2024 10:12 AM, A wrote-----", 1)
	check("On Tue, Mar 5, 2024 at 10:12 AM, A <a@b.c\n(https://x.example/"+strings.Repeat("a", 300)+")>\nwrote:", 3)
	check("On Monday we met.\n\nThe printer wrote:", 0)
	check("the problem is solved\n\nAm 05.03.24 um 10:12 schrieb A:", 0)
	check("1.5.2 release notes for a@b.c:", 0)
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
	check("From: A <\na@b.c>\nSent: B\nTo: C", true)
	check("From: a@b.c\nDate: Tue, 5 Mar 2024 10:12", true)
	check("Date: Tue, 5 Mar 2024 10:12\nTo: a@b.c", true)
	check("From: a@b.c Sent: Tuesday, 5 March 2024 10:12", true)
	check("From: A\nDate: Tue, 5 Mar 2024 10:12", false)
	check("From: Berlin\nTo: Munich", false)
	check("Fra: A\nDato: 05.03.2024 10:12\nTil: B", true)
}

func TestDatesInLines(t *testing.T) {
	for s, want := range map[string][2]bool{
		"05.03.2024, 10:12": {true, true}, "2024-03-05 10:12": {true, true}, "2024/3/5 A": {true, true},
		"2024年3月5日": {true, true}, "5. 3. 2024": {true, true}, "2 printers": {false, false},
		"1.5.2 notes": {true, false}, "at 10.12": {false, true}, "room 12345": {false, false},
	} {
		if got := [2]bool{leadingDate(s), hasDateTime(s)}; got != want {
			t.Errorf("leadingDate, hasDateTime(%q) = %v, want %v", s, got, want)
		}
	}
	if got := withoutLinks("A <a@b.c (https://x.example/t?u=1)>:"); got != "A <a@b.c:" {
		t.Errorf("withoutLinks = %q", got)
	}
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
		if !footerLine(l) {
			t.Errorf("footerLine(%q) = false", l)
		}
	}
	for _, l := range []string{"Sent from TypeApp <http://www.typeapp.example/r?b=1>", "Sent from BlueMail",
		"Sent with Spark", "Sent using the mail.com mail app", "Отправлено из мобильной Почты Mail.ru",
		"Sent from my iPhone, please excuse typos", "iPhoneから送信", "发自我的iPhone"} {
		if !footerLine(l) {
			t.Errorf("footerLine(%q) = false", l)
		}
	}
	for _, l := range []string{"Sent the report yesterday", "Sent from my desk, which is much easier than my phone.",
		"Sent from our warehouse yesterday, the parcel arrives Friday.",
		"Sent from the office of the director of the regional sales department of ACME"} {
		if footerLine(l) {
			t.Errorf("footerLine(%q) took a sentence", l)
		}
	}
	check(dashedMarker("-----Antwort Nachricht-----"), MarkerOriginal)
	check(dashedMarker("------------------ 原始邮件 ------------------"), MarkerOriginal)
	check(dashedMarker("-------- Oprindelig besked --------"), MarkerOriginal)
	check(dashedMarker("---------- Välitetty viesti ----------"), MarkerForward)
}
