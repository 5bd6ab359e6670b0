package mailparse

import (
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/charset"
)

// wordDecoder decodes the encoded words that net/mail meets in names.
var wordDecoder = &mime.WordDecoder{
	CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
		return charset.Reader(cs, r)
	},
}

// parseAddressList reads an address header (RFC 5322 §3.4). Strict parsing
// comes first; what it refuses (unquoted commas or dots in names, missing
// brackets, 8-bit names, trailing junk) is read by a lenient splitter with a
// warning, so a sender is never lost to a formatting mistake.
func parseAddressList(s, fallback string, warn func(string)) []Address {
	s = strings.TrimSpace(decode8bit(s, fallback, warn))
	if s == "" {
		return nil
	}
	if out, ok := fastAddressList(s, fallback, warn); ok {
		return out
	}
	p := mail.AddressParser{WordDecoder: wordDecoder}
	list, err := p.ParseList(s)
	if err == nil {
		out := make([]Address, 0, len(list))
		for _, a := range list {
			out = append(out, newAddress(a.Name, a.Address, fallback, warn))
		}
		return out
	}
	var out []Address
	pending := "" // a name cut off at an unquoted comma ("Public, Jr.")
	for _, part := range splitAddresses(s) {
		if !strings.Contains(part, "@") {
			pending += part + ","
			continue
		}
		if a, ok := lenientAddress(pending+part, fallback, warn); ok {
			out = append(out, a)
		}
		pending = ""
	}
	if len(out) > 0 {
		warn("malformed address list read leniently")
	}
	return out
}

// fastAddressList reads the plain lists most mail carries ("a@b.c",
// "Name <a@b.c>, d@e.f") without the general parser; ok is false for
// anything with quotes, comments, groups, encoded words or 8-bit bytes.
func fastAddressList(s, fallback string, warn func(string)) ([]Address, bool) {
	if strings.ContainsAny(s, "\"()\\;:[]") || strings.Contains(s, "=?") || !isASCIIString(s) {
		return nil, false
	}
	out := make([]Address, 0, strings.Count(s, ",")+1)
	for s != "" {
		var part string
		part, s, _ = strings.Cut(s, ",")
		part = strings.TrimSpace(part)
		name, email := "", part
		if i := strings.IndexByte(part, '<'); i >= 0 {
			if !strings.HasSuffix(part, ">") || strings.Count(part, "<") != 1 || strings.Count(part, ">") != 1 {
				return nil, false
			}
			name, email = strings.TrimSpace(part[:i]), part[i+1:len(part)-1]
		}
		at := strings.IndexByte(email, '@')
		if at <= 0 || at == len(email)-1 || strings.Count(email, "@") != 1 || strings.ContainsAny(email, " \t<>,") {
			return nil, false
		}
		out = append(out, newAddress(name, email, fallback, warn))
	}
	return out, len(out) > 0
}

// newAddress builds an Address with its domain lower-cased and any encoded
// word left in the name decoded.
func newAddress(name, email, fallback string, warn func(string)) Address {
	if strings.Contains(name, "=?") {
		name = decodeHeaderText(name, fallback, warn)
	}
	name = decode8bit(name, fallback, warn) // an encoded word with bytes that are not its charset
	email = strings.Trim(strings.TrimSpace(email), "<>\"' ")
	if at := strings.LastIndexByte(email, '@'); at >= 0 {
		email = email[:at] + "@" + strings.ToLower(email[at+1:])
	}
	return Address{Name: strings.TrimSpace(name), Email: email}
}

// splitAddresses splits at commas outside quotes, brackets and comments.
// A group's "name:" and ";" are dropped.
func splitAddresses(s string) []string {
	var out []string
	depth, inQuote, inAngle, start := 0, false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case (c == ',' || c == ';') && depth == 0 && !inAngle:
			out = append(out, s[start:i])
			start = i + 1
		case c == ':' && depth == 0 && !inAngle && !strings.Contains(s[start:i], "@"):
			start = i + 1 // group name
		}
	}
	return append(out, s[start:])
}

// lenientAddress reads one mailbox the way a person would: the address in
// brackets, else the word with an "@"; the rest, without quotes, is the
// name, or a comment is.
func lenientAddress(s, fallback string, warn func(string)) (Address, bool) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i:], '>')
		email := s[i+1:]
		rest := s[:i]
		if j >= 0 {
			email = s[i+1 : i+j]
			rest += " " + s[i+j+1:]
		}
		if !strings.Contains(email, "@") {
			return Address{}, false
		}
		return newAddress(cleanName(rest), email, fallback, warn), true
	}
	for _, w := range strings.Fields(s) {
		if strings.Contains(w, "@") {
			name := strings.Replace(s, w, "", 1)
			return newAddress(cleanName(name), strings.Trim(w, "(),;:"), fallback, warn), true
		}
	}
	return Address{}, false
}

// cleanName strips quotes, comment parentheses and blanks from a name.
func cleanName(s string) string {
	s = strings.TrimSpace(s)
	s = strings.Trim(s, "\"'() \t")
	s = strings.ReplaceAll(s, "\\\"", "\"")
	return strings.Join(strings.Fields(s), " ")
}
