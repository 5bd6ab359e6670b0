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
func decodeBase64(b []byte) ([]byte, bool) {
	clean := make([]byte, 0, len(b))
	damaged := false
	pad := 0
	for _, c := range b {
		switch {
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/':
			if pad > 0 {
				// Data after padding: two encoded blocks glued together.
				damaged = true
				clean = trimPartialGroup(clean)
				pad = 0
			}
			clean = append(clean, c)
		case c == '-' || c == '_': // URL alphabet
			damaged = true
			if c == '-' {
				c = '+'
			} else {
				c = '/'
			}
			clean = append(clean, c)
		case c == '=':
			pad++
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			damaged = true
		}
	}
	if r := len(clean) % 4; r != 0 && pad != 4-r {
		damaged = true
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, err := base64.RawStdEncoding.Decode(out, clean)
	if err != nil {
		damaged = true
	}
	return out[:n], damaged
}

// trimPartialGroup pads a block that ended with "=" to a whole group of
// four so that the next block decodes on its own.
func trimPartialGroup(clean []byte) []byte {
	switch len(clean) % 4 {
	case 1:
		return clean[:len(clean)-1]
	case 2, 3:
		// Decode the partial group now by completing it with zero bits
		// would shift the rest; drop it instead, it is at most 2 bytes.
		return clean[:len(clean)-len(clean)%4]
	}
	return clean
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
		hadNL := nl >= 0
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
		b = rest
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
