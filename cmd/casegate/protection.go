package main

import (
	"net"
	"strings"
	"time"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/gateway/web"
)

// protection is the gateway's loop protection from the config.
func protection(cfg Config) gateway.Protection {
	providers := []string{} // an empty list in the file: none
	for _, d := range cfg.Outbound.MailboxProviders {
		providers = append(providers, strings.ToLower(strings.TrimSpace(d)))
	}
	return gateway.Protection{
		MailboxProviders:   providers,
		HardBounceLimit:    cfg.Outbound.HardBounceLimit,
		BudgetPerRecipient: cfg.Outbound.BudgetPerRecipient,
		BudgetPerCase:      cfg.Outbound.BudgetPerCase,
		BudgetPerSource:    cfg.Outbound.BudgetPerSource,
		BreakerLimit:       cfg.Outbound.CircuitBreaker,
		BreakerPerDomain:   cfg.Outbound.CircuitBreakerPerDomain,
		BreakerWindow:      time.Duration(cfg.Outbound.CircuitBreakerWindow),
		MaxReceivedHops:    cfg.SMTP.MaxReceivedHops,

		MaxWatchersPerMail:     cfg.Policy.MaxWatchersPerMail,
		UnauthenticatedNotices: cfg.Policy.UnauthenticatedWatcherNotices,
	}
}

// limitSMTP wraps the SMTP listener with the connection limits.
func (m *Main) limitSMTP(ln net.Listener) net.Listener {
	log := m.Log.With("component", "smtp")
	return gateway.LimitListener(ln, gateway.ConnLimits{
		MaxConnections:             m.Config.SMTP.MaxConnections,
		MaxPerIP:                   m.Config.SMTP.MaxConnectionsPerIP,
		MaxPerIPPerMinute:          m.Config.SMTP.MaxConnectionsPerIPPerMinute,
		Exempt:                     m.Gateway.IsTrustedRelay, // as reloaded
		SessionLifetime:            time.Duration(m.Config.SMTP.SessionLifetime),
		MaxCommandsWithoutProgress: m.Config.SMTP.MaxCommandsWithoutProgress,
		OnRefuse: func(remote, why string) {
			log.Warn("smtp: connection refused or cut", "remote", remote, "reason", why)
		},
	})
}

// httpLimits are the HTTP listener's timeouts, sizes and connection caps.
func (m *Main) httpLimits() web.Limits {
	h := m.Config.HTTP
	log := m.Log.With("component", "http")
	return web.Limits{
		ReadHeaderTimeout: time.Duration(h.ReadHeaderTimeout), ReadTimeout: time.Duration(h.ReadTimeout),
		WriteTimeout: time.Duration(h.WriteTimeout), IdleTimeout: time.Duration(h.IdleTimeout),
		MaxHeaderBytes: h.MaxHeaderBytes, MaxBodyBytes: h.MaxBodyBytes, MaxUploadBytes: h.MaxUploadBytes,
		MaxConnections: h.MaxConnections, MaxPerIP: h.MaxConnectionsPerIP,
		OnRefuse: func(remote, why string) {
			log.Warn("http: connection refused", "remote", remote, "reason", why)
		},
	}
}
