// Package mailparse turns the raw bytes of an inbound mail into a Message:
// decoded headers, the threading signals (Message-ID, In-Reply-To,
// References, the case tag of the subject), the full text, the visible reply
// with quoted history and signatures stripped, the attachments, and the
// signals that tell a person from a machine (auto-replies, bounces, list
// mail, our own loop header).
//
// It knows nothing of cases, databases or networks. Parse never panics and
// never hangs: input that breaks a limit or cannot be read at all is an
// error (*Error) that the caller quarantines with the raw bytes; damaged but
// readable input (a lying charset, broken encoded words, bad base64 padding)
// is decoded as well as it can be and noted in Message.Warnings.
//
// The whole mail is in memory, so the parser works on byte slices: the
// header section and MIME tree (RFC 5322, RFC 2045-2047, RFC 2231) are cut
// by simple linear scans that tolerate what real clients get wrong, and
// go-message's charset package turns every charset in use into UTF-8. Of a
// multipart/alternative the plain text is read and the HTML kept; HTML-only
// mail is turned into text with its quotes as "> " lines. message/rfc822
// parts stay whole as attachments with their own parsed Message, and
// Outlook's winmail.dat is unpacked into the files it carries.
//
// The visible reply is found on the text (VisibleReply): our own separator
// line first, then the first of the quote headers, header blocks, forward
// and original-message lines, signatures and mobile footers, or ">" quotes
// that the common clients write in the common languages. Answers written
// between quoted lines are kept. Cut records which marker ended it.
//
// Delivery reports are read whatever their shape: RFC 3464 reports, the
// texts of the MTAs that write none (qmail, Exim, sendmail, DragonFly, ...)
// and Amazon SES notifications. Each failed recipient gets a BounceReason
// from its status code, SMTP reply and diagnostic; only the reasons that
// say the address is gone make a bounce Hard. Feedback reports (RFC 5965)
// are complaints, never bounces.
package mailparse

import (
	"errors"
	"fmt"
	"time"
)

// Address is one mailbox of an address header.
type Address struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"` // lower-cased domain, local part as written
}

// Message is a parsed inbound mail.
type Message struct {
	MessageID  string    `json:"message_id,omitempty"` // without angle brackets
	InReplyTo  []string  `json:"in_reply_to,omitempty"`
	References []string  `json:"references,omitempty"` // canonical, de-duplicated, oldest first
	Date       time.Time `json:"date,omitempty"`

	From       Address   `json:"from"`
	Sender     *Address  `json:"sender,omitempty"`
	ReplyTo    []Address `json:"reply_to,omitempty"`
	To         []Address `json:"to,omitempty"`
	Cc         []Address `json:"cc,omitempty"`
	ReturnPath string    `json:"return_path,omitempty"` // Return-Path header, if any ("" for <>)

	Subject string `json:"subject"` // decoded, as written
	// Topic is the subject with reply/forward prefixes ("Re:", "AW:",
	// "[EXTERNAL]", ...) and the case tag removed, whitespace folded.
	Topic string `json:"topic"`
	// CaseTag is the first "[PREFIX0000042]" tag of the subject ("" if
	// none), without brackets; only tags with Options.CasePrefix count.
	CaseTag string `json:"case_tag,omitempty"`
	// BodyRef is the case number of a "Ref: PREFIX0000042" line of the
	// text, "" if none.
	BodyRef string `json:"body_ref,omitempty"`

	Text    string `json:"text"`           // full text (HTML-only mail turned into text)
	HTML    string `json:"html,omitempty"` // the HTML body as sent, if any
	Visible string `json:"visible"`        // the part a person wrote for this mail
	Cut     Cut    `json:"cut"`            // how Visible was found

	Attachments []Attachment `json:"attachments,omitempty"`
	// Forwarded is the message this mail forwards, attached or inline; nil
	// when it forwards none. Text and Visible keep the forward as it came.
	Forwarded *Forwarded `json:"forwarded,omitempty"`
	Signals   Signals    `json:"signals"`
	Warnings  []string   `json:"warnings,omitempty"`
}

// Cut records which marker ended the visible reply.
type Cut struct {
	Marker  string `json:"marker,omitempty"` // one of the Marker constants ("separator", "quote_header", "outlook_block", "signature", "quote", ...); "" when nothing was cut
	Removed int    `json:"removed"`          // bytes of Text not in Visible
}

// Attachment is one attachment or inline part. Data (or Decode) is the
// decoded content.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	ContentID   string `json:"content_id,omitempty"` // without angle brackets
	Inline      bool   `json:"inline,omitempty"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"` // lower-case hex
	Data        []byte `json:"-"`
	// Decode, when set, holds the content instead of Data (nil then): it
	// decodes the part again from the mail's reader and hands the bytes to
	// put in pieces, so that a large attachment of a mail read with
	// ParseFrom is never held whole. It reads the reader ParseFrom was
	// given, which must stay open until the last call.
	Decode func(put func([]byte) error) error `json:"-"`
	// Message is the parsed form of an enclosed mail (message/rfc822: a
	// forwarded mail, the returned mail of a bounce); Data holds its raw
	// bytes. Its own attachments are in Message.Attachments.
	Message *Message `json:"message,omitempty"`
}

// Signals are what the gateway needs to tell people from machines.
type Signals struct {
	AutoReply  bool    `json:"auto_reply,omitempty"`
	AutoReason string  `json:"auto_reason,omitempty"` // the header or subject that said so
	Bounce     *Bounce `json:"bounce,omitempty"`
	// Complaint is a feedback report (RFC 5965, ARF) or a complaint
	// notification of a sending service: someone marked a mail as spam. A
	// mail is never both a Complaint and a Bounce.
	Complaint    *Complaint `json:"complaint,omitempty"`
	List         bool       `json:"list,omitempty"` // List-Id, List-Unsubscribe, Precedence: list
	Loop         bool       `json:"loop,omitempty"` // carries Options.LoopHeader with Options.Hostname
	ReceivedHops int        `json:"received_hops"`
	Priority     string     `json:"priority,omitempty"` // "high" when X-Priority/Importance/Priority say so
}

// Options tell Parse what is ours. The zero value works with DefaultLimits.
type Options struct {
	CasePrefix string // e.g. "CS"; the tag is PREFIX plus 7 digits
	Hostname   string // our mail domain, for the loop header
	LoopHeader string // e.g. "X-Casegate-Loop"; value is our Hostname
	Limits     Limits

	// testMemBelow and testChunk, when set, replace memBelow and
	// streamChunk (reader.go, stream.go), so that the tests read small
	// mails the way ParseFrom reads large ones, in small pieces.
	testMemBelow int64
	testChunk    int
}

// Limits bound the work one message may cause. Zero fields take the
// defaults of DefaultLimits.
type Limits struct {
	MaxDepth       int   // nesting of multiparts and message/rfc822
	MaxParts       int   // MIME parts in total
	MaxHeaderBytes int   // one header section
	MaxLineBytes   int   // one header line, unfolded
	MaxPartBytes   int64 // one decoded part
}

// DefaultLimits are generous for real mail and small enough for hostile mail.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:       20,
		MaxParts:       500,
		MaxHeaderBytes: 256 << 10,
		MaxLineBytes:   64 << 10,
		MaxPartBytes:   64 << 20,
	}
}

// Error is a message that cannot be accepted as it is: the caller keeps the
// raw bytes in quarantine with Reason.
type Error struct {
	Reason string // short, stable: "header_too_large", "too_deep", "too_many_parts", "part_too_large", "line_too_long", "no_header", ...
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("mailparse: %s: %v", e.Reason, e.Err)
	}
	return "mailparse: " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// IsError reports whether err is a *Error and returns it.
func IsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
