package mailparse

import (
	"bytes"
	"strings"
)

// reportParts collects what the parts of a multipart/report (RFC 3462)
// say about a failed delivery.
type reportParts struct {
	kind      string // report-type parameter
	recipient string
	status    string
	action    string
	origID    string
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
// per-message fields, then one block per recipient. The first recipient
// that failed wins, else the first one.
func (w *walker) noteDeliveryStatus(data []byte) {
	if w.report == nil {
		w.report = &reportParts{kind: "delivery-status"}
	}
	r := w.report
	blocks := bytes.Split(normalizeNewlinesBytes(data), []byte("\n\n"))
	for _, b := range blocks {
		h, _, err := readHeader(append(bytes.TrimLeft(b, "\n"), "\n\n"...), DefaultLimits(), func(string) {})
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
		if rcpt == "" {
			continue
		}
		action := strings.ToLower(firstWord(h.get("Action")))
		if r.recipient == "" || (r.action != "failed" && action == "failed") {
			r.recipient = rcpt
			r.action = action
			r.status = firstWord(h.get("Status"))
		}
	}
}

// dsnAddress reads "rfc822; user@example.com" (RFC 3464 §2.3.2).
func dsnAddress(v string) string {
	if _, addr, ok := strings.Cut(v, ";"); ok {
		v = addr
	}
	v = strings.Trim(strings.TrimSpace(v), "<>")
	if !strings.Contains(v, "@") {
		return ""
	}
	return strings.ToLower(v)
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
// multipart/report of type delivery-status, or a mail from MAILER-DAEMON
// or with a null return path that is not an auto-reply. Non-standard
// bounces get their status code, recipient and returned Message-ID from
// the text when it shows them.
func detectBounce(h header, m *Message, r *reportParts) *Bounce {
	if r != nil && r.kind == "delivery-status" {
		b := &Bounce{Reason: "dsn", Recipient: r.recipient, Status: r.status, OriginalMessageID: r.origID}
		b.Permanent = r.action == "failed" || (r.action == "" && strings.HasPrefix(r.status, "5"))
		if strings.HasPrefix(r.status, "4") || r.action == "delayed" {
			b.Permanent = false
		}
		return b
	}
	var reason string
	local, _, _ := strings.Cut(m.From.Email, "@")
	switch {
	case strings.EqualFold(local, "mailer-daemon"):
		reason = "mailer_daemon"
	case strings.EqualFold(local, "postmaster") && looksLikeBounceSubject(m.Subject):
		reason = "mailer_daemon"
	case nullReturnPath(h) && m.Signals.AutoReason == "" && !h.has("Disposition-Notification-To"):
		reason = "null_sender"
	default:
		return nil
	}
	b := &Bounce{Reason: reason}
	b.Status = findStatusCode(m.Text)
	b.Recipient = findBouncedRecipient(m.Text)
	b.OriginalMessageID = findReturnedMessageID(m)
	b.Permanent = strings.HasPrefix(b.Status, "5") || (b.Status == "" && permanentWording(m.Text))
	return b
}

// nullReturnPath reports "Return-Path: <>" (RFC 5321 §4.5.5).
func nullReturnPath(h header) bool {
	if !h.has("Return-Path") {
		return false
	}
	return strings.Trim(h.get("Return-Path"), "<> \t") == ""
}
