package gateway

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dmarc"
)

// trustedAuthResults reads the Authentication-Results fields (RFC 8601)
// that carry the configured authserv-id and stand in the trusted region,
// the fields our own relays added. Fields claiming the id anywhere else
// came with the mail: they are counted in ignored and otherwise left
// alone (the raw mail stays byte for byte). Fields of other authserv-ids
// are not ours to believe and are passed over.
func (g *Gateway) trustedAuthResults(in *inbound) (checks []Check, ignored int) {
	id := g.rules().Auth.AuthservID
	if id == "" {
		return nil, 0
	}
	_, _, from := splitAddress(in.msg.From.Email)
	for i, f := range in.fields {
		if !strings.EqualFold(f.name, "Authentication-Results") {
			continue
		}
		got, results, _ := authres.Parse(stripComments(f.value))
		if !strings.EqualFold(got, id) {
			continue
		}
		if i >= in.path.Trusted {
			ignored++
			continue
		}
		for _, r := range results {
			if c, ok := authResultCheck(r, got, from); ok {
				checks = append(checks, c)
			}
		}
	}
	return checks, ignored
}

// authResultCheck turns one reported method into a Check, aligned when it
// is a pass for the From domain (DMARC) or an aligned domain (DKIM, SPF).
func authResultCheck(r authres.Result, id, from string) (Check, bool) {
	var c Check
	switch r := r.(type) {
	case *authres.DKIMResult:
		c = Check{Result: string(r.Value), Domain: strings.ToLower(r.Domain)}
		c.Detail = "dkim=" + c.Result + " header.d=" + c.Domain
	case *authres.SPFResult:
		_, _, d := splitAddress(r.From)
		if d == "" {
			d = strings.ToLower(r.From)
		}
		c = Check{Result: string(r.Value), Domain: d}
		c.Detail = "spf=" + c.Result + " smtp.mailfrom=" + c.Domain
	case *authres.DMARCResult:
		c = Check{Result: string(r.Value), Domain: strings.ToLower(r.From)}
		c.Detail = "dmarc=" + c.Result + " header.from=" + c.Domain
		c.Aligned = c.Result == "pass" && c.Domain == from
		c.Detail += " (reported by " + id + ")"
		return c, true
	default:
		return Check{}, false
	}
	c.Aligned = c.Result == "pass" && aligned(c.Domain, from, dmarc.AlignmentRelaxed)
	c.Detail += " (reported by " + id + ")"
	return c, true
}

// stripComments removes RFC 5322 comments, "(like this)", which
// Authentication-Results fields carry beside their results.
func stripComments(s string) string {
	var b strings.Builder
	depth := 0
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
			if depth == 0 {
				b.WriteRune(r)
			}
			continue
		case r == '\\':
			escaped = true
		case r == '(':
			depth++
			continue
		case r == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 && r != '\\' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
