package gateway

import (
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/casegate/casegate/templates"
)

// Reload (SIGHUP, `casegate reload`) changes what the gateway decides
// while it runs: the inbound addresses, the agents, the accounts, the
// policies (unknown_sender, survey, auto_close_after, retention,
// auth_temperror, dmarc_fail, spam), the loop
// protection and the templates. Everything else — hostname, case prefix,
// listeners, the database, the outbound relay, tokens — is fixed at start
// and needs a restart.
//
// A reload swaps one immutable snapshot atomically: a message being
// classified sees the old or the new rules, never a mix of a half-written
// one. Until the first reload the rules are the start configuration itself.

// liveConfig is a reloaded configuration and its templates.
type liveConfig struct {
	cfg Config
	tpl *templates.Set
}

// rules is the configuration in force: the last reload's, or the start
// configuration. Read the reloadable fields (see Reload) through it.
func (g *Gateway) rules() *Config {
	if l := g.live.Load(); l != nil {
		return &l.cfg
	}
	return &g.cfg
}

// templateSet is the template set in force.
func (g *Gateway) templateSet() *templates.Set {
	if l := g.live.Load(); l != nil {
		return l.tpl
	}
	return g.templates
}

// Reload puts cfg's addresses, agents, accounts, policies and protection,
// its DKIM signing key, and the templates tpl, in force for everything that follows. The other
// fields of cfg are ignored: they stay as the gateway started. A config
// the gateway could not run with is refused and changes nothing.
func (g *Gateway) Reload(cfg Config, tpl *templates.Set) error {
	if len(cfg.Addresses) == 0 {
		return errors.New("reload: no inbound addresses")
	}
	if tpl == nil {
		return errors.New("reload: no templates")
	}
	next := g.cfg // the fixed fields, as started
	next.Addresses = make([]Address, len(cfg.Addresses))
	for i, a := range cfg.Addresses {
		next.Addresses[i] = Address{Address: strings.ToLower(a.Address), Kind: a.Kind}
	}
	next.Agents = append([]string(nil), cfg.Agents...)
	next.Accounts = make(map[string]string, len(cfg.Accounts))
	for d, a := range cfg.Accounts {
		next.Accounts[d] = a
	}
	next.UnknownSender, next.Survey = cfg.UnknownSender, cfg.Survey
	next.AutoCloseAfter = cfg.AutoCloseAfter
	if next.AutoCloseAfter <= 0 {
		next.AutoCloseAfter = 7 * 24 * time.Hour
	}
	next.Retention = cfg.Retention
	next.Protection = cfg.Protection
	// Of sender authentication, everything: the policies, the resolver
	// and its timeout (a nil Resolver keeps the one in force, with its
	// cache), the trusted relays, the authserv-id, the direct rspamd
	// check.
	next.Auth.TempError, next.Auth.DMARCFail, next.Auth.Spam = cfg.Auth.TempError, cfg.Auth.DMARCFail, cfg.Auth.Spam
	next.Auth.TrustedRelays = append([]netip.Prefix(nil), cfg.Auth.TrustedRelays...)
	next.Auth.AuthservID = cfg.Auth.AuthservID
	next.Auth.Rspamd = cfg.Auth.Rspamd
	next.Auth.Timeout = cfg.Auth.Timeout
	if cfg.Auth.Resolver != nil {
		next.Auth.Resolver = cfg.Auth.Resolver
	} else {
		next.Auth.Resolver = g.rules().Auth.Resolver
	}
	// The signing key: a new key or selector signs every mail sent from
	// now on, those queued before included (they are signed as they go).
	next.DKIM = cfg.DKIM
	next.TeamAddress = strings.ToLower(cfg.TeamAddress)
	next.SharedAccounts = append([]string(nil), cfg.SharedAccounts...)
	g.live.Store(&liveConfig{cfg: next, tpl: tpl})
	return nil
}
