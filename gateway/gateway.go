// Package gateway owns casegate's case rules and its protocol code: the SMTP
// listener, the ingestion path every source feeds and the outbound worker.
// The HTTP side (package web) and the command line are its clients: they
// act on cases only through the gateway's exported operations.
//
// Ingestion (SPEC §3) runs in one store transaction per message: the
// message is classified (duplicate, loop, bounce, thread lookup, sender
// check, state rules, auto-reply), stored raw with its decision trace, and
// the case, activity and outbox rows it causes are written with it. Either
// all of that commits or none of it does; only then does a source
// acknowledge the message (SMTP 250, IMAP flag, pipe exit 0). Anything that
// goes wrong before the commit is a temporary error, so the sender keeps the
// mail and tries again; input that can never be accepted is quarantined
// with its raw bytes, which is itself a commit.
//
// The outbound worker reads the outbox and sends each row once it is due,
// recording every attempt before dialling the relay, so a crash never loses
// a notification and a retry reuses the row's Message-ID.
package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync/atomic"
	"time"

	"github.com/casegate/casegate/mailparse"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// LoopHeader marks every mail we send; a mail carrying it with our
// hostname is our own coming back.
const LoopHeader = "X-Casegate-Loop"

// Address is one inbound address and the kind of case it opens.
type Address struct {
	Address string // support@example.com
	Kind    string // case | order
}

// Config is what the gateway needs to know of the deployment. Reload
// replaces Addresses, Agents, Accounts, UnknownSender, Survey,
// AutoCloseAfter, Retention, Protection, TeamAddress and SharedAccounts while the gateway runs: the gateway reads
// those through rules(), the rest from cfg.
type Config struct {
	Hostname        string
	CasePrefix      string
	Addresses       []Address
	Agents          []string          // addresses, or "@domain" for a whole domain
	Accounts        map[string]string // sender domain -> account
	From            string            // "Support <support@localhost>"
	PublicURL       string
	UnknownSender   string // new_case | reject
	MaxMessageBytes int64
	// SpoolDir is where a large message is written while it is handled
	// outside a transport (a replay from the quarantine); "" is the
	// system's temporary directory.
	SpoolDir       string
	OutboxLifetime time.Duration
	Protection     Protection // loop protection, budgets, bounces (protect.go)
	Survey         bool       // send a satisfaction survey after a case is closed
	AutoCloseAfter time.Duration
	Auth           AuthConfig // sender authentication and what it decides (auth.go)
	DKIM           DKIMConfig // signing of our notifications (dkim.go); no key = unsigned
	// TeamAddress gets a mail for every new case and every customer reply
	// on an unassigned case (team.go); "" = none.
	TeamAddress string
	// SharedAccounts are the accounts whose people see each other's cases
	// on the pages (portal.go).
	SharedAccounts []string
	// Retention: the raw mail of cases closed longer ago is purged; 0 =
	// never (retention.go).
	Retention time.Duration
	// InstanceID names this instance in the claims of outbox rows and the
	// leases of mailboxes (instance.go); empty: a new random id.
	InstanceID string
	// Lease is how long those last unless renewed (default DefaultLease).
	Lease time.Duration
}

// Gateway holds the wiring every part of the gateway shares.
type Gateway struct {
	cfg       Config
	store     *store.Store
	templates *templates.Set
	log       *slog.Logger
	parseOpts mailparse.Options
	from      *mail.Address
	panics    atomic.Int64
	wake      chan struct{}              // tells the outbound worker that mail was queued
	ops       opsState                   // VERP key and circuit breaker (protect.go)
	linkKey   []byte                     // signs the links in mails
	disk      storageState               // the last full-disk failure (storage.go)
	live      atomic.Pointer[liveConfig] // the last Reload; nil: cfg and templates (reload.go)
	metrics   *metrics                   // this gateway's Prometheus registry (metrics.go)
	retention retentionState             // what retention and erasure removed (retention.go)
}

// New checks cfg and builds a gateway.
func New(cfg Config, st *store.Store, tpl *templates.Set, log *slog.Logger) (*Gateway, error) {
	if len(cfg.Addresses) == 0 {
		return nil, fmt.Errorf("gateway: no inbound addresses")
	}
	if cfg.CasePrefix == "" {
		cfg.CasePrefix = "CS"
	}
	if cfg.OutboxLifetime <= 0 {
		cfg.OutboxLifetime = 5 * 24 * time.Hour
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("gateway: outbound from %q: %w", cfg.From, err)
	}
	for i, a := range cfg.Addresses {
		cfg.Addresses[i].Address = strings.ToLower(a.Address)
	}
	cfg.TeamAddress = strings.ToLower(strings.TrimSpace(cfg.TeamAddress))
	if cfg.AutoCloseAfter <= 0 {
		cfg.AutoCloseAfter = 7 * 24 * time.Hour
	}
	cfg.InstanceID, cfg.Lease = instanceDefaults(cfg.InstanceID, cfg.Lease)
	key, err := st.Secret(context.Background(), "links")
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	g := &Gateway{linkKey: key,
		cfg: cfg, store: st, templates: tpl, log: log, from: from, wake: make(chan struct{}, 1),
		parseOpts: mailparse.Options{CasePrefix: cfg.CasePrefix, Hostname: cfg.Hostname, LoopHeader: LoopHeader},
	}
	g.metrics = newMetrics(g)
	return g, nil
}

// Panics reports how many panics the gateway recovered from; tests fail
// when it is not zero.
func (g *Gateway) Panics() int64 { return g.panics.Load() }

// kick wakes the outbound worker without blocking.
func (g *Gateway) kick() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// notePanic counts and logs a panic recovered at where.
func (g *Gateway) notePanic(where string, v any) {
	g.panics.Add(1)
	g.log.Error("recovered panic", "where", where, "panic", fmt.Sprint(v))
}

// splitAddress returns the local part, the plus tag and the domain of an
// address, lower-cased.
func splitAddress(addr string) (local, tag, domain string) {
	addr = strings.ToLower(strings.Trim(strings.TrimSpace(addr), "<>"))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, "", ""
	}
	local, domain = addr[:at], addr[at+1:]
	if plus := strings.IndexByte(local, '+'); plus >= 0 {
		local, tag = local[:plus], local[plus+1:]
	}
	return local, tag, domain
}

// inbound returns the configured address rcpt is for (plus-addressing
// included) and its plus tag.
func (g *Gateway) inbound(rcpt string) (Address, string, bool) {
	local, tag, domain := splitAddress(rcpt)
	for _, a := range g.rules().Addresses {
		if a.Address == local+"@"+domain {
			return a, tag, true
		}
	}
	return Address{}, "", false
}

// isOwn reports whether addr is one of ours: an inbound address (with any
// plus tag) or the outbound sender.
func (g *Gateway) isOwn(addr string) bool {
	if _, _, ok := g.inbound(addr); ok {
		return true
	}
	local, _, domain := splitAddress(addr)
	return strings.EqualFold(local+"@"+domain, g.from.Address)
}

// isAgent reports whether addr is a configured agent address or in an agent
// domain.
func (g *Gateway) isAgent(addr string) bool {
	addr = strings.ToLower(addr)
	for _, a := range g.rules().Agents {
		a = strings.ToLower(a)
		if strings.HasPrefix(a, "@") && strings.HasSuffix(addr, a) || a == addr {
			return true
		}
	}
	return false
}

// account maps a sender's domain to its account ("" when unknown).
func (g *Gateway) account(addr string) string {
	_, _, domain := splitAddress(addr)
	for d, acct := range g.rules().Accounts {
		if strings.EqualFold(d, domain) {
			return acct
		}
	}
	return ""
}

// logAfter logs once tx's work is committed (store.Tx.AfterCommit): a
// line about work that was rolled back would be false, and the single
// writer need not spend its time writing it.
func (g *Gateway) logAfter(tx *store.Tx, level slog.Level, msg string, args ...any) {
	tx.AfterCommit(func() { g.log.Log(context.Background(), level, msg, args...) })
}
