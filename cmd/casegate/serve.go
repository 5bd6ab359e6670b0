package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/gateway/imappoll"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/gateway/web"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// Main is the running gateway: the wiring of config, store, templates,
// listeners and workers. Tests start the very same wiring on :0 ports in a
// temporary directory.
type Main struct {
	Config Config
	// ConfigPath is the file Config came from ("" = embedded defaults);
	// Reload reads it again.
	ConfigPath string
	Log        *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Sender overrides the outbound sender chosen from the config (tests).
	Sender outbound.Sender

	Store    *store.Store
	Gateway  *gateway.Gateway
	SMTPAddr string // the listening addresses, once Run returned
	HTTPAddr string

	smtp *smtp.Server
	http *http.Server
	// The listeners, closed by Close whether or not Serve got to them.
	listeners []net.Listener
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	close     sync.Once
	closed    error
	reload    reloadState
}

// Run opens everything and starts serving; it returns once the listeners
// are up. Close stops it.
func (m *Main) Run(ctx context.Context) error {
	if m.Log == nil {
		m.Log = slog.Default()
	}
	cfg := m.Config
	m.reload.applied = cfg
	st, err := openConfiguredStore(ctx, cfg, store.Options{Now: m.Now, BackgroundCheckpoint: true})
	if err != nil {
		return err
	}
	m.Store = st
	tpl, err := templates.New(cfg.TemplatesDir)
	if err != nil {
		return err
	}
	gc := m.gatewayConfig()
	if gc.DKIM, err = dkimConfig(cfg); err != nil {
		return err
	}
	if m.Gateway, err = gateway.New(gc, st, tpl, m.Log); err != nil {
		return err
	}
	pool, err := m.outboundPool()
	if err != nil {
		return err
	}
	pollers, err := m.imapPollers()
	if err != nil {
		return err
	}
	tlsCfg, err := m.smtpTLS()
	if err != nil {
		return err
	}
	spoolDir := spoolDir(cfg)
	if err := gateway.PrepareSpool(spoolDir); err != nil {
		return err
	}
	m.smtp = m.Gateway.NewSMTPServer(gateway.SMTPConfig{
		MaxMessageBytes: cfg.SMTP.MaxMessageBytes, MaxRecipients: cfg.SMTP.MaxRecipients, TLS: tlsCfg,
		MaxLineBytes: cfg.SMTP.MaxLineBytes, MaxHeaderBytes: cfg.SMTP.MaxHeaderBytes,
		ReadTimeout: time.Duration(cfg.SMTP.ReadTimeout), WriteTimeout: time.Duration(cfg.SMTP.WriteTimeout),
		SpoolDir: spoolDir, MaxBytesInMemory: max(cfg.SMTP.MaxBytesInMemory, cfg.SMTP.MaxMessageBytes),
	})
	smtpLn, err := net.Listen("tcp", cfg.SMTP.Listen)
	if err != nil {
		return fmt.Errorf("smtp.listen: %w", err)
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		smtpLn.Close()
		return fmt.Errorf("http.listen: %w", err)
	}
	m.SMTPAddr, m.HTTPAddr = smtpLn.Addr().String(), httpLn.Addr().String()
	m.listeners = []net.Listener{smtpLn, httpLn}
	httpLimits := m.httpLimits()
	handler, err := web.New(m.Gateway, m.webConfig())
	if err != nil {
		smtpLn.Close()
		httpLn.Close()
		return err
	}
	m.http = web.NewServer(handler, httpLimits, m.Log)

	ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.goSafe("smtp", func() error { return ignoreClosed(m.smtp.Serve(m.Gateway.SMTPListener(m.limitSMTP(smtpLn)))) })
	m.goSafe("http", func() error { return ignoreClosed(m.http.Serve(web.LimitListener(httpLn, httpLimits))) })
	m.goSafe("outbound", func() error { return pool.Run(ctx) })
	m.goSafe("scheduler", func() error { return m.Gateway.RunScheduler(ctx, time.Minute) })
	for _, p := range pollers {
		m.goSafe("imap "+p.Name(), func() error { return p.Run(ctx) })
	}
	m.Log.Info("casegate serving", "smtp", m.SMTPAddr, "http", m.HTTPAddr, "data_dir", cfg.DataDir,
		"database", st.Backend(), "instance", m.Gateway.InstanceID())
	return nil
}

func (m *Main) gatewayConfig() gateway.Config { return gatewayConfig(m.Config) }

// gatewayConfig is what the gateway needs of cfg.
func gatewayConfig(cfg Config) gateway.Config {
	gc := gateway.Config{
		Hostname: cfg.Hostname, CasePrefix: cfg.CasePrefix, Agents: cfg.Agents, Accounts: cfg.Accounts,
		From: cfg.Outbound.From, PublicURL: cfg.PublicURL, UnknownSender: cfg.Policy.UnknownSender,
		MaxMessageBytes: cfg.SMTP.MaxMessageBytes, SpoolDir: spoolDir(cfg), OutboxLifetime: time.Duration(cfg.Outbound.Lifetime),
		Survey: cfg.Policy.Survey, AutoCloseAfter: time.Duration(cfg.Policy.AutoCloseAfter),
		Retention:  time.Duration(cfg.Policy.Retention),
		Protection: protection(cfg), Auth: authConfig(cfg),
		TeamAddress: cfg.TeamAddress, SharedAccounts: cfg.Portal.SharedAccounts,
		InstanceID: instanceID(cfg), Lease: time.Duration(cfg.InstanceLease),
	}
	for _, a := range cfg.Addresses {
		gc.Addresses = append(gc.Addresses, gateway.Address{Address: a.Address, Kind: a.Kind})
	}
	gc.Auth.Rspamd = rspamdChecker(cfg)
	return gc
}

// rspamdChecker is the direct spam check of cfg; nil without rspamd.url.
func rspamdChecker(cfg Config) *gateway.Rspamd {
	r := cfg.Rspamd
	if r.URL == "" {
		return nil
	}
	c, err := gateway.NewRspamd(gateway.RspamdConfig{URL: r.URL, Timeout: time.Duration(r.Timeout),
		Password: os.Getenv(r.PasswordEnv), OnError: r.OnError})
	if err != nil {
		return nil // validate refused such a config already
	}
	return c
}

// imapPollers builds one poller per configured mailbox.
func (m *Main) imapPollers() ([]*imappoll.Poller, error) {
	var out []*imappoll.Poller
	sink := m.Gateway.IMAPSink()
	for i, mb := range m.Config.IMAP {
		password := os.Getenv(mb.PasswordEnv)
		if password == "" {
			return nil, fmt.Errorf("imap[%d] %s: the password is read from $%s, which is empty", i, mb.Name, mb.PasswordEnv)
		}
		p, err := imappoll.New(imappoll.Config{
			Name: mb.Name, Address: mb.Address, TLS: mb.TLS, Username: mb.Username, Password: password,
			Folder: mb.Folder, After: mb.After, Kind: mb.Kind, Forwarding: mb.Forwarding, MaxMessageBytes: m.Config.SMTP.MaxMessageBytes,
			SpoolDir: spoolDir(m.Config), BatchSize: mb.BatchSize,
		}, sink, sink, m.Log.With("component", "imap"))
		if err != nil {
			return nil, fmt.Errorf("imap[%d] %s: %w", i, mb.Name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// webConfig is what the HTTP side needs of the config.
func (m *Main) webConfig() web.Config {
	c := m.Config
	wc := web.Config{Tokens: web.ParseTokens(os.Getenv(c.HTTP.TokensEnv)), Log: m.Log.With("component", "http"),
		SecureCookies: strings.HasPrefix(c.PublicURL, "https://"), SessionLifetime: time.Duration(c.HTTP.SessionLifetime)}
	if u, err := url.Parse(c.PublicURL); err == nil {
		wc.PublicHost = u.Host
	}
	for _, p := range c.HTTP.TrustedProxies {
		if pfx, err := parsePrefix(p); err == nil { // checked by validate
			wc.TrustedProxies = append(wc.TrustedProxies, pfx)
		}
	}
	return wc
}

// outboundPool is the sender pool on the gateway's outbox.
func (m *Main) outboundPool() (*outbound.Pool, error) {
	sender, err := m.sender()
	if err != nil {
		return nil, err
	}
	out, box := m.Config.Outbound, m.Gateway.Outbox()
	return outbound.New(outbound.Config{
		Concurrency: out.Concurrency,
		Retry:       outbound.RetryPolicy{First: time.Duration(out.RetryFirst), Max: time.Duration(out.RetryMax)},
		Renew:       m.Gateway.Lease() / 3,
		Log:         m.Log.With("component", "outbound"),
		Panicked:    box.NotePanic,
		StoreFailed: box.StoreFailed,
	}, box, box, box, sender)
}

// sender is the relay when one is configured, else the local Maildir.
func (m *Main) sender() (outbound.Sender, error) {
	if m.Sender != nil {
		return m.Sender, nil
	}
	out := m.Config.Outbound
	if out.Relay == "" {
		return outbound.NewMaildirSender(filepath.Join(m.Config.DataDir, "maildir"), m.Config.Hostname)
	}
	s, err := outbound.NewRelaySender(outbound.RelayConfig{
		Address: out.Relay, TLS: out.TLS, CAFile: out.TLSCAFile, Username: out.Username,
		Password: os.Getenv(out.PasswordEnv), HELO: m.Config.Hostname, Log: m.Log.With("component", "outbound"),
	})
	if err != nil {
		return nil, fmt.Errorf("outbound: %w", err)
	}
	return s, nil
}

func (m *Main) smtpTLS() (*tls.Config, error) {
	if m.Config.SMTP.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(m.Config.SMTP.TLSCert, m.Config.SMTP.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("smtp.tls_cert: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// goSafe runs fn in a goroutine that recovers and logs a panic.
func (m *Main) goSafe(name string, fn func() error) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				m.Log.Error("recovered panic", "where", name, "panic", fmt.Sprint(v))
			}
		}()
		if err := fn(); err != nil {
			m.Log.Error("stopped", "component", name, "err", err)
		}
	}()
}

func ignoreClosed(err error) error {
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Close stops accepting, lets the message in hand finish, stops the
// workers and closes the database.
func (m *Main) Close() error {
	m.close.Do(func() { m.closed = m.shutdown() })
	return m.closed
}

func (m *Main) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if m.smtp != nil {
		errs = append(errs, ignoreClosed(m.smtp.Shutdown(ctx)))
	}
	if m.http != nil {
		errs = append(errs, ignoreClosed(m.http.Shutdown(ctx)))
	}
	// A Serve that had not started when Shutdown ran would otherwise
	// accept on its listener forever: closing it ends that Serve too.
	for _, ln := range m.listeners {
		_ = ln.Close()
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}

// instanceID is the configured instance_id; without one, on SQLite (one
// serve per data directory: the pid file sees to it) a fixed id, so that
// a restarted gateway takes back at once what it was sending and polling,
// and on PostgreSQL "" for a new random id at each start.
func instanceID(cfg Config) string {
	if cfg.InstanceID == "" && cfg.Database.Driver != "postgres" {
		return "local"
	}
	return cfg.InstanceID
}
