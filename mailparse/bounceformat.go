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
	if !mayBeReport(h, m) {
		return ""
	}
	subject := strings.TrimSpace(m.Subject)
	if stripReplyPrefix(subject) != subject {
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
	local, _, _ := strings.Cut(m.From.Email, "@")
	for _, l := range []string{"mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster", "post_master",
		"no-reply", "noreply", "sysadmin", "mail-daemon", ""} {
		if strings.EqualFold(local, l) {
			return true
		}
	}
	if nullReturnPath(h) || h.has("Auto-Submitted") || h.has("X-Failed-Recipients") || h.has("X-MLServer") ||
		strings.Contains(h.get("Message-ID"), ".JavaMail.") {
		return true
	}
	from := h.get("From")
	return indexFold(from, "mail delivery") >= 0 || indexFold(from, "mailer-daemon") >= 0 ||
		indexFold(from, "interscan") >= 0 || looksLikeBounceSubject(m.Subject)
}

// hasPrefixFold is strings.HasPrefix ignoring case. ASCII bytes are
// compared folded in place; it falls back to strings.EqualFold only where
// a byte is not ASCII.
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c, p := s[i], prefix[i]
		switch {
		case c >= 0x80 && p >= 0x80:
			return strings.EqualFold(s[:len(prefix)], prefix)
		case c >= 0x80 || p >= 0x80:
			return false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= p && p <= 'Z' {
			p += 'a' - 'A'
		}
		if c != p {
			return false
		}
	}
	return true
}
