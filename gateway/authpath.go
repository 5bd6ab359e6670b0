package gateway

import (
	"bytes"
	"net/netip"
	"regexp"
	"strings"
)

// The path a mail took to reach us decides which of its header fields we
// believe. A mail from a client that is not a configured trusted relay
// comes straight from its sender: everything in it is the sender's
// choice, and that client is the one budgets count. A mail from a trusted
// relay (our MX, a content filter) carries, at the top, the fields our
// own hosts added: walking down from the top, every Received field whose
// client is a trusted relay is one of our hops; the first one naming a
// client that is not is where our MX took the mail from the outside, and
// that client is the original one. The fields above that Received field
// are the trusted region: only there are Authentication-Results and spam
// verdicts believed (RFC 8601 §5: a receiver trusts only results its own
// border added). Everything from that Received field down came with the
// mail and is the sender's choice.

// headerField is one field of the raw header section, unfolded, undecoded.
type headerField struct {
	name  string // as written
	value string // unfolded, trimmed
}

// maxHeaderFields bounds the fields headerFields returns.
const maxHeaderFields = 2000

// headerFields splits the raw header section into its fields, top first.
func headerFields(raw []byte) []headerField {
	raw = raw[:headerSize(raw)]
	var out []headerField
	for len(raw) > 0 && len(out) < maxHeaderFields {
		end := 0
		for {
			nl := bytes.IndexByte(raw[end:], '\n')
			if nl < 0 {
				end = len(raw)
				break
			}
			end += nl + 1
			if end >= len(raw) || (raw[end] != ' ' && raw[end] != '\t') {
				break
			}
		}
		line := raw[:end]
		raw = raw[end:]
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(bytes.TrimSpace(name)) == 0 {
			continue
		}
		v := strings.Join(strings.Fields(string(value)), " ")
		out = append(out, headerField{name: string(bytes.TrimSpace(name)), value: v})
	}
	return out
}

// mailPath is what the connection and the trusted Received fields say of
// where a mail came from.
type mailPath struct {
	Relay   netip.Addr // the trusted relay that handed the mail to us (invalid when none)
	Client  netip.Addr // the original client (invalid when unknown)
	HELO    string     // the original client's HELO name, when known
	Trusted int        // fields[:Trusted] were added by our own hosts
	How     string     // how Client was learnt, for the trace
}

var (
	receivedFromIP = regexp.MustCompile(`\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]`)
)

// receivedClient reads the client of a Received field: the HELO name
// after "from" and the address literal of its from clause (RFC 5321
// §4.4 TCP-info). ok is false when the field names no client address.
func receivedClient(value string) (helo string, ip netip.Addr, ok bool) {
	v := value
	if i := strings.Index(strings.ToLower(v), " by "); i >= 0 {
		v = v[:i]
	}
	f := strings.Fields(v)
	if len(f) < 2 || !strings.EqualFold(f[0], "from") {
		return "", netip.Addr{}, false
	}
	m := receivedFromIP.FindStringSubmatch(v)
	if m == nil {
		return "", netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(m[1])
	if err != nil {
		return "", netip.Addr{}, false
	}
	helo = strings.Trim(f[1], "[]")
	return helo, ip.Unmap(), true
}

// IsTrustedRelay reports whether the address ip (text) is in
// auth.trusted_relays as in force: such a relay carries many clients'
// mail, so the SMTP listener exempts it from the limits per address.
func (g *Gateway) IsTrustedRelay(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && g.isTrustedRelay(a)
}

// isTrustedRelay reports whether ip is in auth.trusted_relays.
func (g *Gateway) isTrustedRelay(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, p := range g.rules().Auth.TrustedRelays {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// pathOf works out the mail's path from the envelope and, behind a trusted
// relay, from the Received fields our hosts added.
func (g *Gateway) pathOf(env Envelope, fields []headerField) mailPath {
	ip, err := netip.ParseAddr(env.ClientIP)
	if err != nil {
		return mailPath{How: "no client address (" + env.Source + ")"}
	}
	ip = ip.Unmap()
	if !g.isTrustedRelay(ip) {
		return mailPath{Client: ip, HELO: env.HELO, How: "connecting client"}
	}
	p := mailPath{Relay: ip, Client: ip, HELO: env.HELO, Trusted: len(fields), How: "trusted relay, no outside client named"}
	for i, f := range fields {
		if !strings.EqualFold(f.name, "Received") {
			continue
		}
		helo, from, ok := receivedClient(f.value)
		if !ok || g.isTrustedRelay(from) {
			continue
		}
		p.Client, p.HELO, p.Trusted = from, helo, i
		p.How = "named by trusted relay " + ip.String()
		break
	}
	return p
}
