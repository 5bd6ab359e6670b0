package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Resolver answers the DNS questions of sender authentication (DKIM keys,
// DMARC and SPF records, and the A/MX/PTR lookups SPF may make). Its
// method set is that of *net.Resolver. An implementation must honour the
// context's deadline, and must report a name that does not exist as a
// *net.DNSError with IsNotFound set: every other error is a temporary
// failure (RFC 7208 §2.6.6 temperror, RFC 6376 §6.1.2 TEMPFAIL).
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// NewResolver returns a resolver that asks the DNS server at addr
// (host:port, over UDP and TCP as the answer needs) and nothing else, each
// question within timeout. addr "system" asks the servers of
// /etc/resolv.conf instead.
func NewResolver(addr string, timeout time.Duration) (Resolver, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	r := &net.Resolver{PreferGo: true, StrictErrors: true}
	if addr != "system" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("resolver %q: %w", addr, err)
		}
		r.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(ctx, network, addr)
		}
	}
	return &dnsResolver{r: r, addr: addr, timeout: timeout}, nil
}

// dnsResolver bounds each question by a timeout, asks for absolute names
// only (no search domains), and makes every failure that is not "no such
// name" a temporary one, so a DNS outage is a temperror everywhere.
type dnsResolver struct {
	r       *net.Resolver
	addr    string // the server asked, or "system"
	timeout time.Duration
}

func fqdn(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// ask runs one question within the timeout.
func ask[T any](ctx context.Context, r *dnsResolver, name string, q func(context.Context, string) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	v, err := q(ctx, name)
	err = temporaryUnlessNotFound(err, name)
	var de *net.DNSError
	if r.addr != "system" && errors.As(err, &de) {
		de.Server = r.addr // the Go resolver names the resolv.conf server it did not ask
	}
	return v, err
}

func (r *dnsResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return ask(ctx, r, fqdn(name), r.r.LookupTXT)
}

func (r *dnsResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return ask(ctx, r, fqdn(name), r.r.LookupMX)
}

func (r *dnsResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return ask(ctx, r, fqdn(host), r.r.LookupIPAddr)
}

func (r *dnsResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return ask(ctx, r, addr, r.r.LookupAddr)
}

// temporaryUnlessNotFound classifies a lookup error: "no such name" stays
// as it is, anything else becomes a temporary *net.DNSError.
func temporaryUnlessNotFound(err error, name string) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		c := *de
		c.IsTemporary = c.IsTemporary || !c.IsNotFound
		return &c
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
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
