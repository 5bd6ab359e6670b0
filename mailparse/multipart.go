package mailparse

import (
	"bytes"
)

// splitMultipart cuts a multipart body into its parts at the boundary
// lines (RFC 2046 §5.1.1). The preamble and epilogue are dropped. A missing
// close delimiter is tolerated (the last part runs to the end) and reported
// by closed == false. Linear in the size of body.
func splitMultipart(body []byte, boundary string) (parts [][]byte, closed bool) {
	delim := []byte("--" + boundary)
	start := -1 // start of the current part's content
	pos := 0
	for pos <= len(body) {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			break
		}
		i += pos
		after := i + len(delim)
		if i > 0 && body[i-1] != '\n' { // a delimiter starts a line
			pos = after
			continue
		}
		isClose := bytes.HasPrefix(body[after:], []byte("--"))
		end := after
		if isClose {
			end += 2
		}
		// The rest of the line must be blank ("transport padding").
		line, next := cutLine(body[end:])
		if len(bytes.TrimRight(line, " \t")) != 0 {
			pos = after
			continue
		}
		if start >= 0 {
			parts = append(parts, trimDelimNewline(body[start:i]))
		}
		if isClose {
			return parts, true
		}
		start = len(body) - len(next)
		pos = start
		if next == nil {
			break
		}
	}
	if start >= 0 && start < len(body) {
		parts = append(parts, body[start:])
	}
	return parts, false
}

// trimDelimNewline removes the line break that belongs to the following
// delimiter (RFC 2046 §5.1.1: the CRLF before "--" is part of it).
func trimDelimNewline(b []byte) []byte {
	if bytes.HasSuffix(b, []byte("\r\n")) {
		return b[:len(b)-2]
	}
	if bytes.HasSuffix(b, []byte("\n")) {
		return b[:len(b)-1]
	}
	return b
}

// walkMultipart visits the parts of a multipart entity, choosing one
// branch of an alternative and the root of a related.
func (w *walker) walkMultipart(p *part, depth int) error {
	boundary := p.params["boundary"]
	if boundary == "" {
		w.warn("multipart without boundary read as text")
		p.mtype = "text/plain"
		return w.walk(p, depth)
	}
	raws, closed, err := w.splitParts(p, boundary)
	if err != nil {
		return err
	}
	if !closed {
		w.warn("multipart without close delimiter")
	}
	if len(raws) == 0 {
		w.warn("multipart without parts read as text")
		p.mtype = "text/plain"
		return w.walk(p, depth)
	}
	sub := "text/plain"
	if p.mtype == "multipart/digest" {
		sub = "message/rfc822"
	}
	kids := make([]*part, 0, len(raws))
	for _, raw := range raws {
		k, err := w.partOf(raw, sub)
		if err != nil {
			return err
		}
		kids = append(kids, k)
	}
	switch p.mtype {
	case "multipart/alternative":
		return w.walkAlternative(kids, depth)
	case "multipart/related":
		return w.walkRelated(p, kids, depth)
	case "multipart/report":
		w.startReport(p)
	}
	for _, k := range kids {
		if err := w.walk(k, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// readPartHeader reads the header of a body part. Unlike a message, a part
// may have no header at all: it is then text/plain (RFC 2046 §5.1.1).
func readPartHeader(raw []byte, lim Limits, warn func(string)) (header, []byte, error) {
	if len(raw) == 0 {
		return nil, nil, nil
	}
	if raw[0] == '\n' {
		return nil, raw[1:], nil
	}
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return nil, raw[2:], nil
	}
	h, body, err := readHeader(raw, lim, warn)
	if e, ok := IsError(err); ok && e.Reason == "no_header" {
		return nil, raw, nil
	}
	return h, body, err
}

// walkAlternative picks the best branch of a multipart/alternative (RFC
// 2046 §5.1.4): the plain text if it has any text, else the richest branch
// that holds text (HTML, or a related part around it). The HTML branch is
// still kept as Message.HTML, and attachments of unused branches are not
// lost.
func (w *walker) walkAlternative(kids []*part, depth int) error {
	plain, other := -1, -1
	for i, k := range kids {
		switch {
		case k.mtype == "text/plain" && k.disp != "attachment":
			if plain >= 0 {
				continue
			}
			if ok, err := w.hasText(k); err != nil {
				return err
			} else if ok {
				plain = i
			}
		case k.mtype == "text/html" || k.mtype == "multipart/related" ||
			k.mtype == "multipart/mixed" || k.mtype == "multipart/alternative":
			other = i
		}
	}
	best := plain
	if best < 0 {
		best = other
	}
	if best < 0 {
		best = len(kids) - 1
	}
	// The other branches go through a side walker: their HTML and their
	// inline or attached parts are kept, their text is not.
	side := &walker{lim: w.lim, opts: w.opts, parts: w.parts, warn: w.warn, htmlQ: -1, cs: w.cs}
	for i, k := range kids {
		if i == best {
			continue
		}
		if err := side.walk(k, depth+1); err != nil {
			return err
		}
	}
	w.parts = side.parts
	if err := w.walk(kids[best], depth+1); err != nil {
		return err
	}
	if w.html == "" {
		w.html = side.html
	}
	w.atts = append(w.atts, side.atts...)
	return nil
}

// walkRelated visits a multipart/related (RFC 2387): the root (the "start"
// parameter or the first part) is the body, the others are inline parts
// referred to by Content-ID.
func (w *walker) walkRelated(p *part, kids []*part, depth int) error {
	root := 0
	if start := canonicalID(p.params["start"]); start != "" {
		for i, k := range kids {
			if canonicalID(k.h.get("Content-ID")) == start {
				root = i
			}
		}
	}
	for i, k := range kids {
		if i != root && !isMultipart(k) {
			k.disp = inlineUnlessAttachment(k.disp)
			w.parts++
			if w.parts > w.lim.MaxParts {
				return &Error{Reason: "too_many_parts"}
			}
			data, err := w.partData(k)
			if err != nil {
				return err
			}
			w.addAttachment(k, data)
			continue
		}
		if err := w.walk(k, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func isMultipart(p *part) bool { return len(p.mtype) > 10 && p.mtype[:10] == "multipart/" }

func inlineUnlessAttachment(disp string) string {
	if disp == "attachment" {
		return disp
	}
	return "inline"
}
