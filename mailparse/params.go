package mailparse

import (
	"sort"
	"strconv"
	"strings"
)

// parseParams reads a header value of the form "value; name=param; ..."
// (Content-Type, Content-Disposition) the lenient way: quoted or bare
// parameters, stray semicolons, duplicate names (the first wins), RFC 2231
// continuations and charsets in any charset, RFC 2047 words inside quoted
// values as Outlook and Thunderbird write filenames. The value is
// lower-cased, parameter names too.
func parseParams(s, fallback string, warn func(string)) (string, map[string]string) {
	value, rest, _ := strings.Cut(s, ";")
	value = strings.ToLower(strings.TrimSpace(value))
	if rest == "" {
		return value, nil
	}
	params := map[string]string{}
	var conts map[string][]paramPiece
	for _, kv := range splitParams(rest) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = unquote(strings.TrimSpace(v))
		base, sect, isCont := strings.Cut(k, "*")
		if !isCont {
			if _, dup := params[k]; !dup {
				params[k] = v
			}
			continue
		}
		if p, ok := newParamPiece(sect, v); ok {
			if conts == nil {
				conts = map[string][]paramPiece{}
			}
			conts[base] = append(conts[base], p)
		}
	}
	for name, ps := range conts {
		params[name] = joinPieces(ps, warn) // RFC 2231 beats the plain form
	}
	for k, v := range params {
		if strings.Contains(v, "=?") || !isASCIIString(v) {
			params[k] = decodeHeaderText(v, fallback, warn)
		}
	}
	return value, params
}

// paramPiece is one section of an RFC 2231 parameter: "name*2*=value".
type paramPiece struct {
	n       int
	encoded bool
	val     string
}

// newParamPiece reads the section after "name*": "", "*", "2" or "2*".
func newParamPiece(sect, v string) (paramPiece, bool) {
	p := paramPiece{encoded: strings.HasSuffix(sect, "*") || sect == "", val: v}
	if num := strings.TrimSuffix(sect, "*"); num != "" {
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > 999 {
			return p, false
		}
		p.n = n
	}
	return p, true
}

// joinPieces puts the sections of an RFC 2231 parameter together in order
// and decodes them: %XX escapes in the encoded ones, the charset named by
// the first (RFC 2231 §4: charset'language'value).
func joinPieces(ps []paramPiece, warn func(string)) string {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].n < ps[j].n })
	var raw []byte
	cs := ""
	for i, p := range ps {
		v := p.val
		if !p.encoded {
			raw = append(raw, v...)
			continue
		}
		if i == 0 {
			if c, r, ok := strings.Cut(v, "'"); ok {
				if _, r2, ok := strings.Cut(r, "'"); ok {
					cs, v = c, r2
				}
			}
		}
		raw = append(raw, pctDecode(v)...)
	}
	return decodeCharset(raw, cs, warn)
}

// splitParams splits the parameter list at semicolons outside quotes.
func splitParams(s string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuote {
				i++
			}
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// unquote removes the quotes of a quoted-string and its backslash escapes;
// an unbalanced quote is dropped.
func unquote(s string) string {
	if len(s) == 0 || s[0] != '"' {
		return s
	}
	s = s[1:]
	if end := closingQuote(s); end >= 0 {
		s = s[:end]
	}
	if !strings.Contains(s, "\\") {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func closingQuote(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// pctDecode decodes the %XX escapes of an RFC 2231 value; a stray % stays.
func pctDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func isASCIIString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
