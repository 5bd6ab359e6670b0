package mailparse

import (
	"encoding/json"
	"slices"
	"strings"
)

// Complaint is a feedback report: a mailbox provider tells the sender that
// a recipient marked its mail as spam (RFC 5965, the Abuse Reporting
// Format, or a sending service's complaint notification). It is not a
// bounce: the address works, its owner does not want the mail.
type Complaint struct {
	// FeedbackType is the kind of report (RFC 5965 §7.3): "abuse",
	// "fraud", "virus", "other", "not-spam", "auth-failure", "opt-out".
	FeedbackType string `json:"feedback_type,omitempty"`
	// Recipient is who complained: the recipient of the reported mail
	// (Original-Rcpt-To, Removal-Recipient, else the reported mail's only
	// To address), "" when the report leaves it out.
	Recipient         string `json:"recipient,omitempty"`
	OriginalMessageID string `json:"original_message_id,omitempty"` // the reported mail's Message-ID
	// OriginalMailFrom is the envelope sender of the reported mail
	// (Original-Mail-From): our bounce address names the mail it was.
	OriginalMailFrom string   `json:"original_mail_from,omitempty"`
	OriginalRcptTo   []string `json:"original_rcpt_to,omitempty"`
	ArrivalDate      string   `json:"arrival_date,omitempty"`
	ReportingMTA     string   `json:"reporting_mta,omitempty"`
	SourceIP         string   `json:"source_ip,omitempty"`
	UserAgent        string   `json:"user_agent,omitempty"`
	Format           string   `json:"format"` // "arf" or "amazonses"
}

// noteFeedback reads a message/feedback-report part (RFC 5965 §3.1): one
// header-like block of fields.
func (w *walker) noteFeedback(data []byte) {
	if w.report == nil {
		w.report = &reportParts{kind: "feedback-report"}
	}
	// Clipped: data may be a slice of the mail, which append must not
	// write to.
	h, _, err := readHeader(append(slices.Clip(normalizeNewlinesBytes(data)), "\n\n"...), DefaultLimits(), func(string) {})
	if err == nil && w.report.feedback == nil {
		w.report.feedback = h
	}
}

// report is what a mail shows of a machine report: the parts of a
// multipart/report, the known format of its text, and the decoded SES
// notification of an "amazonses" one.
type report struct {
	parts  *reportParts // nil when the mail is no multipart/report
	format string       // see reportFormat
	ses    *sesNote
}

// readReport looks once at what kind of report a mail is.
func readReport(h header, m *Message, parts *reportParts) report {
	r := report{parts: parts, format: reportFormat(h, m)}
	if r.format == "amazonses" {
		r.ses = sesNotification(m.Text)
	}
	return r
}

// detectComplaint returns the complaint a mail is: an ARF report (a
// multipart/report with a message/feedback-report part), or a complaint
// notification of Amazon SES; nil for any other mail.
func detectComplaint(m *Message, rep report) *Complaint {
	if r := rep.parts; r != nil && r.feedback != nil {
		return arfComplaint(r, m)
	}
	if rep.ses != nil && rep.ses.Complaint != nil {
		return rep.ses.complaint()
	}
	return nil
}

// arfComplaint reads the fields of an ARF report.
func arfComplaint(r *reportParts, m *Message) *Complaint {
	f := r.feedback
	c := &Complaint{Format: "arf", OriginalMessageID: r.origID}
	c.FeedbackType = strings.ToLower(firstWord(f.get("Feedback-Type")))
	c.UserAgent = strings.TrimSpace(f.get("User-Agent"))
	c.ArrivalDate = strings.TrimSpace(f.get("Arrival-Date"))
	if c.ArrivalDate == "" {
		c.ArrivalDate = strings.TrimSpace(f.get("Received-Date"))
	}
	c.ReportingMTA = dsnText(f.get("Reporting-MTA"))
	c.SourceIP = strings.TrimSpace(f.get("Source-IP"))
	c.OriginalMailFrom = strings.ToLower(strings.Trim(strings.TrimSpace(f.get("Original-Mail-From")), "<>"))
	for _, v := range f.all("Original-Rcpt-To") {
		if a := dsnAddress(v); a != "" {
			c.OriginalRcptTo = append(c.OriginalRcptTo, a)
		}
	}
	switch {
	case len(c.OriginalRcptTo) > 0:
		c.Recipient = c.OriginalRcptTo[0]
	case dsnAddress(f.get("Removal-Recipient")) != "":
		c.Recipient = dsnAddress(f.get("Removal-Recipient"))
	}
	for _, a := range m.Attachments {
		if a.Message == nil {
			continue
		}
		if c.OriginalMessageID == "" {
			c.OriginalMessageID = a.Message.MessageID
		}
		if c.Recipient == "" && len(a.Message.To) == 1 && validAddr(a.Message.To[0].Email) {
			c.Recipient = strings.ToLower(a.Message.To[0].Email)
		}
		break
	}
	return c
}

// sesNote is a notification of Amazon SES (its "notification contents"),
// sent by mail as is or inside an SNS notification whose Message holds it
// as a JSON string.
type sesNote struct {
	Message          string `json:"Message"` // SNS: the notification, as JSON text
	NotificationType string `json:"notificationType"`
	EventType        string `json:"eventType"`
	Bounce           *struct {
		BounceType        string `json:"bounceType"`    // Permanent, Transient, Undetermined
		BounceSubType     string `json:"bounceSubType"` // General, NoEmail, Suppressed, MailboxFull, ...
		ReportingMTA      string `json:"reportingMTA"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			Action         string `json:"action"`
			Status         string `json:"status"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		ComplaintFeedbackType string `json:"complaintFeedbackType"`
		UserAgent             string `json:"userAgent"`
		ArrivalDate           string `json:"arrivalDate"`
		ComplainedRecipients  []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
	} `json:"complaint"`
	Mail struct {
		Source        string   `json:"source"`
		SourceIP      string   `json:"sourceIp"`
		Destination   []string `json:"destination"`
		CommonHeaders struct {
			MessageID string `json:"messageId"`
		} `json:"commonHeaders"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
	} `json:"mail"`
}

// sesNotification decodes the SES notification in a mail's text, nil if
// there is none.
func sesNotification(text string) *sesNote {
	i := strings.IndexByte(text, '{')
	if i < 0 {
		return nil
	}
	var n sesNote
	if err := json.NewDecoder(strings.NewReader(text[i:])).Decode(&n); err != nil {
		return nil
	}
	if n.NotificationType == "" && n.EventType == "" && strings.HasPrefix(strings.TrimSpace(n.Message), "{") {
		var inner sesNote
		if err := json.Unmarshal([]byte(n.Message), &inner); err != nil {
			return nil
		}
		n = inner
	}
	if n.NotificationType == "" {
		n.NotificationType = n.EventType
	}
	if n.NotificationType == "" {
		return nil
	}
	return &n
}

// originalID returns the Message-ID of the mail the notification is about.
func (n *sesNote) originalID() string {
	if id := firstMsgID(n.Mail.CommonHeaders.MessageID); id != "" {
		return id
	}
	for _, h := range n.Mail.Headers {
		if strings.EqualFold(h.Name, "Message-ID") {
			return firstMsgID(h.Value)
		}
	}
	return ""
}

// sesBounce returns the bounce an SES notification reports, nil when it
// reports something else (a delivery, a complaint).
func sesBounce(m *Message, n *sesNote) *Bounce {
	if n == nil || n.Bounce == nil || !strings.EqualFold(n.NotificationType, "bounce") {
		return nil
	}
	b := &Bounce{Reason: "known_format", Format: "amazonses", OriginalMessageID: n.originalID()}
	for _, r := range n.Bounce.BouncedRecipients {
		addr := strings.ToLower(strings.TrimSpace(r.EmailAddress))
		if !validAddr(addr) || len(b.Recipients) >= maxBounceRecipients {
			continue
		}
		action := strings.ToLower(r.Action)
		if action == "" && n.Bounce.BounceType == "Permanent" {
			action = "failed"
		}
		br := newRecipient(addr, action, r.Status, dsnText(r.DiagnosticCode), dsnText(n.Bounce.ReportingMTA))
		if br.Class == "" && n.Bounce.BounceType == "Transient" {
			br.Class = ClassTemporary
		}
		if sub := sesSubTypes[n.Bounce.BounceSubType]; sub != "" && !br.Reason.AddressGone() {
			br.Reason = sub
		}
		b.Recipients = append(b.Recipients, br)
	}
	return b.summarize(m)
}

// sesSubTypes are the reasons of the bounce subtypes of SES.
var sesSubTypes = map[string]BounceReason{
	"Suppressed": ReasonSuppressed, "OnAccountSuppressionList": ReasonSuppressed,
	"MailboxFull": ReasonMailboxFull, "MessageTooLarge": ReasonMessageTooBig,
	"ContentRejected": ReasonContentError, "AttachmentRejected": ReasonSecurityError,
}

// complaint returns the complaint of an SES complaint notification.
func (n *sesNote) complaint() *Complaint {
	c := &Complaint{Format: "amazonses", OriginalMessageID: n.originalID(),
		FeedbackType: strings.ToLower(n.Complaint.ComplaintFeedbackType), UserAgent: n.Complaint.UserAgent,
		ArrivalDate: n.Complaint.ArrivalDate, SourceIP: n.Mail.SourceIP,
		OriginalMailFrom: strings.ToLower(n.Mail.Source)}
	for _, r := range n.Complaint.ComplainedRecipients {
		if a := strings.ToLower(strings.TrimSpace(r.EmailAddress)); validAddr(a) {
			c.OriginalRcptTo = append(c.OriginalRcptTo, a)
		}
	}
	if len(c.OriginalRcptTo) > 0 {
		c.Recipient = c.OriginalRcptTo[0]
	}
	return c
}
