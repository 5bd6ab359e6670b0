package main

import (
	"net"
	"time"

	"github.com/casegate/casegate/gateway"
)

// protection is the gateway's loop protection from the config.
func protection(cfg Config) gateway.Protection {
	return gateway.Protection{
		HardBounceLimit:    cfg.Outbound.HardBounceLimit,
		BudgetPerRecipient: cfg.Outbound.BudgetPerRecipient,
		BudgetPerCase:      cfg.Outbound.BudgetPerCase,
		BudgetPerSource:    cfg.Outbound.BudgetPerSource,
		BreakerLimit:       cfg.Outbound.CircuitBreaker,
		BreakerWindow:      time.Duration(cfg.Outbound.CircuitBreakerWindow),
		MaxReceivedHops:    cfg.SMTP.MaxReceivedHops,
	}
}

// limitSMTP wraps the SMTP listener with the connection limits.
func (m *Main) limitSMTP(ln net.Listener) net.Listener {
	log := m.Log.With("component", "smtp")
	return gateway.LimitListener(ln, gateway.ConnLimits{
		MaxConnections:    m.Config.SMTP.MaxConnections,
		MaxPerIPPerMinute: m.Config.SMTP.MaxConnectionsPerIPPerMinute,
		Exempt:            m.Config.isTrustedRelay,
		OnRefuse: func(remote, why string) {
			log.Warn("smtp: connection refused", "remote", remote, "reason", why)
		},
	})
}
