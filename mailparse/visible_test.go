package mailparse

import (
	"testing"
)

func TestVisibleReply(t *testing.T) {
	check := func(text, want, marker string) {
		t.Helper()
		got, cut := VisibleReply(text)
		if got != want || cut.Marker != marker {
			t.Errorf("VisibleReply(%q) =\n%q, %q\nwant\n%q, %q", text, got, cut.Marker, want, marker)
		}
		if cut.Removed != len(normalizeNewlines(text))-len(got) {
			t.Errorf("VisibleReply(%q) removed %d", text, cut.Removed)
		}
	}
	check("Just text.", "Just text.", "")
	check("\n\nJust text.\n\n", "Just text.", "")
	check("Yes.\n\n##- Please type your reply above this line -##\nold", "Yes.", MarkerSeparator)
	check("Yes.\r\n> ##- Please type your reply above this line -##\r\n> old", "Yes.", MarkerSeparator)
	check("Yes.\n\nOn Tue, Mar 5, 2024 at 10:12 AM A <a@b.c> wrote:\n> old", "Yes.", MarkerQuoteHeader)
	check("Yes.\n\nOn Tue, Mar 5, 2024 at 10:12 AM A <\na@b.c> wrote:\n\n> old", "Yes.", MarkerQuoteHeader)
	check("Ja.\n\nAm 05.03.24 um 10:12 schrieb A:\n> alt", "Ja.", MarkerQuoteHeader)
	check("Oui.\n\nLe 5 mars 2024 à 10:12, A <a@b.c> a écrit :\n> ancien", "Oui.", MarkerQuoteHeader)
	check("Sì.\n\nIl giorno mar 5 mar 2024 alle ore 10:12 A <a@b.c> ha scritto:\n> vecchio", "Sì.", MarkerQuoteHeader)
	check("Tak.\n\nwt., 5 mar 2024 o 10:12 A <a@b.c>\nnapisał(a):\n> stare", "Tak.", MarkerQuoteHeader)
	check("Here is what my colleague wrote:\nthe printer is fine", "Here is what my colleague wrote:\nthe printer is fine", "")
	check("Hi\n\nFrom: A <a@b.c>\nSent: Tuesday\nTo: B\nSubject: x\n\nold", "Hi", MarkerOutlook)
	check("Hi\n\nVon: A <a@b.c>\nGesendet: Dienstag\nAn: B\nBetreff: x\n\nalt", "Hi", MarkerOutlook)
	check("Hi\n\nDe : A\nEnvoyé : mardi\nÀ : B\nObjet : x\n\nancien", "Hi", MarkerOutlook)
	check("Hi\n________________________________\nFrom: A\nSent: x\nTo: B", "Hi", MarkerOutlook)
	check("From: a colleague I heard that\nthe printer works", "From: a colleague I heard that\nthe printer works", "")
	check("Hi\n-----Original Message-----\nFrom: A", "Hi", MarkerOriginal)
	check("Hi\n-----Ursprüngliche Nachricht-----\nVon: A", "Hi", MarkerOriginal)
	check("See below\n---------- Forwarded message ---------\nFrom: A", "See below", MarkerForward)
	check("See below\n\nBegin forwarded message:\n\nFrom: A", "See below", MarkerForward)
	check("Body\n-- \nJane\nACME", "Body", MarkerSignature)
	check("Body\n\nSent from my iPhone", "Body", MarkerMobile)
	check("Body\n\nVon meinem iPhone gesendet\n\n> old", "Body", MarkerMobile)
	check("> q1\nanswer 1\n> q2\nanswer 2\n> trailing\n> quote", "> q1\nanswer 1\n> q2\nanswer 2", MarkerQuote)
	check("A wrote:\n> q1\n\nanswer 1\n\n> q2\n-- \nsig", "answer 1", MarkerQuote) // bottom posting
	check("> q1\nanswer 1\n-- \nsig", "answer 1", MarkerSignature)
	check("On Tue A <a@b.c> wrote:\n> q\n\nbelow", "below", MarkerQuoteHeader)
	check("Hi\n> q\nbelow", "Hi\n> q\nbelow", "") // text above the quote: kept whole
	check("> a long quoted line that the client of the sender wrapped at 72\ncharacters without a marker\n> more", "", MarkerQuote)
	check("* A <a@b.c> [2024-03-05 10:12]:\n> q", "", MarkerQuoteHeader)
	check("", "", "")

	// Attributions without a verb, between dashes, wrapped, on the reply's line.
	check("Ok\n\n05.03.2024, 10:12, \"A\" <a@b.c>:\n> old", "Ok", MarkerQuoteHeader)
	check("Ok\n\n2024-03-05 10:12 GMT+01:00 A <\na@b.c>:\n\n> old", "Ok", MarkerQuoteHeader)
	check("Ok\n\n2011/4/7 A <a@b.c>\n> old", "Ok", MarkerQuoteHeader)
	check("Ok\n\nTue, 5 Mar 2024 10:12 +0300 от A <a@b.c>:\n> old", "Ok", MarkerQuoteHeader)
	check("Ok\n\nOn 5 Mar 2024, at 10:12, A <a@b.c> sent:\n> old", "Ok", MarkerQuoteHeader)
	check("Ok\n\n---- A wrote ----\nold", "Ok", MarkerQuoteHeader)
	check("Ok\n\nti 5.3.2024 klo 10.12 A kirjoitti:\n\nold", "Ok", MarkerQuoteHeader)
	check("Ok\n\nOn Tue, Mar 5, 2024 at 10:12 AM A\n\n<\nmailto:A <a@b.c>\n> wrote:\n\n> old", "Ok", MarkerQuoteHeader)
	check("Ok. On Tue, Mar 5, 2024 at 10:12 AM A <a@b.c> wrote:\n> old", "Ok.", MarkerQuoteHeader)
	check("Test reply\n\nOn 04/19/2011 07:10 AM, A wrote:\n\n>\n> Test\n\nRegards, A", "Test reply\n\nRegards, A", MarkerQuoteHeader)
	check("Hi\n\nOn Tue A <a@b.c> wrote:\n> q1\nanswer 1\n> q2\nanswer 2", "Hi\n\nOn Tue A <a@b.c> wrote:\n> q1\nanswer 1\n> q2\nanswer 2", "")
	check("Hi\n\n-----Reply Message-----\nFrom: A", "Hi", MarkerOriginal)
	check("Hi\n\n  *From:* A [mailto:\n  a@b.c]\n  *Sent:* Tuesday\n  *To:* B", "Hi", MarkerOutlook)
	check("Hi\n\nDate: Tue, 5 Mar 2024 10:12:00 +0100\nTo: b@c.d\n\nold", "Hi", MarkerOutlook)
	check("Hi\n---\nFrom: a@b.c Date: Tue, 05 Mar 2024 10:12:00 +0100\nold", "Hi", MarkerOutlook)
	check("Body\n\nSent from TypeApp <http://www.typeapp.example/r?b=1>", "Body", MarkerMobile)
	check("Body\n\nSent from my Verizon, Samsung Galaxy smartphone", "Body", MarkerMobile)
	check("Body\n\niPhoneから送信", "Body", MarkerMobile)
	check("Sent from our Berlin office.\nThe parcel arrives Friday.", "Sent from our Berlin office.\nThe parcel arrives Friday.", "")
	check("Ask Bob. On Monday we send what Bob wrote:\nthe list", "Ask Bob. On Monday we send what Bob wrote:\nthe list", "")

	// Lines that only look like one.
	check("Sent from my desk, which is easier.", "Sent from my desk, which is easier.", "")
	check("Sent from the warehouse on Monday, it arrives Friday.", "Sent from the warehouse on Monday, it arrives Friday.", "")
	check("2 printers broke, ask b@c.d:\nthe list", "2 printers broke, ask b@c.d:\nthe list", "")
	check("Call me at 10:30, I wrote:\nthe list", "Call me at 10:30, I wrote:\nthe list", "")
	check("From: Berlin\nTo: Munich\nby train", "From: Berlin\nTo: Munich\nby train", "")
	check("Date: 5 March\nthe meeting is at noon", "Date: 5 March\nthe meeting is at noon", "")
	check("The meeting on Tuesday. Le Mans is far: a@b.c", "The meeting on Tuesday. Le Mans is far: a@b.c", "")
	check("Thanks\n\nSee you\n\nAm 05.03.24 um 10:12 schrieb A:\n> old", "Thanks\n\nSee you", MarkerQuoteHeader)
}
