package gateway

import (
	"context"
	"slices"
	"strings"
)

// Budgets per source (SPEC §3, loop.go): what the mails of one source may
// make us send within an hour. A source is never the From header alone,
// which anyone writes: it is the authenticated domain (its organizational
// domain, so subdomains share it), else the original client's address (a
// /64 for IPv6, which one host usually holds whole), else, for mail with
// neither (a mailbox, a pipe), the transport it came by. Behind a trusted
// relay the original client is the one the relay's Received field names
// (authpath.go), so the relay itself is never one source. The domain of a
// large mailbox provider (Protection.MailboxProviders) is shared by
// people who have nothing to do with each other: an authenticated mail
// from one is the source of its From address, which the provider's
// aligned signature vouches for, so that the customers writing from
// gmail.com do not share one budget.

// sourceKey is the budget key of an inbound message.
func (g *Gateway) sourceKey(in *inbound) string {
	if in.auth != nil && in.auth.Authenticated {
		domain := orgDomain(in.auth.AlignedDomain)
		if slices.Contains(g.protection().MailboxProviders, domain) && in.msg != nil && in.msg.From.Email != "" {
			return "address:" + strings.ToLower(in.msg.From.Email)
		}
		return "domain:" + domain
	}
	if c := in.path.Client; c.IsValid() {
		if c.Is6() {
			p, _ := c.Prefix(64)
			return "ip:" + p.String()
		}
		return "ip:" + c.String()
	}
	return "transport:" + in.env.Source
}

type sourceCtxKey struct{}

// withSource marks ctx as the handling of a mail from source: every
// notification queued under it counts against that source's budget.
func withSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceCtxKey{}, source)
}

// sourceOf is the source ctx is handling a mail of ("" for an agent's or
// operator's action, which no source budget limits).
func sourceOf(ctx context.Context) string {
	s, _ := ctx.Value(sourceCtxKey{}).(string)
	return s
}
