package mailparse

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// decodeTransfer undoes a Content-Transfer-Encoding (RFC 2045 §6). Damaged
// input (bad padding, stray characters, broken soft line breaks) decodes to
// what can be read, with a warning.
func decodeTransfer(body []byte, cte string, warn func(string)) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary", "7-bit", "8-bit":
		return body
	case "base64":
		out, damaged := decodeBase64(body)
		if damaged {
			warn("damaged base64")
		}
		return out
	case "quoted-printable":
		out, damaged := decodeQP(body)
		if damaged {
			warn("damaged quoted-printable")
		}
		return out
	}
	warn("unknown transfer encoding " + quoteWarn(cte))
	return body
}

// decodeBase64 decodes base64 ignoring line breaks and blanks. Anything
// else outside the alphabet, padding in the wrong place or a truncated last
// group marks the result damaged; the bytes that can be read are returned.
// Blocks glued together after their padding are decoded one by one.
func decodeBase64(b []byte) ([]byte, bool) {
	clean := make([]byte, 0, len(b))
	out := make([]byte, 0, len(b)*3/4)
	damaged := false
	pad := 0
	for _, c := range b {
		switch {
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/':
		case c == '-' || c == '_': // URL alphabet
			damaged = true
			if c == '-' {
				c = '+'
			} else {
				c = '/'
			}
		case c == '=':
			pad++
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		default:
			damaged = true
			continue
		}
		if pad > 0 { // data after padding: a new block begins
			out, damaged = flushBase64(out, clean, pad, damaged)
			clean, pad = clean[:0], 0
			damaged = true
		}
		clean = append(clean, c)
	}
	return flushBase64(out, clean, pad, damaged)
}

// flushBase64 appends the decoded block clean, which ended with pad "="
// signs, to out.
func flushBase64(out, clean []byte, pad int, damaged bool) ([]byte, bool) {
	if r := len(clean) % 4; r != 0 && pad != 4-r || r == 0 && pad != 0 {
		damaged = true
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	n0 := len(out)
	out = append(out, make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))...)
	n, err := base64.RawStdEncoding.Decode(out[n0:], clean)
	if err != nil {
		damaged = true
	}
	return out[:n0+n], damaged
}

// decodeQP decodes quoted-printable (RFC 2045 §6.7): soft line breaks,
// "=XX" in either case, trailing blanks dropped. A "=" not followed by two
// hex digits is kept as it is and marks the result damaged.
func decodeQP(b []byte) ([]byte, bool) {
	out := make([]byte, 0, len(b))
	damaged := false
	for len(b) > 0 {
		line, rest := b, []byte(nil)
		nl := bytes.IndexByte(b, '\n')
		if nl >= 0 {
			line, rest = b[:nl], b[nl+1:]
		}
		var bad bool
		out, bad = decodeQPLine(out, line, nl >= 0)
		damaged = damaged || bad
		b = rest
	}
	return out, damaged
}

// decodeQPLine appends the decoded line (without its LF; hadNL says
// whether it had one) to out.
func decodeQPLine(out, line []byte, hadNL bool) ([]byte, bool) {
	damaged := false
	line = trimCR(line)
	line = trimRightBlank(line)
	soft := len(line) > 0 && line[len(line)-1] == '='
	if soft {
		line = line[:len(line)-1]
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '=' {
			if i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
				out = append(out, unhex(line[i+1])<<4|unhex(line[i+2]))
				i += 2
				continue
			}
			damaged = true
		}
		out = append(out, c)
	}
	if hadNL && !soft {
		out = append(out, '\n')
	}
	return out, damaged
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}

func trimRightBlank(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
