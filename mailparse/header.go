package mailparse

import (
	"bytes"
	"strings"
)

// field is one header field, unfolded (RFC 5322 §2.2.3) but not decoded:
// value may still hold encoded words or 8-bit bytes.
type field struct {
	name  string
	value string
}

// header is a header section in the order it was written.
type header []field

// get returns the value of the first field called name, "" if none.
func (h header) get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// has reports whether a field called name is present.
func (h header) has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			return true
		}
	}
	return false
}

// all returns the values of every field called name.
func (h header) all(name string) []string {
	var out []string
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			out = append(out, f.value)
		}
	}
	return out
}

// count returns how many fields are called name.
func (h header) count(name string) int {
	n := 0
	for _, f := range h {
		if strings.EqualFold(f.name, name) {
			n++
		}
	}
	return n
}

// fieldSpan is where one field lies in the raw header section.
type fieldSpan struct {
	start, end int  // from the name to the end of its last line
	folded     bool // continued on more lines
}

// readHeader splits raw into its header section and body. It accepts CRLF
// and bare LF line endings, an mbox "From " line in front, and a header
// that runs into the body without the blank line (noted as a warning). It
// fails only when there is no header field at all or a limit is broken.
func readHeader(raw []byte, lim Limits, warn func(string)) (header, []byte, error) {
	var buf [48]fieldSpan
	spans, base, body, err := scanHeader(raw, lim, warn, buf[:0])
	if err != nil {
		return nil, nil, err
	}
	return buildHeader(raw, base, spans), raw[body:], nil
}

// scanHeader finds the fields of the header section of raw, appending them
// to spans, and where the section (base) and the body start.
func scanHeader(raw []byte, lim Limits, warn func(string), spans []fieldSpan) ([]fieldSpan, int, int, error) {
	pos := 0
	if bytes.HasPrefix(raw, []byte("From ")) {
		_, rest := cutLine(raw)
		pos = len(raw) - len(rest)
	}
	base, curLen := pos, 0
	for pos < len(raw) {
		line, rest := cutLine(raw[pos:])
		next := len(raw) - len(rest)
		switch {
		case next-base > lim.MaxHeaderBytes:
			return nil, 0, 0, &Error{Reason: "header_too_large"}
		case len(line) == 0:
			return spans, base, next, headerFound(spans)
		case line[0] == ' ' || line[0] == '\t':
			if len(spans) == 0 {
				return nil, 0, 0, &Error{Reason: "no_header"}
			}
			curLen += len(line)
			last := &spans[len(spans)-1]
			last.end, last.folded = pos+len(line), true
		case !isFieldLine(line):
			if len(spans) > 0 {
				warn("header section ends without a blank line")
			}
			return spans, base, pos, headerFound(spans)
		default:
			spans = append(spans, fieldSpan{start: pos, end: pos + len(line)})
			curLen = len(line)
		}
		if curLen > lim.MaxLineBytes {
			return nil, 0, 0, &Error{Reason: "line_too_long"}
		}
		pos = next
	}
	return spans, base, len(raw), headerFound(spans)
}

// headerFound fails a header section without fields.
func headerFound(spans []fieldSpan) error {
	if len(spans) == 0 {
		return &Error{Reason: "no_header"}
	}
	return nil
}

// buildHeader makes the fields: the section becomes one string and the
// fields are slices of it, unless they were folded.
func buildHeader(raw []byte, base int, spans []fieldSpan) header {
	hs := string(raw[base:spans[len(spans)-1].end])
	h := make(header, 0, len(spans))
	for _, sp := range spans {
		name, value, _ := strings.Cut(hs[sp.start-base:sp.end-base], ":")
		if sp.folded { // RFC 5322 §2.2.3: unfolding removes the line breaks
			value = strings.Map(func(r rune) rune {
				if r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, value)
		}
		h = append(h, field{
			name:  strings.TrimRight(name, " \t"),
			value: strings.TrimSpace(value),
		})
	}
	return h
}

// isFieldLine reports whether line starts with a field name and a colon:
// printable ASCII other than the colon (RFC 5322 §3.6.8), with blanks
// tolerated before the colon as old software writes them.
func isFieldLine(line []byte) bool {
	for i, c := range line {
		switch {
		case c == ':':
			return i > 0
		case c == ' ' || c == '\t':
			if i == 0 || len(bytes.TrimLeft(line[i:], " \t")) == 0 ||
				bytes.TrimLeft(line[i:], " \t")[0] != ':' {
				return false
			}
		case c < 33 || c > 126:
			return false
		}
	}
	return false
}

// cutLine returns the first line of b without its line ending (CRLF, LF or
// a lone CR) and the bytes after it.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexAny(b, "\r\n")
	if i < 0 {
		return b, nil
	}
	if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
		return b[:i], b[i+2:]
	}
	return b[:i], b[i+1:]
}
