package mailparse

import (
	"bytes"
	"io"
	"strings"
)

// part is one MIME entity: its header and its still encoded body, in
// memory or, for a large entity read by ParseFrom, as its section.
type part struct {
	h        header
	body     []byte
	sec      *io.SectionReader // nil when body holds the entity
	mtype    string            // lower-cased media type, "text/plain" by default
	params   map[string]string
	disp     string // "inline", "attachment" or ""
	dparams  map[string]string
	filename string
}

// walker walks the MIME tree of one message (RFC 2045, RFC 2046) and
// collects its text, HTML and attachments within the limits.
type walker struct {
	lim    Limits
	opts   Options
	parts  int
	warn   func(string)
	texts  []string // body texts in order, already decoded
	html   string   // first HTML body, as sent (decoded to UTF-8)
	htmlQ  int      // offset of the first quote container in the text made of html, -1 if none
	plain  bool     // a text/plain body part was read
	atts   []Attachment
	report *reportParts
	cs     string // charset of the first text part, for 8-bit headers
}

// newPart reads the MIME header fields of an entity. defType is the type
// an entity without Content-Type has (message/rfc822 inside digests).
func (w *walker) newPart(h header, body []byte, defType string) *part {
	p := &part{h: h, body: body}
	ct := h.get("Content-Type")
	p.mtype, p.params = parseParams(ct, w.cs, w.warn)
	if p.mtype == "" || !strings.Contains(p.mtype, "/") {
		if ct != "" {
			w.warn("bad content type " + quoteWarn(p.mtype) + " read as " + defType)
		}
		p.mtype = defType
	}
	if cd := h.get("Content-Disposition"); cd != "" {
		p.disp, p.dparams = parseParams(cd, w.cs, w.warn)
	}
	p.filename = p.dparams["filename"]
	if p.filename == "" {
		p.filename = p.params["name"]
	}
	p.filename = cleanFilename(p.filename)
	return p
}

// walk visits an entity at the given depth: a multipart is split and its
// parts visited; a leaf is body text (text/plain or text/html that is not
// an attachment), an enclosed message, a delivery report part, a TNEF
// container to unpack, or an attachment.
func (w *walker) walk(p *part, depth int) error {
	w.parts++
	if w.parts > w.lim.MaxParts {
		return &Error{Reason: "too_many_parts"}
	}
	if depth > w.lim.MaxDepth {
		return &Error{Reason: "too_deep"}
	}
	if strings.HasPrefix(p.mtype, "multipart/") {
		return w.walkMultipart(p, depth)
	}
	if p.size() > w.lim.MaxPartBytes*2 {
		return &Error{Reason: "part_too_large"}
	}
	if p.sec != nil && p.disp != "attachment" && p.filename == "" && p.mtype == "text/plain" {
		return w.addTextAt(p)
	}
	if p.sec != nil && !readWhole(p) && decodedSize(p) > streamAttachmentAbove {
		return w.addAttachmentAt(p)
	}
	data, err := w.partData(p)
	if err != nil {
		return err
	}
	switch {
	case p.disp != "attachment" && p.filename == "" && p.mtype == "text/plain":
		w.addText(p, data)
		return nil
	case p.disp != "attachment" && p.filename == "" && p.mtype == "text/html":
		w.addHTML(p, data)
		return nil
	case p.mtype == "message/rfc822" || p.mtype == "message/global":
		return w.addMessage(p, data, depth)
	case p.mtype == "message/delivery-status" || p.mtype == "message/global-delivery-status":
		w.noteDeliveryStatus(data)
	case p.mtype == "text/rfc822-headers" || p.mtype == "message/rfc822-headers":
		w.noteReturnedHeaders(data)
	case p.mtype == "message/feedback-report":
		w.noteFeedback(data)
	case isTNEF(p):
		if w.addTNEF(data) {
			return nil
		}
	}
	w.addAttachment(p, data)
	return nil
}

// size is the size of the encoded body.
func (p *part) size() int64 {
	if p.sec != nil {
		return p.sec.Size()
	}
	return int64(len(p.body))
}

// addText appends a text/plain body part.
func (w *walker) addText(p *part, data []byte) {
	cs := p.params["charset"]
	if w.cs == "" {
		w.cs = cs
	}
	w.plain = true
	text := decodeText(data, cs, w.warn)
	if strings.EqualFold(p.params["format"], "flowed") {
		text = unflow(text, strings.EqualFold(p.params["delsp"], "yes"))
	}
	w.texts = append(w.texts, text)
}

// addHTML appends a text/html body part turned into text.
func (w *walker) addHTML(p *part, data []byte) {
	cs := p.params["charset"]
	if cs == "" {
		cs = htmlMetaCharset(data)
	}
	if w.cs == "" {
		w.cs = cs
	}
	src := decodeCharset(data, cs, w.warn)
	if w.html == "" {
		w.html = src
	}
	text, q := htmlToText(src)
	if q >= 0 && w.htmlQ < 0 {
		w.htmlQ = q
		if prev := joinedLen(w.texts); prev > 0 {
			w.htmlQ += prev + 2
		}
	}
	w.texts = append(w.texts, text)
}

// joinTexts joins the body texts of a message, one blank line between. A
// message with one body text (most mail) gets that text, not a copy.
func joinTexts(texts []string) string {
	n := joinedLen(texts)
	var sb strings.Builder
	for _, t := range texts {
		t = strings.Trim(t, "\n")
		if t == "" {
			continue
		}
		if len(t) == n {
			return t
		}
		if sb.Len() == 0 {
			sb.Grow(n)
		} else {
			sb.WriteString("\n\n")
		}
		sb.WriteString(t)
	}
	return sb.String()
}

// joinedLen is the length of joinTexts(texts).
func joinedLen(texts []string) int {
	n := 0
	for _, t := range texts {
		if t = strings.Trim(t, "\n"); t != "" {
			if n > 0 {
				n += 2
			}
			n += len(t)
		}
	}
	return n
}

// normalizeNewlines turns CRLF and lone CR into LF.
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// lfString is string(b) with CRLF and lone CR turned into LF, in one copy.
func lfString(b []byte) string {
	i := bytes.IndexByte(b, '\r')
	if i < 0 {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for i >= 0 {
		sb.Write(b[:i])
		sb.WriteByte('\n')
		b = b[i+1:]
		if len(b) > 0 && b[0] == '\n' {
			b = b[1:]
		}
		i = bytes.IndexByte(b, '\r')
	}
	sb.Write(b)
	return sb.String()
}

// cleanFilename keeps the last path element of a sent filename and drops
// control characters, so a name can never climb out of a directory.
func cleanFilename(name string) string {
	if i := strings.LastIndexAny(name, "/\\"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 32 || r == 127 {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "." || name == ".." {
		return ""
	}
	return name
}
