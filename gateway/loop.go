package gateway

import (
	"context"
	"strings"
	"time"

	"github.com/casegate/casegate/store"
)

// Loop protection (SPEC §3 steps 2, 3 and 7; RFC 3834). Inbound, a mail
// from a machine never causes a mail back: our own mail (loop header, own
// addresses) is ignored, bounces are attributed and answered by nobody,
// and everything markAutomatic flags is stored as an auto-reply — on the
// case it threads to without changing its state, or as a new case without
// a confirmation. Outbound, suppressed keeps every notification from
// addresses that cannot or must not get one, and from recipients and cases
// over their hourly budget, and the mails of one source over its
// (budget.go). The circuit breaker (breaker.go) is the last
// line: it stops all sending when the whole gateway mails too much.

// markAutomatic flags as automatic, beside what the parser found
// (Auto-Submitted other than "no", X-Autoreply, Precedence bulk/junk/list,
// out-of-office subjects), a mailing-list message (List-Id, List-Post,
// List-Unsubscribe; RFC 3834 §2) and a message whose envelope sender or
// From is a machine's: MAILER-DAEMON, owner-*, *-request (RFC 3834 §2) and
// the usual no-reply names. An automatic message never gets a confirmation.
func (g *Gateway) markAutomatic(in *inbound) {
	s := &in.msg.Signals
	if s.AutoReply {
		return
	}
	switch {
	case s.List:
		s.AutoReason = "list message"
	case automaticAddress(in.env.From):
		s.AutoReason = "automatic sender " + in.env.From
	case automaticAddress(in.msg.From.Email):
		s.AutoReason = "automatic sender " + in.msg.From.Email
	default:
		return
	}
	s.AutoReply = true
}

// automaticAddress reports whether addr belongs to a machine that must
// never be answered automatically (RFC 3834 §2 and the usual no-reply
// names).
func automaticAddress(addr string) bool {
	local, _, domain := splitAddress(addr)
	if domain == "" {
		return false
	}
	switch local {
	case "mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply", "listserv", "majordomo":
		return true
	}
	return strings.HasPrefix(local, "owner-") || strings.HasSuffix(local, "-request") ||
		strings.HasSuffix(local, "-owner") || strings.HasPrefix(local, "bounce")
}

// Suppression reasons, recorded with every notification not queued.
const (
	SuppressOwn             = "own_address"
	SuppressNoAddress       = "no_address"
	SuppressAutomatic       = "automatic_address"
	SuppressUndeliverable   = "undeliverable"
	SuppressBudgetRecipient = "budget_recipient"
	SuppressBudgetCase      = "budget_case"
	SuppressBudgetSource    = "budget_source"
	SuppressBreaker         = "circuit_breaker" // no room for the domain within the mail's lifetime
)

// suppressed says why a notification to r about c must not be sent ("" when
// it may be): loop protection, undeliverable addresses and the hourly
// budgets (SPEC §3, §4). A suppressed notification is recorded (table
// suppressions) and logged, never queued: a budget is a brake on a loop,
// and delaying the mail would only move the flood.
func (g *Gateway) suppressed(ctx context.Context, tx *store.Tx, c store.Case, tpl string, r recipient) (string, error) {
	reason, err := g.suppressReason(ctx, tx, c, r)
	if err != nil || reason == "" {
		return reason, err
	}
	return reason, tx.RecordSuppression(ctx, c.ID, tpl, r.Email, reason)
}

func (g *Gateway) suppressReason(ctx context.Context, tx *store.Tx, c store.Case, r recipient) (string, error) {
	switch {
	case r.Email == "" || !strings.Contains(r.Email, "@"):
		return SuppressNoAddress, nil
	case g.isOwn(r.Email) || g.isBounceAddress(r.Email):
		return SuppressOwn, nil
	case automaticAddress(r.Email):
		return SuppressAutomatic, nil
	}
	p := g.protection()
	limit, err := tx.SendAllowance(ctx, store.Budget{Recipient: r.Email, CaseID: c.ID, Source: sourceOf(ctx),
		Since: tx.Now.Add(-time.Hour), PerRecipient: p.BudgetPerRecipient, PerCase: p.BudgetPerCase, PerSource: p.BudgetPerSource})
	switch limit {
	case store.LimitUndeliverable:
		return SuppressUndeliverable, err
	case store.LimitRecipient:
		return SuppressBudgetRecipient, err
	case store.LimitCase:
		return SuppressBudgetCase, err
	case store.LimitSource:
		return SuppressBudgetSource, err
	}
	return "", err
}
