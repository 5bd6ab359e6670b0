package mailparse

import (
	"bytes"
	"strings"
)

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
		if i > 0 && !strings.ContainsRune(" \t\n#(", rune(text[i-1])) {
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
		if end < len(text) && !strings.ContainsRune(" \t\r\n)", rune(text[end])) {
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

// findBouncedRecipient returns the first address in angle brackets at the
// start of a line of a bounce text (qmail: "<user@example.com>:", Exim:
// "  user@example.com"), "" if none.
func findBouncedRecipient(text string) string {
	for _, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "<") {
			if end := strings.IndexByte(l, '>'); end > 0 && strings.Contains(l[1:end], "@") &&
				!strings.ContainsAny(l[1:end], " <") {
				return strings.ToLower(l[1:end])
			}
		}
		if strings.Count(l, " ") == 0 && strings.Count(l, "@") == 1 && strings.Contains(line, "  ") &&
			strings.IndexByte(l, '@') > 0 && strings.Contains(l[strings.IndexByte(l, '@'):], ".") {
			return strings.ToLower(strings.TrimSuffix(l, ":"))
		}
	}
	return ""
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
	s := strings.ToLower(subject)
	for _, p := range []string{"undeliverable", "undelivered", "delivery status notification",
		"delivery failure", "failure notice", "returned mail", "mail delivery failed",
		"unzustellbar", "non remis", "no se puede entregar", "non recapitabile", "onbestelbaar"} {
		if strings.Contains(s, p) {
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
