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

// readHeader splits raw into its header section and body. It accepts CRLF
// and bare LF line endings, an mbox "From " line in front, and a header
// that runs into the body without the blank line (noted as a warning). It
// fails only when there is no header field at all or a limit is broken.
func readHeader(raw []byte, lim Limits, warn func(string)) (header, []byte, error) {
	rest := raw
	if bytes.HasPrefix(rest, []byte("From ")) {
		_, rest = cutLine(rest)
	}
	var h header
	var cur []byte // the field being unfolded
	size := 0
	flush := func() error {
		if cur == nil {
			return nil
		}
		if len(cur) > lim.MaxLineBytes {
			return &Error{Reason: "line_too_long"}
		}
		name, value, _ := bytes.Cut(cur, []byte(":"))
		h = append(h, field{
			name:  string(bytes.TrimRight(name, " \t")),
			value: string(bytes.TrimSpace(value)),
		})
		cur = nil
		return nil
	}
	for len(rest) > 0 {
		line, next := cutLine(rest)
		size += len(rest) - len(next)
		if size > lim.MaxHeaderBytes {
			return nil, nil, &Error{Reason: "header_too_large"}
		}
		if len(line) == 0 {
			rest = next
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur == nil {
				if len(h) == 0 {
					return nil, nil, &Error{Reason: "no_header"}
				}
				warn("header continuation line without a field")
				rest = next
				continue
			}
			if len(cur)+len(line) > lim.MaxLineBytes {
				return nil, nil, &Error{Reason: "line_too_long"}
			}
			cur = append(cur, line...)
			rest = next
			continue
		}
		if !isFieldLine(line) {
			if len(h) == 0 && cur == nil {
				return nil, nil, &Error{Reason: "no_header"}
			}
			warn("header section ends without a blank line")
			break
		}
		if err := flush(); err != nil {
			return nil, nil, err
		}
		cur = append(make([]byte, 0, len(line)), line...)
		rest = next
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	if len(h) == 0 {
		return nil, nil, &Error{Reason: "no_header"}
	}
	return h, rest, nil
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
