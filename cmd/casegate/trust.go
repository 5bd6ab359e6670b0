package main

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/casegate/casegate/gateway"
)

// AuthConfig is sender authentication (README "Trust model").
type AuthConfig struct {
	// Resolver is the DNS server every DKIM, SPF and DMARC question goes
	// to (host:port), or "system" for the servers of /etc/resolv.conf.
	Resolver string   `yaml:"resolver"`
	Timeout  Duration `yaml:"timeout"` // all lookups of one mail
	// AuthservID: Authentication-Results fields under this id, added by
	// a trusted relay, are believed ("" = none are).
	AuthservID string `yaml:"authserv_id"`
	// TrustedRelays are our MX and content filters (CIDRs or addresses):
	// the client their Received field names is the original one, and
	// their Authentication-Results and spam verdicts are believed.
	TrustedRelays []string `yaml:"trusted_relays"`
}

// DKIMConfig is the signing key of outbound mail; no key_file = unsigned.
type DKIMConfig struct {
	Domain   string `yaml:"domain"`
	Selector string `yaml:"selector"`
	KeyFile  string `yaml:"key_file"`
}

func defaultAuthConfig() AuthConfig {
	return AuthConfig{Resolver: "127.0.0.1:53", Timeout: Duration(10 * time.Second), TrustedRelays: []string{}}
}

// validateTrust checks the auth, dkim and trust policy keys.
func (c *Config) validateTrust(bad func(key, format string, args ...any)) {
	if c.Auth.Resolver != "system" {
		if _, _, err := net.SplitHostPort(c.Auth.Resolver); err != nil {
			bad("auth.resolver", "%q must be host:port or system", c.Auth.Resolver)
		}
	}
	if c.Auth.Timeout <= 0 {
		bad("auth.timeout", "must be positive")
	}
	if strings.ContainsAny(c.Auth.AuthservID, " ;\t") {
		bad("auth.authserv_id", "%q must be a single host name", c.Auth.AuthservID)
	}
	for i, r := range c.Auth.TrustedRelays {
		if _, err := parseRelay(r); err != nil {
			bad(fmt.Sprintf("auth.trusted_relays[%d]", i), "%q is not an address or CIDR", r)
		}
	}
	oneOf := func(key, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(key, "%q must be %s", v, strings.Join(allowed, " or "))
	}
	oneOf("policy.dmarc_fail", c.Policy.DMARCFail, "new_case", "quarantine")
	oneOf("policy.auth_temperror", c.Policy.AuthTempError, "unauthenticated", "retry")
	oneOf("policy.spam", c.Policy.Spam, "quarantine", "store")
	if c.Outbound.BudgetPerSource < 1 {
		bad("outbound.budget_per_source_per_hour", "%d must be at least 1", c.Outbound.BudgetPerSource)
	}
	d := c.DKIM
	if d.KeyFile == "" {
		return
	}
	if d.Selector == "" || strings.ContainsAny(d.Selector, " ;@") {
		bad("dkim.selector", "%q must be set with dkim.key_file", d.Selector)
	}
	_, _, fromDomain := splitFrom(c.Outbound.From)
	if d.Domain == "" || !(fromDomain == strings.ToLower(d.Domain) || strings.HasSuffix(fromDomain, "."+strings.ToLower(d.Domain))) {
		bad("dkim.domain", "%q must be the domain of outbound.from (%s) or a parent of it", d.Domain, fromDomain)
	}
}

// splitFrom returns the local part and domain of the outbound From.
func splitFrom(from string) (addr, local, domain string) {
	addr = from
	if i := strings.LastIndexByte(from, '<'); i >= 0 {
		addr = strings.TrimSuffix(from[i+1:], ">")
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, addr, ""
	}
	return addr, addr[:at], strings.ToLower(addr[at+1:])
}

// parseRelay reads an address or CIDR.
func parseRelay(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// authConfig is the gateway's sender authentication from the config.
func authConfig(cfg Config) gateway.AuthConfig {
	a := gateway.AuthConfig{
		Timeout: time.Duration(cfg.Auth.Timeout), AuthservID: cfg.Auth.AuthservID,
		TempError: cfg.Policy.AuthTempError, DMARCFail: cfg.Policy.DMARCFail, Spam: cfg.Policy.Spam,
	}
	// Each question gets at most half the time of all of a mail's checks.
	if r, err := gateway.NewResolver(cfg.Auth.Resolver, a.Timeout/2); err == nil {
		a.Resolver = r
	}
	for _, s := range cfg.Auth.TrustedRelays {
		if p, err := parseRelay(s); err == nil {
			a.TrustedRelays = append(a.TrustedRelays, p)
		}
	}
	return a
}

// dkimConfig loads the signing key, if one is configured.
func dkimConfig(cfg Config) (gateway.DKIMConfig, error) {
	d := cfg.DKIM
	if d.KeyFile == "" {
		return gateway.DKIMConfig{}, nil
	}
	key, err := gateway.LoadDKIMKey(d.KeyFile)
	if err != nil {
		return gateway.DKIMConfig{}, fmt.Errorf("dkim.key_file %s: %w", d.KeyFile, err)
	}
	return gateway.DKIMConfig{Domain: strings.ToLower(d.Domain), Selector: d.Selector, Key: key}, nil
}
