package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"

	"github.com/casegate/casegate/gateway/spool"
)

// Sender authentication (RFC 6376 DKIM, RFC 7208 SPF, RFC 7489 DMARC,
// RFC 8601 Authentication-Results). The From header alone never says who
// wrote a mail: a mail is authenticated for its From domain when a DKIM
// signature of an aligned domain verifies, or SPF passes for an aligned
// envelope domain from the original client, or our own MX (a trusted relay
// adding Authentication-Results under the configured authserv-id) says so.
// Every DNS question goes through the configured resolver, within
// AuthConfig.Timeout, before the store's write transaction is opened.
//
// What the verdict decides (ingest.go, thread.go, replies.go):
//   - agent commands and agent identity need an authenticated agent mail;
//     an unauthenticated one is a customer's mail from that address;
//   - a mail that fails DMARC for a domain asking for enforcement
//     (p=quarantine or p=reject) acts on no existing case: it becomes its
//     sender's own new case, or is quarantined (AuthConfig.DMARCFail);
//   - a domain without DMARC is taken as before, and the trace says so;
//   - the budgets of what one source may make us send count the
//     authenticated domain, else the original client's address.

// AuthConfig is the sender authentication of the deployment (config keys
// auth.* and policy.dmarc_fail, policy.auth_temperror, policy.spam).
type AuthConfig struct {
	Resolver      Resolver       // nil: no DNS; every check is temperror
	Timeout       time.Duration  // for all checks of one mail (default 10s)
	AuthservID    string         // Authentication-Results believed under this id ("" = none)
	TrustedRelays []netip.Prefix // our MX and filters: their Received fields and verdicts are believed
	TempError     string         // unauthenticated (default) | retry: a DNS failure answers 451
	DMARCFail     string         // new_case (default) | quarantine
	Spam          string         // quarantine (default) | store
	Rspamd        *Rspamd        // the direct spam check (rspamd.go); nil = none
}

func (a AuthConfig) withDefaults() AuthConfig {
	if a.Resolver == nil {
		a.Resolver = noResolver{}
	}
	if a.Timeout <= 0 {
		a.Timeout = 10 * time.Second
	}
	if a.TempError == "" {
		a.TempError = "unauthenticated"
	}
	if a.DMARCFail == "" {
		a.DMARCFail = "new_case"
	}
	if a.Spam == "" {
		a.Spam = "quarantine"
	}
	return a
}

// Check is the result of one method (RFC 8601 §2.7 result names, and
// "skipped" when a method could not be applied).
type Check struct {
	Result  string `json:"result"`
	Domain  string `json:"domain,omitempty"`
	Aligned bool   `json:"aligned,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// DMARCCheck is the DMARC evaluation and the policy the domain publishes.
type DMARCCheck struct {
	Result string `json:"result"`           // pass | fail | none | temperror | permerror
	Domain string `json:"domain,omitempty"` // where the record was found
	Policy string `json:"policy,omitempty"` // none | quarantine | reject
	Detail string `json:"detail,omitempty"`
}

// AuthVerdict is the sender authentication of one message, kept with the
// message (headers JSON "auth"), in its decision trace and in `casegate
// classify --json`.
type AuthVerdict struct {
	FromDomain    string     `json:"from_domain"`
	Authenticated bool       `json:"authenticated"`
	AlignedDomain string     `json:"aligned_domain,omitempty"` // the From domain, when authenticated
	Via           string     `json:"via,omitempty"`            // dkim | spf | authentication_results
	TempError     bool       `json:"temperror,omitempty"`      // a DNS failure left it undecided
	DKIM          []Check    `json:"dkim"`
	SPF           Check      `json:"spf"`
	DMARC         DMARCCheck `json:"dmarc"`
	// AuthResults are the methods our trusted MX reported; Ignored counts
	// Authentication-Results fields claiming our authserv-id that it did
	// not add.
	AuthResults []Check `json:"authentication_results,omitempty"`
	Ignored     int     `json:"authentication_results_ignored,omitempty"`
	Client      string  `json:"client,omitempty"` // the original client's address
	Relay       string  `json:"relay,omitempty"`  // the trusted relay it came through
}

// Enforced reports whether the mail failed DMARC for a domain that asks
// receivers to enforce it (p=quarantine or p=reject).
func (v *AuthVerdict) Enforced() bool {
	return v != nil && !v.Authenticated && v.DMARC.Result == "fail" &&
		(v.DMARC.Policy == "quarantine" || v.DMARC.Policy == "reject")
}

// authenticate checks the message's sender. It asks DNS, so it runs before
// the write transaction; it never fails: a DNS failure is a temperror in
// the verdict.
func (g *Gateway) authenticate(ctx context.Context, in *inbound) (v *AuthVerdict) {
	a := g.rules().Auth.withDefaults()
	v = &AuthVerdict{DKIM: []Check{}}
	defer func() {
		if r := recover(); r != nil {
			g.notePanic("authenticate", r)
			*v = AuthVerdict{DKIM: []Check{}, TempError: true, DMARC: DMARCCheck{Result: "temperror", Detail: "internal error"}}
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	_, _, v.FromDomain = splitAddress(in.msg.From.Email)
	if p := in.path; p.Client.IsValid() {
		v.Client = p.Client.String()
	}
	if in.path.Relay.IsValid() {
		v.Relay = in.path.Relay.String()
	}
	v.DKIM = g.checkDKIM(ctx, a.Resolver, in.head, in.mail)
	v.SPF = g.checkSPF(ctx, a.Resolver, in)
	v.AuthResults, v.Ignored = g.trustedAuthResults(in)
	rec, dm := lookupDMARC(ctx, a.Resolver, v.FromDomain)
	v.DMARC = dm
	g.align(v, rec)
	return v
}

// checkDKIM verifies every DKIM-Signature (at most 5).
// head is the start of the message, holding its header section; the
// whole is read from mail (from its spool file, for a large one).
func (g *Gateway) checkDKIM(ctx context.Context, r Resolver, head []byte, mail *spool.Message) []Check {
	out := []Check{}
	if !bytes.Contains(bytes.ToLower(head[:headerSize(head)]), []byte("dkim-signature")) {
		return out
	}
	verifs, err := dkim.VerifyWithOptions(mail.Section(), &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return r.LookupTXT(ctx, name) },
		MaxVerifications: 5,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return append(out, Check{Result: "permerror", Detail: err.Error()})
	}
	for _, vf := range verifs {
		c := Check{Result: "pass", Domain: strings.ToLower(vf.Domain)}
		switch {
		case vf.Err == nil:
		case dkim.IsTempFail(vf.Err):
			c.Result, c.Detail = "temperror", vf.Err.Error()
		case dkim.IsPermFail(vf.Err):
			c.Result, c.Detail = "permerror", vf.Err.Error()
		default:
			c.Result, c.Detail = "fail", vf.Err.Error()
		}
		out = append(out, c)
	}
	return out
}

// checkSPF evaluates SPF for the original client, the envelope sender and
// HELO name (RFC 7208 §2.4: the null sender is checked as postmaster@HELO).
func (g *Gateway) checkSPF(ctx context.Context, r Resolver, in *inbound) Check {
	p := in.path
	if !p.Client.IsValid() {
		return Check{Result: "skipped", Detail: "client address unknown: " + p.How}
	}
	if p.Relay.IsValid() && p.Client == p.Relay {
		return Check{Result: "skipped", Detail: "original client unknown: " + p.How}
	}
	sender := in.env.From
	if sender == "" {
		sender = "postmaster@" + p.HELO
	}
	_, _, domain := splitAddress(sender)
	if domain == "" {
		return Check{Result: "none", Detail: "no envelope domain and no HELO name"}
	}
	res, err := spf.CheckHostWithSender(net.IP(p.Client.AsSlice()), p.HELO, sender,
		spf.WithContext(ctx), spf.WithResolver(r))
	c := Check{Result: string(res), Domain: domain, Detail: "client " + p.Client.String()}
	if err != nil && res != spf.Pass {
		c.Detail += ": " + err.Error()
	}
	return c
}

// lookupDMARC finds the DMARC record of the From domain, or else of its
// organizational domain (RFC 7489 §6.6.3), and the policy that applies
// (sp= for a subdomain when the record is the organizational one).
func lookupDMARC(ctx context.Context, r Resolver, domain string) (*dmarc.Record, DMARCCheck) {
	if domain == "" {
		return nil, DMARCCheck{Result: "none", Detail: "no From domain"}
	}
	opts := &dmarc.LookupOptions{LookupTXT: func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }}
	org := orgDomain(domain)
	for _, d := range []string{domain, org} {
		rec, err := dmarc.LookupWithOptions(d, opts)
		switch {
		case err == nil:
			pol := rec.Policy
			if d != domain && rec.SubdomainPolicy != "" {
				pol = rec.SubdomainPolicy
			}
			return rec, DMARCCheck{Domain: d, Policy: string(pol)}
		case dmarc.IsTempFail(err):
			return nil, DMARCCheck{Result: "temperror", Domain: d, Detail: err.Error()}
		case errors.Is(err, dmarc.ErrNoPolicy):
			if d == org {
				return nil, DMARCCheck{Result: "none", Detail: "no DMARC record for " + domain}
			}
		default:
			return nil, DMARCCheck{Result: "permerror", Domain: d, Detail: err.Error()}
		}
	}
	return nil, DMARCCheck{Result: "none", Detail: "no DMARC record for " + domain}
}

// orgDomain is the organizational domain (RFC 7489 §3.2): the public
// suffix plus one label.
func orgDomain(domain string) string {
	d, err := publicsuffix.EffectiveTLDPlusOne(strings.TrimSuffix(strings.ToLower(domain), "."))
	if err != nil {
		return strings.ToLower(domain)
	}
	return d
}

// aligned reports whether an authenticated domain aligns with the From
// domain (RFC 7489 §3.1): the same domain in strict mode, the same
// organizational domain in relaxed mode.
func aligned(domain, from string, mode dmarc.AlignmentMode) bool {
	domain, from = strings.ToLower(domain), strings.ToLower(from)
	if domain == "" || from == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return domain == from
	}
	return orgDomain(domain) == orgDomain(from)
}

// align marks the aligned passes, decides Authenticated, and completes the
// DMARC result when a record was found.
func (g *Gateway) align(v *AuthVerdict, rec *dmarc.Record) {
	dkimMode, spfMode := dmarc.AlignmentMode(dmarc.AlignmentRelaxed), dmarc.AlignmentMode(dmarc.AlignmentRelaxed)
	if rec != nil {
		dkimMode, spfMode = rec.DKIMAlignment, rec.SPFAlignment
	}
	temp := false
	for i, c := range v.DKIM {
		v.DKIM[i].Aligned = c.Result == "pass" && aligned(c.Domain, v.FromDomain, dkimMode)
		if v.DKIM[i].Aligned && !v.Authenticated {
			v.Authenticated, v.Via = true, "dkim"
		}
		temp = temp || c.Result == "temperror"
	}
	v.SPF.Aligned = v.SPF.Result == "pass" && aligned(v.SPF.Domain, v.FromDomain, spfMode)
	if v.SPF.Aligned && !v.Authenticated {
		v.Authenticated, v.Via = true, "spf"
	}
	temp = temp || v.SPF.Result == "temperror"
	for _, c := range v.AuthResults {
		if c.Aligned && !v.Authenticated {
			v.Authenticated, v.Via = true, "authentication_results"
		}
	}
	if v.Authenticated {
		v.AlignedDomain = v.FromDomain
	}
	if rec != nil {
		switch {
		case v.Authenticated:
			v.DMARC.Result = "pass"
		case temp:
			v.DMARC.Result, v.DMARC.Detail = "temperror", "a DKIM or SPF check failed temporarily"
		default:
			v.DMARC.Result = "fail"
		}
	}
	v.TempError = !v.Authenticated && (temp || v.DMARC.Result == "temperror")
}

// authStep writes the verdict into the decision trace.
func (in *inbound) authStep() {
	v := in.auth
	if v == nil {
		return
	}
	var b strings.Builder
	for _, c := range v.DKIM {
		fmt.Fprintf(&b, "dkim=%s%s ", c.Result, domainNote(c))
	}
	if len(v.DKIM) == 0 {
		b.WriteString("dkim=none (no signature) ")
	}
	fmt.Fprintf(&b, "spf=%s%s ", v.SPF.Result, domainNote(v.SPF))
	if v.SPF.Result == "skipped" {
		fmt.Fprintf(&b, "(%s) ", v.SPF.Detail)
	}
	fmt.Fprintf(&b, "dmarc=%s", v.DMARC.Result)
	if v.DMARC.Policy != "" {
		fmt.Fprintf(&b, " (p=%s)", v.DMARC.Policy)
	}
	for _, c := range v.AuthResults {
		fmt.Fprintf(&b, "; %s", c.Detail)
	}
	result := "fail"
	switch {
	case v.Authenticated:
		result = "pass"
		fmt.Fprintf(&b, "; authenticated as %s by %s", v.AlignedDomain, v.Via)
	case v.TempError:
		result = "temperror"
		b.WriteString("; DNS failed: taken as unauthenticated")
		if d := v.dnsError(); d != "" {
			b.WriteString(" (" + d + ")")
		}
	case v.DMARC.Result == "none":
		result = "none"
		fmt.Fprintf(&b, "; %s publishes no DMARC policy: taken as before", orDash(v.FromDomain))
	}
	in.step("auth", result, b.String())
	if v.Ignored > 0 {
		in.step("auth_results", "ignored", fmt.Sprintf("%d Authentication-Results field(s) claiming our authserv-id were not added by a trusted relay", v.Ignored))
	}
}

// dnsError is the first temporary failure's detail, for the trace.
func (v *AuthVerdict) dnsError() string {
	if v.DMARC.Result == "temperror" && v.DMARC.Domain != "" {
		return v.DMARC.Detail
	}
	for _, c := range append([]Check{v.SPF}, v.DKIM...) {
		if c.Result == "temperror" {
			return c.Detail
		}
	}
	return ""
}

func domainNote(c Check) string {
	switch {
	case c.Domain == "":
		return ""
	case c.Aligned:
		return " (" + c.Domain + ", aligned)"
	}
	return " (" + c.Domain + ")"
}
