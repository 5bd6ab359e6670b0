package gateway

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// dnsUDPSize is the EDNS(0) buffer size offered, as the Go resolver does
// (the DNS Flag Day 2020 value: no IP fragmentation).
const dnsUDPSize = 1232

// exchange asks the servers one question, each in turn for the resolver's
// attempts, within the resolver's timeout, until one gives an answer that
// is not a temporary failure (as the Go and libc resolvers do).
func (r *dnsResolver) exchange(name string, qtype uint16) *dnsAnswer {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.SetEdns0(dnsUDPSize, false)
	tries := r.attempts * len(r.servers)
	a := &dnsAnswer{outcome: dnsTemporary, detail: "no DNS server", ttl: dnsFailureTTL}
	for i := range tries {
		server := r.servers[i%len(r.servers)]
		m, err := roundTrip(ctx, q, server, tries-i)
		a = readReply(q, m, err)
		a.server = server
		if !a.temporary() || ctx.Err() != nil {
			break
		}
	}
	return a
}

// roundTrip sends q to server over UDP, and over TCP when the answer is
// truncated (RFC 1035 §4.2.1, RFC 7766 §5); it takes its share of the
// time left, which the tries left split evenly.
func roundTrip(ctx context.Context, q *dns.Msg, server string, triesLeft int) (*dns.Msg, error) {
	deadline, _ := ctx.Deadline()
	ctx, cancel := context.WithTimeout(ctx, time.Until(deadline)/time.Duration(triesLeft))
	defer cancel()
	share, _ := ctx.Deadline()
	c := dns.Client{Net: "udp", Timeout: time.Until(share)}
	m, _, err := c.ExchangeContext(ctx, q, server)
	if m != nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, server)
	}
	return m, err
}

// readReply turns the reply to q (or the error of the exchange) into an
// answer, worded as net.Resolver words its errors, with how long it may
// be kept (dnscache.go).
func readReply(q *dns.Msg, m *dns.Msg, err error) *dnsAnswer {
	temporary := func(detail string) *dnsAnswer {
		return &dnsAnswer{outcome: dnsTemporary, detail: detail, ttl: dnsFailureTTL}
	}
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			a := temporary("i/o timeout")
			a.timeout = true
			return a
		}
		return temporary(err.Error())
	}
	if !m.Response || len(m.Question) != 1 || m.Question[0].Qtype != q.Question[0].Qtype ||
		m.Question[0].Qclass != dns.ClassINET || !strings.EqualFold(m.Question[0].Name, q.Question[0].Name) {
		return temporary("invalid DNS response")
	}
	switch {
	case m.Rcode == dns.RcodeNameError:
		return &dnsAnswer{outcome: dnsNotFound, ttl: negativeTTL(m)}
	case m.Rcode != dns.RcodeSuccess:
		return temporary("server misbehaving")
	case !m.Authoritative && !m.RecursionAvailable && len(m.Answer) == 0 && !hasAdditional(m):
		return temporary("lame referral") // a referral, not an answer: no recursion there
	}
	rrs, ttl := followChain(m, q.Question[0].Name, q.Question[0].Qtype)
	if len(rrs) == 0 {
		return &dnsAnswer{outcome: dnsNotFound, ttl: negativeTTL(m)} // NODATA
	}
	return &dnsAnswer{outcome: dnsOK, rrs: rrs, ttl: ttl}
}

func hasAdditional(m *dns.Msg) bool {
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			return true
		}
	}
	return false
}

// dnsMaxChain bounds a CNAME chain followed in one answer.
const dnsMaxChain = 8

// followChain returns the records of qtype in the answer section for
// name or, through CNAME records, the name it is an alias of (RFC 1034
// §4.3.1: a recursive answer includes the chain), and the smallest TTL of
// the records used, at most dnsMaxTTL.
func followChain(m *dns.Msg, name string, qtype uint16) ([]dns.RR, time.Duration) {
	ttl := uint32(dnsMaxTTL / time.Second)
	var out []dns.RR
	for range dnsMaxChain {
		var next string
		for _, rr := range m.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, name) {
				continue
			}
			switch {
			case h.Rrtype == qtype:
				out = append(out, rr)
				ttl = min(ttl, h.Ttl)
			case h.Rrtype == dns.TypeCNAME && next == "":
				next = rr.(*dns.CNAME).Target
				ttl = min(ttl, h.Ttl)
			}
		}
		if len(out) > 0 || next == "" {
			break
		}
		name = next
	}
	return out, time.Duration(ttl) * time.Second
}

// negativeTTL is how long no such name or no data may be kept: the
// smaller of the SOA record's TTL and MINIMUM in the authority section
// (RFC 2308 §5), within dnsMaxNegativeTTL; dnsDefaultNegativeTTL without
// one.
func negativeTTL(m *dns.Msg) time.Duration {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(time.Duration(min(soa.Hdr.Ttl, soa.Minttl))*time.Second, dnsMaxNegativeTTL)
		}
	}
	return dnsDefaultNegativeTTL
}

// txtBytes undoes the escaping of a character-string by package dns
// (`\"`, `\\`, and `\DDD` for a byte that is not printable ASCII), giving
// its bytes as they were sent, as net.Resolver returns them.
func txtBytes(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c != '\\' || i+1 == len(s):
			b = append(b, c)
		case i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]):
			b = append(b, (s[i+1]-'0')*100+(s[i+2]-'0')*10+(s[i+3]-'0'))
			i += 3
		default:
			b = append(b, s[i+1])
			i++
		}
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isDomainName reports whether s is a domain name as net.Resolver accepts
// one (RFC 1035, RFC 3696; letters, digits, hyphens and underscores in
// labels of at most 63 bytes, 253 in all, not all numeric): a name it
// would not ask about is not found, and a record naming one is left out.
// The same rules as package net's, which are not exported.
func isDomainName(s string) bool {
	if s == "." {
		return true
	}
	l := len(s)
	if l == 0 || l > 254 || l == 254 && s[l-1] != '.' {
		return false
	}
	last, nonNumeric, partlen := byte('.'), false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_':
			nonNumeric = true
			partlen++
		case '0' <= c && c <= '9':
			partlen++
		case c == '-':
			if last == '.' {
				return false
			}
			partlen++
			nonNumeric = true
		case c == '.':
			if last == '.' || last == '-' || partlen > 63 || partlen == 0 {
				return false
			}
			partlen = 0
		default:
			return false
		}
		last = c
	}
	return last != '-' && partlen <= 63 && nonNumeric
}
