package mailparse

import (
	"strings"
	"time"
)

// Forwarded is a message a mail forwards: attached whole (message/rfc822)
// or written inline below a forward header (Gmail's "---------- Forwarded
// message ---------", Apple Mail's "Begin forwarded message:",
// Thunderbird's "-------- Forwarded Message --------", mutt's "-----
// Forwarded message from ... -----", an Outlook "From: / Sent:" block in a
// mail whose subject says FW:), with what the forward shows of its header.
type Forwarded struct {
	// Style says how it was forwarded: "attached", "gmail", "apple",
	// "thunderbird", "outlook", "mutt", or "inline" for other clients.
	Style string  `json:"style"`
	From  Address `json:"from"` // the original sender; Email "" when the forward does not show it
	// Date is the original date, zero when unreadable; DateText is the
	// date as the forward wrote it (an inline forward writes it in the
	// forwarder's locale and zone).
	Date      time.Time `json:"date,omitzero"`
	DateText  string    `json:"date_text,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	To        []Address `json:"to,omitempty"`
	Cc        []Address `json:"cc,omitempty"`
	MessageID string    `json:"message_id,omitempty"` // only when attached
	// Text is the forwarded message's text; Note the forwarder's own lines
	// above it (signature left out).
	Text string `json:"text"`
	Note string `json:"note,omitempty"`
	// Only says the mail has nothing but this one message/rfc822 part: no
	// text of its own and no other attachment, as a mailbox that forwards
	// as attachment sends it.
	Only bool `json:"only,omitempty"`
	// Message is the parsed attached message (also in Attachments), nil for
	// an inline forward.
	Message *Message `json:"-"`
}

// detectForward finds the message a mail forwards: an attached message,
// else an inline forward header that comes before any quoted history. A
// bounce or complaint carries a copy of our mail, no forward.
func detectForward(m *Message) *Forwarded {
	if m.Signals.Bounce != nil || m.Signals.Complaint != nil {
		return nil
	}
	for _, a := range m.Attachments {
		if a.Message == nil {
			continue
		}
		in := a.Message
		f := &Forwarded{Style: "attached", From: in.From, Date: in.Date, Subject: in.Subject, To: in.To,
			Cc: in.Cc, MessageID: in.MessageID, Text: in.Text, Message: in}
		f.Note, _ = VisibleReply(m.Text)
		f.Only = strings.TrimSpace(m.Text) == "" && len(m.Attachments) == 1
		return f
	}
	switch m.Cut.Marker {
	case MarkerForward, MarkerSignature, MarkerMobile, MarkerHTMLQuote:
		return inlineForward(m.Text, isForwardSubject(m.Subject))
	case MarkerOutlook, MarkerOriginal:
		if isForwardSubject(m.Subject) {
			return inlineForward(m.Text, true)
		}
	}
	return nil // a forward header ends the visible reply, or follows a signature
}

// isForwardSubject reports a subject that starts with a forward prefix
// ("Fwd:", "FW:", "WG:", "TR:", "RV:", "ENC:", "Doorst:", "VB:", "VL:",
// "PD:", "I:", "İLT:", "转发:"), behind reply prefixes and tags.
func isForwardSubject(subject string) bool {
	s := strings.TrimSpace(subject)
	for range 4 {
		s = strings.TrimLeft(stripBracketPrefix(s), " \t")
		word := s
		if i := strings.IndexAny(s, ":： [(^"); i >= 0 {
			word = s[:i]
		}
		if isForwardPrefix(word) && stripReplyPrefix(s) != s {
			return true
		}
		t := strings.TrimLeft(stripReplyPrefix(s), " \t")
		if t == s {
			return false
		}
		s = t
	}
	return false
}

// forwardPrefixes are the forward abbreviations among the reply prefixes.
var forwardPrefixes = []string{
	"fw", "fwd", "wg", "tr", "rv", "enc", "doorst", "vb", "vl", "pd", "i", "ilt", "προώθ", "转发",
	"轉寄", "転送", "továbbítás", "wtr", "pr",
}

func isForwardPrefix(word string) bool {
	for _, p := range forwardPrefixes {
		if strings.EqualFold(word, p) {
			return true
		}
	}
	return false
}

// inlineForward reads an inline forward of text: the first forward header
// that comes before any quote, the header block below it and the text
// after that. outlook says the subject announces a forward, so that an
// Outlook header block or original-message line starts one too.
func inlineForward(text string, outlook bool) *Forwarded {
	lines := splitLines(text)
	i, style := forwardStart(lines, outlook)
	if i < 0 {
		return nil
	}
	f := &Forwarded{Style: style}
	f.Note, _ = VisibleReply(strings.TrimRight(text[:lines[i].start], " \t\n"))
	start := len(text)
	switch t := strings.TrimSpace(lines[i].s); {
	case style == "outlook" && !isRule(t) && dashedMarker(t) == "":
		start = lines[i].start // the block starts at the From line itself
	case i+1 < len(lines):
		start = lines[i+1].start
	}
	rest := text[start:]
	if nextQuoted(splitLines(rest), 0) {
		rest = unquoteLines(rest) // Apple Mail quotes what it forwards
	}
	rl := splitLines(rest)
	if j := f.readHeaderBlock(rl, 0); j < len(rl) {
		f.Text = strings.TrimSpace(rest[rl[j].start:])
	}
	if k := strings.Index(f.Text, "----- End forwarded message -----"); k >= 0 {
		f.Text = strings.TrimSpace(f.Text[:k])
	}
	return f
}

// unquoteLines removes one level of ">" quoting from the lines of text.
func unquoteLines(text string) string {
	var sb strings.Builder
	sb.Grow(len(text))
	for i, l := range strings.Split(text, "\n") {
		if i > 0 {
			sb.WriteByte('\n')
		}
		t := strings.TrimLeft(l, " \t")
		if strings.HasPrefix(t, ">") {
			l = strings.TrimPrefix(t[1:], " ")
		}
		sb.WriteString(l)
	}
	return sb.String()
}

// forwardStart returns the line where an inline forward starts and its
// style, -1 if the text forwards nothing before its quoted history.
func forwardStart(lines []line, outlook bool) (int, string) {
	for i, l := range lines {
		t := strings.TrimSpace(l.s)
		switch {
		case t == "":
			continue
		case isQuoted(l.s) || attributionAt(lines, i) > 0:
			return -1, ""
		}
		if style := forwardStyle(t); style != "" {
			return i, style
		}
		switch stopMarker(lines, i) {
		case MarkerOutlook, MarkerOriginal:
			if outlook {
				return i, "outlook"
			}
			return -1, ""
		}
	}
	return -1, ""
}

// forwardStyle returns the style of a forward header line, "" if it is
// none.
func forwardStyle(t string) string {
	if dashedMarker(t) != MarkerForward {
		return ""
	}
	if isMuttForward(t) {
		return "mutt"
	}
	core := strings.ToLower(strings.Trim(t, "-_= \t*:."))
	switch {
	case strings.HasPrefix(core, "begin forwarded") || strings.HasPrefix(core, "anfang der weitergeleiteten") ||
		strings.HasPrefix(core, "début du message") || strings.HasPrefix(core, "inicio del mensaje") ||
		strings.HasPrefix(core, "inizio messaggio"):
		return "apple"
	case strings.HasPrefix(t, "----------"):
		return "gmail"
	case strings.HasPrefix(t, "--------"):
		return "thunderbird"
	}
	return "inline"
}

// readHeaderBlock reads the "From: / Date: / Subject: / To:" lines of a
// forward from line j (a blank line before them tolerated, lines the
// client wrapped taken along) and returns the line after the block.
func (f *Forwarded) readHeaderBlock(lines []line, j int) int {
	if j < len(lines) && isBlank(lines[j].s) {
		j++
	}
	last := ""
	values := map[string]string{}
	for ; j < len(lines); j++ {
		s := lines[j].s
		if isBlank(s) {
			break
		}
		k, v := headerField(s)
		role := forwardRole(k)
		if role == "" {
			if last != "" && wrappedField(s) {
				values[last] += " " + strings.TrimSpace(s)
				continue
			}
			if k == "" {
				break
			}
			continue // another field: Cc, Reply-To, Importance
		}
		if _, seen := values[role]; !seen {
			values[role] = v
		}
		last = role
	}
	f.fill(values)
	return j
}

// forwardRole returns the field of the forwarded header a key names.
func forwardRole(k string) string {
	switch {
	case k == "":
		return ""
	case fromKeys[k]:
		return "from"
	case dateKeys[k]:
		return "date"
	}
	switch k {
	case "subject", "betreff", "objet", "asunto", "oggetto", "onderwerp", "assunto", "ämne", "temat",
		"emne", "aihe", "tárgy", "тема", "konu", "主题", "件名", "předmět", "제목":
		return "subject"
	case "to", "an", "à", "para", "a", "aan", "till", "do", "til", "vastaanottaja", "címzett", "кому",
		"kime", "收件人", "宛先", "komu", "받는 사람":
		return "to"
	case "cc", "kopie", "copia", "kopia", "kopio", "копия", "dw", "参照", "抄送", "참조":
		return "cc"
	}
	return ""
}

// fill sets the fields of a forward from the values of its header block.
func (f *Forwarded) fill(values map[string]string) {
	discard := func(string) {}
	if v := cleanForwardAddress(values["from"]); v != "" {
		if list := parseAddressList(v, "", discard); len(list) > 0 {
			f.From = list[0]
		}
	}
	f.To = parseAddressList(cleanForwardAddress(values["to"]), "", discard)
	f.Cc = parseAddressList(cleanForwardAddress(values["cc"]), "", discard)
	f.Subject = strings.TrimSpace(values["subject"])
	f.DateText = strings.TrimSpace(values["date"])
	f.Date = forwardDate(f.DateText)
}

// cleanForwardAddress turns the address forms of forward headers into
// RFC 5322 ones: Outlook's "Name [mailto:a@b]", Gmail's bold "*Name*",
// semicolon separated lists.
func cleanForwardAddress(v string) string {
	v = strings.ReplaceAll(v, "[mailto:", "<")
	v = strings.ReplaceAll(v, "<mailto:", "<")
	if strings.Contains(v, "<") {
		v = strings.ReplaceAll(v, "]", ">")
	}
	v = strings.ReplaceAll(v, "*", "")
	return strings.ReplaceAll(v, ";", ",")
}

// forwardLayouts are the date formats of forward headers: Gmail's "Mon,
// Mar 4, 2024 at 9:00 AM", Apple's "4 March 2024 at 09:00:00 CET",
// Outlook's "Monday, March 4, 2024 9:00 AM".
var forwardLayouts = []string{
	"Mon, Jan 2, 2006 3:04 PM", "Mon, Jan 2, 2006 3:04:05 PM", "Monday, January 2, 2006 3:04 PM",
	"Monday, January 2, 2006 3:04:05 PM", "Monday, January 2, 2006 15:04", "2 January 2006 15:04:05 MST",
	"2 January 2006 15:04:05", "2 January 2006 15:04", "January 2, 2006 3:04:05 PM MST",
	"January 2, 2006 3:04 PM", "Monday, 2 January 2006 15:04", "Monday, 2 January 2006 3:04 PM",
	"Mon, 2 Jan 2006 15:04", "02/01/2006 15:04", "1/2/2006 3:04 PM", "1/2/2006 3:04:05 PM",
}

// forwardDate reads the date of a forward header, zero if unreadable.
func forwardDate(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	clock := strings.Contains(s, "AM") || strings.Contains(s, "PM")
	if !clock && !strings.Contains(s, " at ") {
		if t := parseDate(s, func(string) {}); !t.IsZero() {
			return t
		}
	}
	n := strings.Join(strings.Fields(strings.ReplaceAll(s, " at ", " ")), " ")
	for _, layout := range forwardLayouts {
		if strings.Contains(layout, "PM") != clock {
			continue
		}
		if t, err := time.Parse(layout, n); err == nil {
			return fixZone(t)
		}
	}
	return time.Time{}
}
