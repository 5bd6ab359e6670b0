package gateway

import "strings"

// IsNullSender reports whether an envelope sender, as a transport hands it
// over, is the null reverse-path (RFC 5321 §4.5.5): the sender of delivery
// reports, which must never be answered. Over SMTP that is MAIL FROM:<>;
// an MTA's pipe passes it as "", as "<>", or as Postfix's stand-in
// MAILER-DAEMON. Every transport decides with this one function, so a
// report is a report whichever way it came in.
func IsNullSender(from string) bool {
	from = strings.TrimSpace(from)
	return from == "" || from == "<>" || strings.EqualFold(from, "MAILER-DAEMON")
}

// nullSender reports whether the envelope has the null sender. Over SMTP
// the sender is always known, so an empty one is <> even when the caller
// did not say so.
func (e Envelope) nullSender() bool {
	return e.NullSender || e.Source == "smtp" && e.From == ""
}
