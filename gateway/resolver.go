package gateway

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// Resolver answers the DNS questions of sender authentication (DKIM keys,
// DMARC and SPF records, and the A/MX/PTR lookups SPF may make). Its
// method set is that of *net.Resolver. An implementation must honour the
// context's deadline, and must report a name that does not exist as a
// *net.DNSError with IsNotFound set: every other error is a temporary
// failure (RFC 7208 §2.6.6 temperror, RFC 6376 §6.1.2 TEMPFAIL). Errors
// are returned as *net.DNSError itself, never wrapped: the DKIM, DMARC
// and SPF libraries test them with a type assertion.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// NewResolver returns a resolver that asks the DNS server at addr
// (host:port, over UDP and over TCP when an answer is truncated) and
// nothing else, each question within timeout. addr "system" asks the
// servers of /etc/resolv.conf instead, in their order. Answers are kept
// in memory for as long as the DNS allows (dnscache.go), so the mails of
// one domain cost one round trip per question and TTL, not one each.
func NewResolver(addr string, timeout time.Duration) (Resolver, error) {
	return newDNSResolver(resolverConfig{addr: addr, timeout: timeout})
}

// resolverConfig is a resolver's setup; the zero values of the fields
// after addr are the defaults.
type resolverConfig struct {
	addr       string           // host:port or "system"
	timeout    time.Duration    // per question, all tries (default 5 s)
	cacheSize  int              // answers kept at most (default 10,000)
	now        func() time.Time // the clock of the cache (default time.Now)
	resolvConf string           // for "system" (default /etc/resolv.conf)
}

// dnsResolver asks absolute names only (no search domains), keeps the
// answers, and makes every failure that is not "no such name" a temporary
// one, so a DNS outage is a temperror everywhere.
type dnsResolver struct {
	addr     string   // the server asked, or "system"
	servers  []string // host:port, asked in order
	attempts int      // rounds over the servers per question
	timeout  time.Duration
	now      func() time.Time
	cache    *dnsCache
	flights  singleflight.Group // one exchange per question in flight
}

// Defaults of a resolver (resolverConfig).
const (
	defaultDNSTimeout   = 5 * time.Second
	defaultDNSCacheSize = 10000
	dnsAttempts         = 2 // as the Go and libc resolvers: a lost datagram is asked again
)

func newDNSResolver(c resolverConfig) (*dnsResolver, error) {
	r := &dnsResolver{addr: c.addr, attempts: dnsAttempts, timeout: c.timeout, now: c.now}
	if r.timeout <= 0 {
		r.timeout = defaultDNSTimeout
	}
	if r.now == nil {
		r.now = time.Now
	}
	if c.cacheSize <= 0 {
		c.cacheSize = defaultDNSCacheSize
	}
	r.cache = newDNSCache(c.cacheSize)
	if c.addr == "system" {
		r.servers = systemServers(c.resolvConf)
		return r, nil
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return nil, fmt.Errorf("resolver %q: %w", c.addr, err)
	}
	r.servers = []string{c.addr}
	return r, nil
}

// systemServers are the name servers of a resolv.conf file; without one,
// the local host's, as the Go resolver assumes.
func systemServers(path string) []string {
	if path == "" {
		path = "/etc/resolv.conf"
	}
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil || len(cc.Servers) == 0 {
		return []string{"127.0.0.1:53", "[::1]:53"}
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out
}

func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// LookupTXT returns one string per TXT record, its character-strings
// concatenated (as net.Resolver does).
func (r *dnsResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = fqdn(name)
	a := r.answer(ctx, name, dns.TypeTXT)
	if a.failed() {
		return nil, a.dnsError(name, r.addr)
	}
	out := make([]string, 0, len(a.rrs))
	for _, rr := range a.rrs {
		var b strings.Builder
		for _, s := range rr.(*dns.TXT).Txt {
			b.WriteString(txtBytes(s))
		}
		out = append(out, b.String())
	}
	return out, nil
}

// LookupMX returns the mail exchangers by preference; like net.Resolver
// it leaves out a host that is not a domain name (nor an address), and
// then says so with a (temporary) error beside the rest.
func (r *dnsResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	name = fqdn(name)
	a := r.answer(ctx, name, dns.TypeMX)
	if a.failed() {
		return nil, a.dnsError(name, r.addr)
	}
	out := make([]*net.MX, 0, len(a.rrs))
	for _, rr := range a.rrs {
		mx := rr.(*dns.MX)
		if !isDomainName(mx.Mx) {
			if ip, err := netip.ParseAddr(strings.TrimSuffix(mx.Mx, ".")); err != nil || ip.Zone() != "" {
				continue
			}
		}
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	slices.SortStableFunc(out, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	if len(out) != len(a.rrs) {
		return out, malformed(name, a)
	}
	return out, nil
}

// LookupIPAddr asks for the A and the AAAA records at once. As with
// net.Resolver's StrictErrors, a temporary failure of either is the
// answer, so a network fault cannot make a dual-stack host look
// single-stack; a name with neither is not found. IPv4 addresses come
// first (the order is no part of the contract: SPF tests membership).
func (r *dnsResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	name := fqdn(host)
	if !isDomainName(name) {
		return nil, notFoundError(name, "")
	}
	pa, paaaa := r.start(ctx, name, dns.TypeA), r.start(ctx, name, dns.TypeAAAA)
	a, aaaa := r.wait(ctx, pa), r.wait(ctx, paaaa)
	for _, x := range []*dnsAnswer{a, aaaa} {
		if x.temporary() {
			return nil, x.dnsError(name, r.addr)
		}
	}
	var out []net.IPAddr
	for _, rr := range append(slices.Clip(a.rrs), aaaa.rrs...) {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, net.IPAddr{IP: rr.A.To4()})
		case *dns.AAAA:
			out = append(out, net.IPAddr{IP: rr.AAAA})
		}
	}
	if len(out) == 0 {
		return nil, a.dnsError(name, r.addr)
	}
	return out, nil
}

// LookupAddr returns the names of an address (PTR records); like
// net.Resolver it leaves out a name that is not a domain name, and then
// says so with a (temporary) error beside the rest.
func (r *dnsResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	arpa, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "unrecognized address", Name: addr, IsTemporary: true}
	}
	a := r.answer(ctx, arpa, dns.TypePTR)
	if a.failed() {
		return nil, a.dnsError(arpa, r.addr) // net.Resolver names the name it asked
	}
	out := make([]string, 0, len(a.rrs))
	for _, rr := range a.rrs {
		if p := rr.(*dns.PTR).Ptr; isDomainName(p) {
			out = append(out, p)
		}
	}
	if len(out) != len(a.rrs) {
		return out, malformed(addr, a)
	}
	return out, nil
}

// malformed is net.Resolver's error for records with invalid names,
// temporary here as every failure but "no such name".
func malformed(name string, a *dnsAnswer) error {
	return &net.DNSError{Err: "DNS response contained records which contain invalid names",
		Name: name, Server: a.server, IsTemporary: true}
}

// noResolver is the resolver of a gateway configured without one: every
// question is a temporary failure, so nothing is authenticated by DNS.
type noResolver struct{}

func errNoResolver(name string) error {
	return &net.DNSError{Err: "no resolver configured", Name: name, IsTemporary: true}
}

func (noResolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	return nil, errNoResolver(name)
}
func (noResolver) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return nil, errNoResolver(name)
}
func (noResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, errNoResolver(host)
}
func (noResolver) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, errNoResolver(addr)
}
