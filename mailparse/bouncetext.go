package mailparse

import (
	"bytes"
	"strings"
)

// Bounces that are no multipart/report are read from their text: the
// report's own words up to the copy of the returned mail, where each known
// layout names the failed recipients ("<a@b>:" of qmail and Postfix, the
// indented address of Exim, "550 <a@b>... User unknown" of sendmail, "RCPT
// TO: a@b" of transcripts and message details, "delivering your mail to
// <a@b>" and the like) with the SMTP reply or the words that say why.

// readTextBounce reads the failed recipients from the text of a bounce in
// a format (see reportFormat).
func readTextBounce(m *Message, format string) []BounceRecipient {
	own := ownText(m.Text)
	recs, pending := scanRecipients(own)
	if len(recs) == 0 || format == "fml" { // fml names the list that refused the sender
		recs = firstNamed(own)
	}
	if len(recs) == 0 {
		if addr := returnedRecipient(m); addr != "" {
			recs = append(recs, bounceRec{addr: addr})
		}
	}
	var out []BounceRecipient
	for _, r := range recs {
		diag := strings.Join(r.diag, " ")
		if diag == "" {
			diag = strings.Join(pending, " ")
		}
		if diag == "" {
			diag = reportWords(own)
		}
		out = append(out, newRecipient(r.addr, "", "", diag, ""))
	}
	return out
}

// returnedMarkers start the copy of the returned mail in a bounce's text.
var returnedMarkers = []string{
	"--- below this line is a copy of the message", "--- below the next line is a copy",
	"--- below this line is a copy of the mail header", "------ this is a copy of the message",
	"original message follows", "----- original message -----", "message headers follow",
	"----- unsent message follows -----", "----- no message was collected -----",
	"--- mensaje original adjunto", "the attachment contains the original mail headers",
	"original mail as follows:", "original message headers:", "------ original message headers ------",
	"--- original message ---", "------- returned message --------",
}

// ownText returns the report's own words: the text up to the copy of the
// returned mail.
func ownText(text string) string {
	rest := text
	for off := 0; rest != ""; {
		line, next, _ := strings.Cut(rest, "\n")
		if hasAnyPrefixFold(strings.TrimSpace(line), returnedMarkers) || strings.HasPrefix(line, "Return-Path: <") || strings.HasPrefix(line, "Received: from ") {
			return text[:off]
		}
		off += len(line) + 1
		rest = next
	}
	return text
}

// reportWords returns the report's own words on one line, the reason of
// a recipient the text names without a reason of its own.
func reportWords(own string) string {
	return oneLine(own, maxDiagnostic)
}

// bounceRec is a recipient found in a bounce's text and the lines that
// say why it failed.
type bounceRec struct {
	addr        string
	diag        []string
	blankEnds   bool // the reason ends at a blank line
	onlyReasons bool // only reason lines follow ("RCPT TO:" of a transcript or message details)
	maxLines    int
}

// scanRecipients finds the failed recipients in a report's own text with
// the lines that give the reason; pending are reason lines (an SMTP reply,
// "Error: ...") the text shows before it names a recipient.
func scanRecipients(text string) (recs []bounceRec, pending []string) {
	cur := -1
	for _, raw := range strings.Split(text, "\n") {
		t := strings.TrimSpace(raw)
		if t == "" {
			if cur >= 0 && recs[cur].blankEnds {
				cur = -1
			}
			continue
		}
		if addr, rest, blankEnds := recipientLine(raw, t); addr != "" {
			cur = indexRec(recs, addr)
			if cur < 0 {
				if len(recs) >= maxBounceRecipients {
					continue
				}
				recs = append(recs, bounceRec{addr: addr, blankEnds: blankEnds, maxLines: 6,
					onlyReasons: indexFold(t, "rcpt to:") >= 0})
				cur = len(recs) - 1
			}
			if rest != "" {
				recs[cur].diag = append(recs[cur].diag, rest)
			}
			continue
		}
		reason := isReasonLine(t)
		switch {
		case cur >= 0 && len(recs[cur].diag) < recs[cur].maxLines && (reason || !recs[cur].onlyReasons):
			recs[cur].diag = append(recs[cur].diag, t)
		case cur >= 0 && !reason:
		case cur >= 0:
		case reason && len(recs) > 0 && len(recs[len(recs)-1].diag) == 0:
			recs[len(recs)-1].diag = append(recs[len(recs)-1].diag, t)
		case reason && len(pending) < 6:
			pending = append(pending, t)
		}
	}
	return recs, pending
}

func indexRec(recs []bounceRec, addr string) int {
	for i := range recs {
		if recs[i].addr == addr {
			return i
		}
	}
	return -1
}

// recipientPhrases come before the recipient a report names in a
// sentence: "There was an error delivering your mail to <a@b>."
var recipientPhrases = []string{
	"delivering your mail to", "deliver message to", "delivered to:", "could not be delivered to",
	"delivered to <", "rejected recipient", "your message to <", "failed to deliver to",
	"following recipients returned permanent errors:", "delivery to <", "message to <",
}

// recipientLine returns the recipient a line of a report names, the rest
// of the line when it gives the reason, and whether the reason lines end
// at a blank line; "" if the line names none.
func recipientLine(raw, t string) (addr, rest string, blankEnds bool) {
	switch {
	case strings.HasPrefix(t, "<"): // qmail, Postfix: "<a@b>: reason"; sendmail "<a@b>... reason"
		end := strings.IndexByte(t, '>')
		if end > 0 && validAddr(t[1:end]) && (strings.HasPrefix(t[end+1:], ":") || strings.HasPrefix(t[end+1:], "...")) {
			return strings.ToLower(t[1:end]), strings.TrimSpace(strings.TrimLeft(t[end+1:], ":.")), true
		}
	case len(raw) > len(t) && (raw[0] == ' ' || raw[0] == '\t') && validAddr(strings.TrimRight(strings.TrimPrefix(t, "* "), ":.")):
		return strings.ToLower(strings.TrimRight(strings.TrimPrefix(t, "* "), ":.")), "", true // Exim, Gmail, "  * a@b"
	case len(t) > 4 && digitsAt(t, 0) == 3 && strings.Contains(t, "<") && strings.Contains(t, ">..."): // sendmail
		if a := angleAddr(t); a != "" {
			return a, t, true
		}
	}
	if i := indexFold(t, "rcpt to:"); i >= 0 { // transcripts, "Message details"
		if f := strings.Fields(t[i+len("rcpt to:"):]); len(f) > 0 {
			if a := strings.Trim(f[0], "<>:"); validAddr(a) {
				return strings.ToLower(a), "", true
			}
		}
	}
	l := strings.ToLower(t)
	for _, p := range recipientPhrases {
		i := strings.Index(l, p)
		if i < 0 {
			continue
		}
		after := t[i+len(p):]
		a := angleAddr(after)
		if a == "" {
			a = strings.ToLower(strings.TrimRight(strings.TrimSpace(after), ".,:"))
			if !validAddr(a) {
				continue
			}
		}
		return a, "", false
	}
	return "", "", false
}

// isReasonLine reports a line that gives the reason of a failure without
// naming a recipient: an SMTP reply, a status code, "Error: ...".
func isReasonLine(t string) bool {
	l := strings.ToLower(t)
	switch {
	case strings.HasPrefix(t, "<<< "), strings.HasPrefix(l, "received >>>"), strings.HasPrefix(l, "remote host said:"),
		strings.HasPrefix(t, "SMTP:"), strings.HasPrefix(l, "error:"), strings.HasPrefix(l, "reason:"),
		strings.Contains(l, " said: "), strings.Contains(l, "the error that the other server returned was"):
		return true
	}
	return replyCode(t[:min(len(t), 4)]) != "" || findStatusCode(t) != ""
}

// angleAddr returns the last "<a@b>" address of s, lower-cased, "" if
// none.
func angleAddr(s string) string {
	for end := len(s); end > 0; {
		close := strings.LastIndexByte(s[:end], '>')
		if close < 0 {
			return ""
		}
		open := strings.LastIndexByte(s[:close], '<')
		if open < 0 {
			return ""
		}
		if a := s[open+1 : close]; validAddr(a) {
			return strings.ToLower(a)
		}
		end = open
	}
	return ""
}

// validAddr reports a plain address: one "@", a dot in the domain, no
// blanks or brackets.
func validAddr(a string) bool {
	at := strings.IndexByte(a, '@')
	return at > 0 && strings.Count(a, "@") == 1 && strings.Contains(a[at:], ".") && len(a) < 255 &&
		!strings.ContainsAny(a, " \t<>()[],;:\"")
}

// firstNamed returns the first address in angle brackets of a report's
// text, with its line and the next as the reason: the recipient of a
// report in no known layout.
func firstNamed(own string) []bounceRec {
	lines := strings.Split(own, "\n")
	for i, l := range lines {
		if a := angleAddr(l); a != "" {
			r := bounceRec{addr: a, diag: []string{strings.TrimSpace(l)}}
			if i+1 < len(lines) {
				r.diag = append(r.diag, strings.TrimSpace(lines[i+1]))
			}
			return []bounceRec{r}
		}
	}
	return nil
}

// returnedRecipient returns the only To address of the returned mail, ""
// if there is none or more than one.
func returnedRecipient(m *Message) string {
	for _, a := range m.Attachments {
		if a.Message != nil && len(a.Message.To) == 1 {
			return strings.ToLower(a.Message.To[0].Email)
		}
	}
	return ""
}

// findStatusCode returns the first enhanced status code (RFC 3463, "5.1.1")
// in the text of a non-standard bounce, "" if none. The code must follow a
// blank, "#" or "(" and be followed by a blank, ")" or end of line, so that
// versions and dates do not count.
func findStatusCode(text string) string {
	for i := 0; i+5 <= len(text); i++ {
		c := text[i]
		if c != '2' && c != '4' && c != '5' || text[i+1] != '.' {
			continue
		}
		if i > 0 && !strings.ContainsRune(" \t\n#([", rune(text[i-1])) {
			continue
		}
		j := i + 2
		n1 := digitsAt(text, j)
		if n1 == 0 || n1 > 3 || j+n1 >= len(text) || text[j+n1] != '.' {
			continue
		}
		k := j + n1 + 1
		n2 := digitsAt(text, k)
		if n2 == 0 || n2 > 3 {
			continue
		}
		end := k + n2
		if end < len(text) && !strings.ContainsRune(" \t\r\n)];:,", rune(text[end])) {
			continue
		}
		return text[i:end]
	}
	return ""
}

func digitsAt(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '9' {
		n++
	}
	return n
}

// findReturnedMessageID returns the Message-ID of the mail a non-standard
// bounce returns: the enclosed message, else a "Message-ID:" line of the
// text.
func findReturnedMessageID(m *Message) string {
	for _, a := range m.Attachments {
		if a.Message != nil && a.Message.MessageID != "" {
			return a.Message.MessageID
		}
	}
	text := m.Text
	for {
		i := indexFold(text, "message-id:")
		if i < 0 {
			return ""
		}
		if i == 0 || text[i-1] == '\n' || text[i-1] == ' ' || text[i-1] == '>' {
			line, _, _ := strings.Cut(text[i+len("message-id:"):], "\n")
			if id := firstMsgID(line); id != "" {
				return id
			}
		}
		text = text[i+1:]
	}
}

// indexFold is strings.Index ignoring ASCII case; sub is lower-case and
// not empty.
func indexFold(s, sub string) int {
	c0 := sub[0]
	for i := 0; i+len(sub) <= len(s); i++ {
		if c := s[i]; c != c0 && c|0x20 != c0 {
			continue
		}
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// permanentWording reports the phrases of hard bounces.
func permanentWording(text string) bool {
	t := strings.ToLower(text)
	for _, p := range []string{"permanent", "user unknown", "does not exist", "no such user",
		"unknown user", "mailbox unavailable", "address rejected", "recipient not found"} {
		if strings.Contains(t, p) {
			return true
		}
	}
	return false
}

// looksLikeBounceSubject reports the subjects of delivery failure reports.
func looksLikeBounceSubject(subject string) bool {
	for _, p := range []string{"undeliverable", "undelivered", "delivery status notification",
		"delivery failure", "failure notice", "returned mail", "mail delivery failed",
		"unzustellbar", "non remis", "no se puede entregar", "non recapitabile", "onbestelbaar",
		"there was an error sending your mail", "[bounce]", "delivery failed", "nondeliverable"} {
		if indexFold(subject, p) >= 0 {
			return true
		}
	}
	return false
}

// normalizeNewlinesBytes turns CRLF into LF.
func normalizeNewlinesBytes(b []byte) []byte {
	if bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}
