package mailparse

import (
	"bytes"
	"fmt"
	"runtime/debug"
	"strings"
)

// Parse reads one mail. It fails (with *Error) only when the input cannot
// be accepted: no header section at all, or a limit of opts.Limits broken.
// Everything else is read as well as it can be, with a note in Warnings.
// Parse never panics: a bug that would is returned as an *Error with reason
// "internal" so the caller quarantines the mail instead of losing it.
func Parse(raw []byte, opts Options) (msg *Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg = nil
			err = &Error{Reason: "internal", Err: fmt.Errorf("panic: %v\n%s", r, debug.Stack())}
		}
	}()
	lim := opts.Limits.withDefaults()
	parts := 0
	return parseDepth(raw, opts, lim, 0, &parts)
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = d.MaxLineBytes
	}
	if l.MaxPartBytes <= 0 {
		l.MaxPartBytes = d.MaxPartBytes
	}
	return l
}

// parseDepth parses a message at a nesting depth; parts counts the MIME
// parts of the whole outer message against the limit.
func parseDepth(raw []byte, opts Options, lim Limits, depth int, parts *int) (*Message, error) {
	if depth > lim.MaxDepth {
		return nil, &Error{Reason: "too_deep"}
	}
	m := &Message{}
	h, body, err := readHeader(raw, lim, m.warn)
	if err != nil {
		return nil, err
	}
	w := newWalker(m, opts, lim, *parts)
	top := w.newPart(h, body, "text/plain")
	return w.message(m, h, top, depth, parts, depth == 0 && bytes.HasPrefix(raw, []byte("From ")))
}

// newWalker returns the walker of message m, parts parts into the outer
// message.
func newWalker(m *Message, opts Options, lim Limits, parts int) *walker {
	return &walker{lim: lim, opts: opts, parts: parts, warn: m.warn, htmlQ: -1}
}

// message walks the entity top, whose header is h, and fills in m; mbox
// says the message came with an mbox "From " line.
func (w *walker) message(m *Message, h header, top *part, depth int, parts *int, mbox bool) (*Message, error) {
	if err := w.walk(top, depth); err != nil {
		return nil, err
	}
	*parts = w.parts
	m.Text = strings.TrimRight(joinTexts(w.texts), " \t\n")
	if mbox {
		// An mbox export escaped the body lines starting with "From ".
		m.Text = strings.ReplaceAll(m.Text, "\n>From ", "\nFrom ")
	}
	m.HTML = w.html
	m.Attachments = w.atts
	fillHeaders(m, h, w.cs, casePrefix(w.opts))
	m.Visible, m.Cut = visibleReply(m.Text, w.htmlQ, w.html != "" && !w.plain)
	m.BodyRef = findBodyRef(m.Text, casePrefix(w.opts))
	m.Signals = signals(h, w.opts, m)
	rep := readReport(h, m, w.report)
	if m.Signals.Complaint = detectComplaint(m, rep); m.Signals.Complaint == nil {
		m.Signals.Bounce = detectBounce(h, m, rep)
	}
	if m.Signals.Bounce == nil && m.Signals.Complaint == nil && !m.Signals.AutoReply && nullReturnPath(h) {
		// A mail with a null return path that reports nothing is an
		// automatic response (RFC 3834 §3.3): a person never sends one.
		m.Signals.AutoReply, m.Signals.AutoReason = true, "Return-Path: <>"
	}
	m.Forwarded = detectForward(m)
	return m, nil
}

// warn records a warning once.
func (m *Message) warn(s string) {
	for _, have := range m.Warnings {
		if have == s {
			return
		}
	}
	if len(m.Warnings) < maxWarnings {
		m.Warnings = append(m.Warnings, s)
	}
}

// maxWarnings bounds the warnings kept for one message.
const maxWarnings = 50

func casePrefix(opts Options) string {
	if opts.CasePrefix == "" {
		return DefaultCasePrefix
	}
	return opts.CasePrefix
}

// fillHeaders decodes the header fields a Message carries. cs is the body
// charset, the best guess for raw 8-bit header bytes.
func fillHeaders(m *Message, h header, cs, prefix string) {
	warn := m.warn
	m.MessageID = firstMsgID(h.get("Message-ID"))
	m.InReplyTo = parseMsgIDs(h.get("In-Reply-To"))
	m.References = parseMsgIDs(strings.Join(h.all("References"), " "))
	m.Date = parseDate(h.get("Date"), warn)
	if from := parseAddressList(h.get("From"), cs, warn); len(from) > 0 {
		m.From = from[0]
	} else {
		warn("no sender address")
	}
	if s := parseAddressList(h.get("Sender"), cs, warn); len(s) > 0 {
		m.Sender = &s[0]
	}
	m.ReplyTo = parseAddressList(h.get("Reply-To"), cs, warn)
	m.To = parseAddressList(strings.Join(h.all("To"), ", "), cs, warn)
	m.Cc = parseAddressList(strings.Join(h.all("Cc"), ", "), cs, warn)
	if rp := h.get("Return-Path"); rp != "" {
		if list := parseMsgIDs(rp); len(list) > 0 {
			m.ReturnPath = list[0]
		} else if addr := strings.Trim(rp, "<> \t"); strings.Contains(addr, "@") {
			m.ReturnPath = addr
		}
	}
	m.Subject = strings.TrimSpace(decodeHeaderText(h.get("Subject"), cs, warn))
	m.Subject = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, m.Subject)
	m.Topic, m.CaseTag = NormalizeSubject(m.Subject, prefix)
}
