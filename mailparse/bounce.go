package mailparse

import (
	"bytes"
	"slices"
	"strings"
)

// Bounce describes a delivery status notification (RFC 3464) or a mail
// that looks like one: who could not be reached and why. Recipient,
// Status and Permanent summarise the first failed recipient (the first
// recipient when none failed); Recipients holds them all.
type Bounce struct {
	OriginalMessageID string `json:"original_message_id,omitempty"`
	Recipient         string `json:"recipient,omitempty"`
	Status            string `json:"status,omitempty"` // e.g. "5.1.1"
	// Permanent says the delivery to Recipient failed for good (DSN action
	// failed, or a 5xx class): that mail will not arrive. It does not say
	// the address is gone; Hard does.
	Permanent bool `json:"permanent"`
	// Hard says Recipient's address itself no longer exists
	// (BounceRecipient.AddressGone): only this counts toward undeliverable.
	Hard bool `json:"hard"`
	// Delayed says the report is a warning only: no recipient failed, the
	// delivery to some is delayed (DSN Action: delayed, RFC 3464 §2.3.3).
	Delayed bool `json:"delayed,omitempty"`
	// Reason says how the mail was recognised as a bounce: "dsn" (a
	// multipart/report, RFC 3464), "mailer_daemon" (sent by a mailer
	// daemon or postmaster), "known_format" (the text of a known report
	// format, see Format), "null_sender" (a null return path). Why a
	// delivery failed is BounceRecipient.Reason.
	Reason string `json:"reason,omitempty"`
	// Format names the report format it was read from: "rfc3464",
	// "amazonses", "qmail", "postfix", "exim", "sendmail", "dragonfly",
	// "trendmicro", "x3", "x6", "fml", "verizon", "kddi", "apachejames",
	// "exchange", "gmail"; "" when the text follows none of them.
	Format     string            `json:"format,omitempty"`
	Recipients []BounceRecipient `json:"recipients,omitempty"`
}

// BounceRecipient is what a report says about one recipient.
type BounceRecipient struct {
	Address    string       `json:"address"`
	Action     string       `json:"action,omitempty"`     // failed, delayed, delivered, relayed, expanded (RFC 3464 §2.3.3)
	Status     string       `json:"status,omitempty"`     // enhanced status code (RFC 3463), "5.1.1"
	Class      string       `json:"class,omitempty"`      // SMTP class: ClassPermanent ("5xx"), ClassTemporary ("4xx"), "" when unknown
	ReplyCode  string       `json:"reply_code,omitempty"` // SMTP reply code, "550"
	Diagnostic string       `json:"diagnostic,omitempty"` // the SMTP reply or the report's words about it, on one line
	RemoteMTA  string       `json:"remote_mta,omitempty"`
	Reason     BounceReason `json:"reason,omitempty"` // "" for a recipient that did not fail
}

// Failed reports whether the delivery to this recipient failed for good:
// DSN action failed, or no action and a permanent class.
func (r BounceRecipient) Failed() bool {
	return r.Action == "failed" || r.Action == "" && r.Class == ClassPermanent
}

// AddressGone reports whether the report says this recipient's address
// itself no longer exists: a reason that says so (BounceReason.AddressGone)
// in a failure that is not temporary. A 5xx for spam, policy, a full
// mailbox or a block is a failure of that mail, not a dead address.
func (r BounceRecipient) AddressGone() bool {
	return r.Reason.AddressGone() && r.Class != ClassTemporary && r.Action != "delayed" && r.Action != "delivered"
}

// maxDiagnostic bounds BounceRecipient.Diagnostic.
const maxDiagnostic = 500

// newRecipient completes a recipient read from a report: class, reply
// code and reason from its action, status and diagnostic.
func newRecipient(addr, action, status, diag, remote string) BounceRecipient {
	diag = oneLine(diag, maxDiagnostic)
	if status == "" {
		status = findStatusCode(diag)
	}
	r := BounceRecipient{Address: addr, Action: action, Status: status, Diagnostic: diag, RemoteMTA: remote}
	r.ReplyCode = replyCode(diag)
	r.Class = smtpClass(status, r.ReplyCode)
	r.Reason = classifyBounce(action, status, diag)
	return r
}

// oneLine folds the blanks of s and cuts it to at most max bytes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max]
		for len(s) > 0 && s[len(s)-1]&0xc0 == 0x80 {
			s = s[:len(s)-1] // do not end inside a UTF-8 sequence
		}
		if len(s) > 0 && s[len(s)-1] >= 0xc0 {
			s = s[:len(s)-1]
		}
	}
	return s
}

// reportParts collects what the parts of a multipart/report (RFC 6522)
// say: the recipients of a delivery status notification, the fields of a
// feedback report, the Message-ID of the returned mail.
type reportParts struct {
	kind       string // report-type parameter
	recipients []BounceRecipient
	origID     string
	feedback   header // the fields of a message/feedback-report part
}

// startReport begins collecting a multipart/report.
func (w *walker) startReport(p *part) {
	if w.report == nil {
		w.report = &reportParts{}
	}
	if w.report.kind == "" {
		w.report.kind = strings.ToLower(p.params["report-type"])
	}
}

// noteDeliveryStatus reads a message/delivery-status part (RFC 3464 §2):
// per-message fields, then one block per recipient.
func (w *walker) noteDeliveryStatus(data []byte) {
	if w.report == nil {
		w.report = &reportParts{kind: "delivery-status"}
	}
	r := w.report
	for _, b := range bytes.Split(normalizeNewlinesBytes(data), []byte("\n\n")) {
		// Clipped: b is a slice of the mail, which append must not write to.
		h, _, err := readHeader(append(slices.Clip(bytes.TrimLeft(b, "\n")), "\n\n"...), DefaultLimits(), func(string) {})
		if err != nil {
			continue
		}
		if id := h.get("Original-Envelope-Id"); id != "" && r.origID == "" && strings.Contains(id, "@") {
			r.origID = firstMsgID(id)
		}
		rcpt := dsnAddress(h.get("Final-Recipient"))
		if rcpt == "" {
			rcpt = dsnAddress(h.get("Original-Recipient"))
		}
		if rcpt == "" || len(r.recipients) >= maxBounceRecipients {
			continue
		}
		action := strings.ToLower(firstWord(h.get("Action")))
		r.recipients = append(r.recipients, newRecipient(rcpt, action, firstWord(h.get("Status")),
			dsnText(h.get("Diagnostic-Code")), dsnText(h.get("Remote-MTA"))))
	}
}

// maxBounceRecipients bounds the recipients read from one report.
const maxBounceRecipients = 100

// dsnAddress reads "rfc822; user@example.com" (RFC 3464 §2.3.2).
func dsnAddress(v string) string {
	v = dsnText(v)
	v = strings.Trim(strings.TrimSpace(v), "<>")
	if !strings.Contains(v, "@") || strings.ContainsAny(v, " \t") {
		return ""
	}
	return strings.ToLower(v)
}

// dsnText returns the value of a typed DSN field without its type
// ("smtp; 550 5.1.1 ..." is "550 5.1.1 ...").
func dsnText(v string) string {
	if t, rest, ok := strings.Cut(v, ";"); ok && len(t) < 20 && !strings.ContainsAny(t, " <@") {
		v = rest
	}
	return strings.TrimSpace(v)
}

// noteReturnedHeaders reads the Message-ID of the returned header section
// of a report (text/rfc822-headers).
func (w *walker) noteReturnedHeaders(data []byte) {
	if w.report == nil {
		w.report = &reportParts{}
	}
	h, _, err := readHeader(data, w.lim, func(string) {})
	if err == nil && w.report.origID == "" {
		w.report.origID = firstMsgID(h.get("Message-ID"))
	}
}

// detectBounce decides whether the mail is a delivery failure report: a
// multipart/report of type delivery-status, the text of a known report
// format, or a mail from a mailer daemon or with a null return path that
// is not an auto-reply. A plain auto-reply (Auto-Submitted: auto-replied
// without a report) is no bounce even with a null return path: the
// gateway tells it apart by Signals.AutoReply.
func detectBounce(h header, m *Message, rep report) *Bounce {
	r, format := rep.parts, rep.format
	if r != nil && r.kind == "delivery-status" || r != nil && len(r.recipients) > 0 {
		b := &Bounce{Reason: "dsn", Format: "rfc3464", OriginalMessageID: r.origID, Recipients: r.recipients}
		if len(b.Recipients) == 0 {
			b.Recipients = readTextBounce(m, format)
		}
		addContext(b.Recipients, m.Text)
		return b.summarize(m)
	}
	if format == "amazonses" {
		return sesBounce(m, rep.ses)
	}
	kind := bounceKind(h, m, format)
	if kind == "" {
		return nil
	}
	b := &Bounce{Reason: kind, Format: format}
	b.Recipients = readTextBounce(m, format)
	if b.OriginalMessageID = findReturnedMessageID(m); b.OriginalMessageID == "" && r != nil {
		b.OriginalMessageID = r.origID
	}
	return b.summarize(m)
}

// bounceKind returns how a mail that is no multipart/report is
// recognised as a bounce ("mailer_daemon", "known_format",
// "null_sender"), "" if it is none.
func bounceKind(h header, m *Message, format string) string {
	local, _, _ := strings.Cut(m.From.Email, "@")
	from := h.get("From") // "MAILER-DAEMON <>" has no address to parse
	switch {
	case isDaemon(local) || m.From.Email == "" && (indexFold(from, "mailer-daemon") >= 0 || indexFold(from, "mail delivery") >= 0):
		return "mailer_daemon"
	case (strings.EqualFold(local, "postmaster") || strings.EqualFold(local, "post_master")) &&
		(format != "" || looksLikeBounceSubject(m.Subject)):
		return "mailer_daemon"
	case format != "":
		return "known_format"
	case nullReturnPath(h) && m.Signals.AutoReason == "" && !h.has("Disposition-Notification-To") && bounceEvidence(m):
		return "null_sender"
	}
	return ""
}

// bounceEvidence reports whether a mail with a null return path says it
// is about a failed delivery (a bounce subject, a status code, the words
// of a report) rather than being an auto-reply that set no header.
func bounceEvidence(m *Message) bool {
	if looksLikeBounceSubject(m.Subject) {
		return true
	}
	own := ownText(m.Text)
	own = own[:min(len(own), markerWindow)]
	if findStatusCode(own) != "" {
		return true
	}
	l := strings.ToLower(own)
	for _, p := range []string{"could not be delivered", "couldn't be delivered", "undeliverable", "undelivered",
		"delivery failed", "delivery has failed", "delivery to the following", "failed recipient", "permanent error",
		"unable to deliver", "was not delivered", "wasn't delivered", "could not deliver", "user unknown",
		"no such user", "mailbox unavailable", "recipient address rejected", "returned mail", "delivery status"} {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

// isDaemon reports the local parts of mailer daemons.
func isDaemon(local string) bool {
	return strings.EqualFold(local, "mailer-daemon") || strings.EqualFold(local, "mailer_daemon") ||
		strings.EqualFold(local, "mailerdaemon")
}

// summarize fills the summary fields from the first failed recipient (the
// first recipient when none failed); a report without recipients takes
// what the text shows.
func (b *Bounce) summarize(m *Message) *Bounce {
	own := ownText(m.Text)
	if len(b.Recipients) == 0 {
		b.Status = findStatusCode(own)
		b.Permanent = strings.HasPrefix(b.Status, "5") || b.Status == "" && permanentWording(own)
		return b
	}
	first := -1
	for i, r := range b.Recipients {
		if r.Action != "delivered" && r.Action != "relayed" && r.Action != "expanded" && r.Action != "delayed" {
			first = i
			break
		}
	}
	for i := 0; first < 0 && i < len(b.Recipients); i++ {
		if b.Recipients[i].Action == "delayed" {
			first, b.Delayed = i, true
		}
	}
	if first < 0 {
		first = 0
	}
	r := b.Recipients[first]
	b.Recipient, b.Status = r.Address, r.Status
	b.Permanent = r.Failed() || r.Action == "" && r.Class == "" && (permanentWording(r.Diagnostic) || permanentWording(own))
	if r.Action == "delayed" || r.Class == ClassTemporary {
		b.Permanent = false
	}
	b.Hard = r.AddressGone()
	return b
}

// addContext gives the recipients of a report without a diagnostic the
// words of its human-readable part about them ("Your message to a@b
// couldn't be delivered. a wasn't found at b."), and reasons from them.
func addContext(rs []BounceRecipient, text string) {
	for i := range rs {
		r := &rs[i]
		if r.Diagnostic != "" || r.Action != "failed" && r.Action != "" {
			continue
		}
		ctx := contextOf(text, r.Address)
		if ctx == "" {
			continue
		}
		if r.Status == "" {
			r.Status = findStatusCode(ctx)
		}
		if r.ReplyCode == "" {
			r.ReplyCode = replyCode(ctx)
		}
		if r.Class == "" {
			r.Class = smtpClass(r.Status, r.ReplyCode)
		}
		if reason := classifyBounce(r.Action, r.Status, ctx); reason != ReasonUndefined {
			r.Reason = reason
		}
	}
}

// contextOf returns the line of text that names addr and the two lines
// after it, "" if no line names it.
func contextOf(text, addr string) string {
	i := indexFold(text, addr)
	if i < 0 {
		return ""
	}
	start := strings.LastIndexByte(text[:i], '\n') + 1
	end := start
	for n := 0; n < 3 && end < len(text); n++ {
		j := strings.IndexByte(text[end:], '\n')
		if j < 0 {
			end = len(text)
			break
		}
		end += j + 1
	}
	return oneLine(text[start:end], maxDiagnostic)
}

// nullReturnPath reports "Return-Path: <>" (RFC 5321 §4.5.5).
func nullReturnPath(h header) bool {
	if !h.has("Return-Path") {
		return false
	}
	return strings.Trim(h.get("Return-Path"), "<> \t") == ""
}
