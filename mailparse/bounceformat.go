package mailparse

import (
	"strings"
)

// formatMarker is a phrase that names a report format: in the subject
// (where "subject", exactly, or "subject_prefix") or among the first lines
// of the text ("text").
type formatMarker struct {
	format, where, phrase string
}

var formatMarkers = []formatMarker{
	{"dragonfly", "text", "This is the DragonFly Mail Agent"},
	{"qmail", "text", "This is the qmail-send program"},
	{"qmail", "text", "I'm afraid I wasn't able to deliver your message"},
	{"qmail", "subject", "failure notice"},
	{"postfix", "text", "This is the mail system at host"},
	{"exim", "text", "This message was created automatically by mail delivery software"},
	{"sendmail", "text", "----- Transcript of session follows -----"},
	{"sendmail", "text", "The original message was received at"},
	{"sendmail", "subject_prefix", "Returned mail:"},
	{"trendmicro", "text", " InterScan "},
	{"x3", "text", "This is an automatically generated Delivery Status Notification."},
	{"x6", "subject_prefix", "There was an error sending your mail"},
	{"x6", "text", "We had trouble delivering your message. Full details follow:"},
	{"kddi", "text", "Could not be delivered to: <"},
	{"apachejames", "subject", "[BOUNCE]"},
	{"exchange", "text", "Delivery has failed to these recipients or groups"},
	{"exchange", "text", "Your message did not reach some or all of the intended recipients"},
	{"gmail", "text", "Delivery to the following recipient failed permanently"},
	{"gmail", "text", "Delivery to the following recipients failed permanently"},
}

// markerWindow is how far into the text a format's phrase may stand: a
// report opens with it, a mail that quotes one does not.
const markerWindow = 3000

// reportFormat returns the known report format the mail follows, "" if
// none. A reply or forward ("Fwd: failure notice") never counts: it is a
// person writing about a bounce.
func reportFormat(h header, m *Message) string {
	subject := strings.TrimSpace(m.Subject)
	if stripReplyPrefix(subject) != subject || !mayBeReport(h, m) {
		return ""
	}
	from := strings.ToLower(m.From.Email)
	_, domain, _ := strings.Cut(from, "@")
	switch {
	case (strings.HasSuffix(domain, "amazonaws.com") || strings.HasSuffix(domain, "amazonses.com")) &&
		strings.Contains(m.Text, "notificationType"):
		return "amazonses"
	case h.has("X-MLServer") && strings.Contains(from, "-admin@"):
		return "fml"
	case from == "post_master@vtext.com" || strings.HasPrefix(from, "sysadmin@") && strings.HasSuffix(domain, ".vzwpix.com"):
		return "verizon"
	case strings.Contains(strings.ToLower(m.From.Name), "interscan"):
		return "trendmicro"
	case strings.Contains(h.get("Message-ID"), ".JavaMail.") && strings.Contains(m.Text, "Message details:"):
		return "apachejames"
	}
	head := m.Text[:min(len(m.Text), markerWindow)]
	for _, fm := range formatMarkers {
		switch {
		case fm.where == "text" && strings.Contains(head, fm.phrase),
			fm.where == "subject" && strings.EqualFold(subject, fm.phrase),
			fm.where == "subject_prefix" && hasPrefixFold(subject, fm.phrase):
			return fm.format
		}
	}
	return ""
}

// mayBeReport reports whether a mail is worth looking at for a report
// format: a machine sender, a null return path, a machine header or a
// bounce subject. Mail from people has none of them.
func mayBeReport(h header, m *Message) bool {
	local, _, _ := strings.Cut(strings.ToLower(m.From.Email), "@")
	switch local {
	case "mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster", "post_master", "no-reply", "noreply",
		"sysadmin", "mail-daemon", "":
		return true
	}
	name := strings.ToLower(h.get("From"))
	return strings.Contains(name, "mail delivery") || strings.Contains(name, "mailer-daemon") ||
		strings.Contains(name, "interscan") || nullReturnPath(h) || h.has("Auto-Submitted") ||
		h.has("X-Failed-Recipients") || h.has("X-MLServer") || looksLikeBounceSubject(m.Subject) ||
		strings.HasPrefix(h.get("Message-ID"), "<") && strings.Contains(h.get("Message-ID"), ".JavaMail.")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
