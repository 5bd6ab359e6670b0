package gateway

import (
	"sync"
	"sync/atomic"
	"time"
)

// Protection bounds what the gateway mails on its own (SPEC §3, §4): hard
// bounces before an address is undeliverable, hourly budgets per recipient
// and per case, a global circuit breaker, and the Received hops a mail may
// have travelled. Zero fields take the defaults of withDefaults.
type Protection struct {
	// HardBounceLimit permanent bounces, each attributed to a notification
	// we sent, make an address undeliverable until an agent clears it.
	HardBounceLimit int
	// BudgetPerRecipient is how many notifications one address may be
	// sent per hour; more are suppressed (and recorded), not delayed.
	BudgetPerRecipient int
	// BudgetPerCase is how many notifications one case may cause per hour.
	BudgetPerCase int
	// BudgetPerSource is how many notifications the mails of one source
	// (budget.go: authenticated domain, else original client) may cause
	// per hour. It stays well below BreakerLimit, so no one source can
	// open the circuit breaker and hold everybody's mail.
	BudgetPerSource int
	// MailboxProviders are domains whose addresses belong to unrelated
	// people (gmail.com, outlook.com, …): an authenticated mail from one
	// of them is a source of its own per address, not one source for the
	// whole domain (budget.go). Nil: DefaultMailboxProviders.
	MailboxProviders []string
	// BreakerLimit mails sent within BreakerWindow open the circuit
	// breaker: the worker stops sending (rows stay pending, nothing is
	// lost) until the count within the window drops below the limit.
	// BreakerPerDomain mails to one recipient domain per window at most;
	// more are scheduled into later windows (breaker.go).
	BreakerLimit     int
	BreakerPerDomain int
	BreakerWindow    time.Duration
	// MaxReceivedHops: a mail with more Received headers is quarantined
	// as "too_many_hops" (RFC 5321 §6.3).
	MaxReceivedHops int
	// MaxWatchersPerMail Cc addresses of one mail become watchers at most
	// (amplify.go).
	MaxWatchersPerMail int
	// UnauthenticatedNotices says which watchers added by a mail not known
	// to be authenticated are told: NoticesSameDomain (default),
	// NoticesNone or NoticesAll.
	UnauthenticatedNotices string
}

func (p Protection) withDefaults() Protection {
	if p.HardBounceLimit <= 0 {
		p.HardBounceLimit = 3
	}
	if p.BudgetPerRecipient <= 0 {
		p.BudgetPerRecipient = 20
	}
	if p.BudgetPerCase <= 0 {
		p.BudgetPerCase = 50
	}
	if p.BudgetPerSource <= 0 {
		p.BudgetPerSource = 200
	}
	if p.BreakerLimit <= 0 {
		p.BreakerLimit = 500000
	}
	if p.BreakerPerDomain <= 0 {
		p.BreakerPerDomain = 50000
	}
	if p.BreakerWindow <= 0 {
		p.BreakerWindow = 10 * time.Minute
	}
	if p.MaxReceivedHops <= 0 {
		p.MaxReceivedHops = 50
	}
	if p.MaxWatchersPerMail <= 0 {
		p.MaxWatchersPerMail = 10
	}
	if p.UnauthenticatedNotices == "" {
		p.UnauthenticatedNotices = NoticesSameDomain
	}
	if p.MailboxProviders == nil {
		p.MailboxProviders = DefaultMailboxProviders()
	}
	return p
}

// DefaultMailboxProviders are the large providers of personal mailboxes
// whose domains are shared by many unrelated senders.
func DefaultMailboxProviders() []string {
	return []string{
		"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
		"yahoo.com", "ymail.com", "aol.com", "icloud.com", "me.com", "mac.com",
		"proton.me", "protonmail.com", "gmx.com", "gmx.net", "gmx.de", "web.de",
		"mail.com", "zoho.com", "yandex.ru", "mail.ru", "qq.com", "163.com",
	}
}

// protection is the configured protection with defaults filled in.
func (g *Gateway) protection() Protection { return g.rules().Protection.withDefaults() }

// opsState is the gateway's operational state: the VERP key once loaded,
// the circuit breaker's last count and whether it was last seen open.
type opsState struct {
	mu      sync.Mutex
	verpKey []byte
	sent    int       // mails sent within the breaker's window, as last read
	sentAt  time.Time // when it was read

	breakerOpen atomic.Bool
}
