package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/casegate/casegate/gateway/imappoll"
	"io"
	"net"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/casegate/casegate/gateway"
)

// Config is casegate.yaml (SPEC §6). Every key has a default; see
// defaultConfig.
type Config struct {
	DataDir      string            `yaml:"data_dir"`
	Hostname     string            `yaml:"hostname"`
	CasePrefix   string            `yaml:"case_prefix"`
	PublicURL    string            `yaml:"public_url"`
	Addresses    []AddressConfig   `yaml:"addresses"`
	Agents       []string          `yaml:"agents"`
	Accounts     map[string]string `yaml:"accounts"`
	SMTP         SMTPConfig        `yaml:"smtp"`
	IMAP         []IMAPConfig      `yaml:"imap"`
	Outbound     OutboundConfig    `yaml:"outbound"`
	HTTP         HTTPConfig        `yaml:"http"`
	Policy       PolicyConfig      `yaml:"policy"`
	TemplatesDir string            `yaml:"templates_dir"`
	TeamAddress  string            `yaml:"team_address"` // mailed about new work (gateway/team.go)
	Portal       PortalConfig      `yaml:"portal"`
	Auth         AuthConfig        `yaml:"auth"` // sender authentication (trust.go)
	DKIM         DKIMConfig        `yaml:"dkim"` // signing of outbound mail (trust.go)
	Database     DatabaseConfig    `yaml:"database"`
	Rspamd       RspamdConfig      `yaml:"rspamd"` // direct spam check (gateway/rspamd.go)
	// Several instances on one database (gateway/instance.go).
	InstanceID    string   `yaml:"instance_id"`    // "" = a new random id at each start
	InstanceLease Duration `yaml:"instance_lease"` // claims on outbox rows, mailbox leases
}

// RspamdConfig is the direct spam check against rspamd, for a deployment
// where nothing in front of casegate filters spam; url "" = none.
type RspamdConfig struct {
	URL         string   `yaml:"url"`          // rspamd's normal worker, http://127.0.0.1:11333
	Timeout     Duration `yaml:"timeout"`      // one check
	PasswordEnv string   `yaml:"password_env"` // the variable with rspamd's password, when it wants one
	OnError     string   `yaml:"on_error"`     // accept | retry: no verdict (rspamd down, soft reject)
}

// DatabaseConfig chooses the database: SQLite under data_dir (one
// instance), or PostgreSQL, which several instances share.
type DatabaseConfig struct {
	Driver string `yaml:"driver"`  // sqlite | postgres
	URLEnv string `yaml:"url_env"` // postgres: the variable holding the connection URL
}

// AddressConfig is one inbound address.
type AddressConfig struct {
	Address string `yaml:"address"`
	Kind    string `yaml:"kind"`
}

// SMTPConfig is the inbound SMTP listener.
type SMTPConfig struct {
	Listen          string `yaml:"listen"`
	MaxMessageBytes int64  `yaml:"max_message_bytes"`
	MaxRecipients   int    `yaml:"max_recipients"`
	TLSCert         string `yaml:"tls_cert"`
	TLSKey          string `yaml:"tls_key"`
	// Limits at the door (gateway/limits.go) and loop detection.
	MaxConnections               int      `yaml:"max_connections"`
	MaxConnectionsPerIP          int      `yaml:"max_connections_per_ip"`
	MaxConnectionsPerIPPerMinute int      `yaml:"max_connections_per_ip_per_minute"`
	SessionLifetime              Duration `yaml:"session_lifetime"`
	MaxCommandsWithoutProgress   int      `yaml:"max_commands_without_progress"`
	MaxLineBytes                 int      `yaml:"max_line_bytes"`
	MaxHeaderBytes               int      `yaml:"max_header_bytes"`
	ReadTimeout                  Duration `yaml:"read_timeout"`
	WriteTimeout                 Duration `yaml:"write_timeout"`
	MaxReceivedHops              int      `yaml:"max_received_hops"`
	// MaxBytesInMemory bounds the bytes of messages parsed and stored at
	// once (gateway/spool.go); never less than MaxMessageBytes.
	MaxBytesInMemory int64 `yaml:"max_bytes_in_memory"`
}

// IMAPConfig is one polled mailbox.
type IMAPConfig struct {
	Name        string `yaml:"name"`
	Address     string `yaml:"address"`
	TLS         string `yaml:"tls"`
	Username    string `yaml:"username"`
	PasswordEnv string `yaml:"password_env"`
	Folder      string `yaml:"folder"`
	After       string `yaml:"after"`
	Kind        string `yaml:"kind"`
	// Forwarding: a support mailbox forwards into this one as attachment;
	// each mail's one attached message is the customer's mail.
	Forwarding bool `yaml:"forwarding"`
	// BatchSize is how many messages of a backlog are fetched and
	// committed together.
	BatchSize int `yaml:"batch_size"`
}

// OutboundConfig is the relay notifications go through.
type OutboundConfig struct {
	From        string   `yaml:"from"`
	Relay       string   `yaml:"relay"`
	TLS         string   `yaml:"tls"`
	TLSCAFile   string   `yaml:"tls_ca_file"`
	Username    string   `yaml:"username"`
	PasswordEnv string   `yaml:"password_env"`
	Concurrency int      `yaml:"concurrency"`
	RetryFirst  Duration `yaml:"retry_first"`
	RetryMax    Duration `yaml:"retry_max"`
	Lifetime    Duration `yaml:"lifetime"`
	// Bounces and loop protection (gateway/protect.go).
	HardBounceLimit         int      `yaml:"hard_bounce_limit"`
	BudgetPerRecipient      int      `yaml:"budget_per_recipient_per_hour"`
	BudgetPerCase           int      `yaml:"budget_per_case_per_hour"`
	BudgetPerSource         int      `yaml:"budget_per_source_per_hour"`
	MailboxProviders        []string `yaml:"mailbox_providers"`
	CircuitBreaker          int      `yaml:"circuit_breaker"`
	CircuitBreakerPerDomain int      `yaml:"circuit_breaker_per_domain"`
	CircuitBreakerWindow    Duration `yaml:"circuit_breaker_window"`
}

// HTTPConfig is the API listener.
type HTTPConfig struct {
	Listen    string `yaml:"listen"`
	TokensEnv string `yaml:"tokens_env"`
	// Limits (gateway/web/server.go).
	ReadHeaderTimeout   Duration `yaml:"read_header_timeout"`
	ReadTimeout         Duration `yaml:"read_timeout"`
	WriteTimeout        Duration `yaml:"write_timeout"`
	IdleTimeout         Duration `yaml:"idle_timeout"`
	MaxHeaderBytes      int      `yaml:"max_header_bytes"`
	MaxBodyBytes        int64    `yaml:"max_body_bytes"`
	MaxConnections      int      `yaml:"max_connections"`
	MaxConnectionsPerIP int      `yaml:"max_connections_per_ip"`
	MaxUploadBytes      int64    `yaml:"max_upload_bytes"`
	// The pages (gateway/web).
	TrustedProxies  []string `yaml:"trusted_proxies"`
	SessionLifetime Duration `yaml:"session_lifetime"`
}

// PortalConfig is what customers see on the pages.
type PortalConfig struct {
	SharedAccounts []string `yaml:"shared_accounts"` // accounts whose people see each other's cases
}

// PolicyConfig holds the case policies.
type PolicyConfig struct {
	UnknownSender  string   `yaml:"unknown_sender"`
	AutoCloseAfter Duration `yaml:"auto_close_after"`
	Survey         bool     `yaml:"survey"`
	// Retention purges the raw mail of cases closed longer ago; 0 = never
	// (gateway/retention.go).
	Retention Duration `yaml:"retention"`
	// What sender authentication decides (trust.go).
	DMARCFail     string `yaml:"dmarc_fail"`     // new_case | quarantine
	AuthTempError string `yaml:"auth_temperror"` // unauthenticated | retry
	Spam          string `yaml:"spam"`           // quarantine | store
	// Amplification limits (gateway/amplify.go).
	MaxWatchersPerMail            int    `yaml:"max_watchers_per_mail"`
	UnauthenticatedWatcherNotices string `yaml:"unauthenticated_watcher_notices"`
}

// Duration is a time.Duration written as "168h" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30m or 168h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

func defaultConfig() Config {
	return Config{
		DataDir:    "./casegate-data",
		Hostname:   "localhost",
		CasePrefix: "CS",
		PublicURL:  "http://127.0.0.1:8080",
		Addresses: []AddressConfig{
			{Address: "support@localhost", Kind: "case"},
			{Address: "orders@localhost", Kind: "order"},
		},
		Accounts: map[string]string{},
		SMTP: SMTPConfig{Listen: "127.0.0.1:2525", MaxMessageBytes: 25 << 20, MaxRecipients: 100,
			MaxConnections: 100, MaxConnectionsPerIP: 20, MaxConnectionsPerIPPerMinute: 60,
			SessionLifetime: Duration(30 * time.Minute), MaxCommandsWithoutProgress: 200, MaxLineBytes: 64 << 10, MaxHeaderBytes: 256 << 10,
			ReadTimeout: Duration(5 * time.Minute), WriteTimeout: Duration(time.Minute), MaxReceivedHops: 50,
			MaxBytesInMemory: 64 << 20},
		Outbound: OutboundConfig{
			From: "Support <support@localhost>", TLS: "starttls", PasswordEnv: "CASEGATE_RELAY_PASSWORD", Concurrency: 8,
			RetryFirst: Duration(5 * time.Minute), RetryMax: Duration(time.Hour), Lifetime: Duration(5 * 24 * time.Hour),
			HardBounceLimit: 3, BudgetPerRecipient: 20, BudgetPerCase: 50, BudgetPerSource: 200,
			MailboxProviders: gateway.DefaultMailboxProviders(),
			CircuitBreaker:   500000, CircuitBreakerPerDomain: 50000, CircuitBreakerWindow: Duration(10 * time.Minute),
		},
		HTTP: HTTPConfig{Listen: "127.0.0.1:8080", TokensEnv: "CASEGATE_API_TOKENS",
			ReadHeaderTimeout: Duration(10 * time.Second), ReadTimeout: Duration(30 * time.Second),
			WriteTimeout: Duration(2 * time.Minute), IdleTimeout: Duration(time.Minute),
			MaxHeaderBytes: 64 << 10, MaxBodyBytes: 1 << 20, MaxConnections: 256, MaxConnectionsPerIP: 64,
			MaxUploadBytes: 25 << 20, TrustedProxies: []string{}, SessionLifetime: Duration(12 * time.Hour)},
		Portal: PortalConfig{SharedAccounts: []string{}},
		Policy: PolicyConfig{UnknownSender: "new_case", AutoCloseAfter: Duration(168 * time.Hour), Survey: true,
			DMARCFail: "new_case", AuthTempError: "unauthenticated", Spam: "quarantine",
			MaxWatchersPerMail: 10, UnauthenticatedWatcherNotices: "same_domain"},
		Auth:          defaultAuthConfig(),
		Rspamd:        RspamdConfig{Timeout: Duration(5 * time.Second), PasswordEnv: "CASEGATE_RSPAMD_PASSWORD", OnError: "accept"},
		Database:      DatabaseConfig{Driver: "sqlite", URLEnv: "CASEGATE_DATABASE_URL"},
		InstanceLease: Duration(20 * time.Second),
	}
}

// loadConfig reads path ("" = embedded defaults only) over the defaults,
// refusing unknown keys, and checks every value.
func loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file means all defaults
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		if !filepath.IsAbs(cfg.DataDir) {
			cfg.DataDir = filepath.Join(filepath.Dir(path), cfg.DataDir)
		}
		if cfg.DKIM.KeyFile != "" && !filepath.IsAbs(cfg.DKIM.KeyFile) {
			cfg.DKIM.KeyFile = filepath.Join(filepath.Dir(path), cfg.DKIM.KeyFile)
		}
		if f := cfg.Outbound.TLSCAFile; f != "" && !filepath.IsAbs(f) {
			cfg.Outbound.TLSCAFile = filepath.Join(filepath.Dir(path), f)
		}
		if cfg.TemplatesDir != "" && !filepath.IsAbs(cfg.TemplatesDir) {
			cfg.TemplatesDir = filepath.Join(filepath.Dir(path), cfg.TemplatesDir)
		}
	}
	cfg.fillIMAPDefaults()
	if err := cfg.validate(); err != nil {
		if path != "" {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// fillIMAPDefaults gives each mailbox the defaults of the keys it left out.
func (c *Config) fillIMAPDefaults() {
	for i := range c.IMAP {
		m := &c.IMAP[i]
		if m.TLS == "" {
			m.TLS = "implicit"
		}
		if m.Folder == "" {
			m.Folder = "INBOX"
		}
		if m.After == "" {
			m.After = "seen"
		}
		if m.Kind == "" {
			m.Kind = "case"
		}
		if m.BatchSize == 0 {
			m.BatchSize = imappoll.DefaultBatchSize
		}
		if m.PasswordEnv == "" {
			m.PasswordEnv = "CASEGATE_IMAP_" + strings.ToUpper(envName.ReplaceAllString(m.Name, "_")) + "_PASSWORD"
		}
	}
}

var envName = regexp.MustCompile(`[^A-Za-z0-9]+`)

var prefixRE = regexp.MustCompile(`^[A-Z]{1,8}$`)

var envVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var instanceIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// validate checks every value, naming the key of the first bad one.
func (c *Config) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	if c.Hostname == "" || strings.ContainsAny(c.Hostname, " @<>") {
		bad("hostname", "%q is not a host name", c.Hostname)
	}
	if !prefixRE.MatchString(c.CasePrefix) {
		bad("case_prefix", "%q must be 1 to 8 capital letters", c.CasePrefix)
	}
	if !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		bad("public_url", "%q must be an http:// or https:// URL", c.PublicURL)
	}
	if len(c.Addresses) == 0 {
		bad("addresses", "at least one inbound address is needed")
	}
	for i, a := range c.Addresses {
		if _, err := mail.ParseAddress(a.Address); err != nil || strings.Contains(a.Address, "+") {
			bad(fmt.Sprintf("addresses[%d].address", i), "%q is not a plain address", a.Address)
		}
		if a.Kind != "case" && a.Kind != "order" {
			bad(fmt.Sprintf("addresses[%d].kind", i), "%q must be case or order", a.Kind)
		}
	}
	for i, a := range c.Agents {
		if !strings.Contains(a, "@") {
			bad(fmt.Sprintf("agents[%d]", i), "%q must be an address or @domain", a)
		}
	}
	if c.TemplatesDir != "" {
		if fi, err := os.Stat(c.TemplatesDir); err != nil || !fi.IsDir() {
			bad("templates_dir", "%q is not a directory", c.TemplatesDir)
		}
	}
	if c.TeamAddress != "" {
		if a, err := mail.ParseAddress(c.TeamAddress); err != nil || a.Name != "" {
			bad("team_address", "%q is not a plain address", c.TeamAddress)
		}
	}
	for i, p := range c.HTTP.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			bad(fmt.Sprintf("http.trusted_proxies[%d]", i), "%q is not an address or CIDR", p)
		}
	}
	if c.HTTP.SessionLifetime <= 0 {
		bad("http.session_lifetime", "must be positive")
	}
	if c.HTTP.MaxUploadBytes < c.HTTP.MaxBodyBytes {
		bad("http.max_upload_bytes", "%d must be at least http.max_body_bytes", c.HTTP.MaxUploadBytes)
	}
	c.validateListeners(bad)
	c.validateProtection(bad)
	c.validateIMAP(bad)
	c.validateTrust(bad)
	c.validateRspamd(bad)
	switch c.Policy.UnknownSender {
	case "new_case", "reject":
	default:
		bad("policy.unknown_sender", "%q must be new_case or reject", c.Policy.UnknownSender)
	}
	if c.Policy.AutoCloseAfter <= 0 {
		bad("policy.auto_close_after", "must be positive")
	}
	if c.Policy.Retention < 0 {
		bad("policy.retention", "must not be negative (0 keeps raw mail for ever)")
	}
	if c.Policy.MaxWatchersPerMail < 1 {
		bad("policy.max_watchers_per_mail", "%d must be at least 1", c.Policy.MaxWatchersPerMail)
	}
	switch c.Policy.UnauthenticatedWatcherNotices {
	case "all", "same_domain", "none":
	default:
		bad("policy.unauthenticated_watcher_notices", "%q must be all, same_domain or none", c.Policy.UnauthenticatedWatcherNotices)
	}
	switch c.Database.Driver {
	case "sqlite", "postgres":
	default:
		bad("database.driver", "%q must be sqlite or postgres", c.Database.Driver)
	}
	if c.Database.Driver == "postgres" && !envVarRE.MatchString(c.Database.URLEnv) {
		bad("database.url_env", "%q must name an environment variable", c.Database.URLEnv)
	}
	if c.InstanceID != "" && !instanceIDRE.MatchString(c.InstanceID) {
		bad("instance_id", "%q must be 1 to 64 letters, digits, dots, dashes or underscores", c.InstanceID)
	}
	if c.InstanceLease < Duration(time.Second) {
		bad("instance_lease", "%v must be at least 1s", time.Duration(c.InstanceLease))
	}
	return errors.Join(errs...)
}

func (c *Config) validateListeners(bad func(key, format string, args ...any)) {
	if _, _, err := net.SplitHostPort(c.SMTP.Listen); err != nil {
		bad("smtp.listen", "%q is not host:port", c.SMTP.Listen)
	}
	if c.SMTP.MaxMessageBytes < 1024 {
		bad("smtp.max_message_bytes", "%d is too small", c.SMTP.MaxMessageBytes)
	}
	if c.SMTP.MaxRecipients < 1 {
		bad("smtp.max_recipients", "must be at least 1")
	}
	if (c.SMTP.TLSCert == "") != (c.SMTP.TLSKey == "") {
		bad("smtp.tls_cert", "tls_cert and tls_key go together")
	}
	if _, err := mail.ParseAddress(c.Outbound.From); err != nil {
		bad("outbound.from", "%q is not an address", c.Outbound.From)
	}
	if c.Outbound.Relay != "" {
		if _, _, err := net.SplitHostPort(c.Outbound.Relay); err != nil {
			bad("outbound.relay", "%q is not host:port", c.Outbound.Relay)
		}
	}
	switch c.Outbound.TLS {
	case "starttls", "implicit", "none":
	default:
		bad("outbound.tls", "%q must be starttls, implicit or none", c.Outbound.TLS)
	}
	if f := c.Outbound.TLSCAFile; f != "" {
		if c.Outbound.Relay == "" || c.Outbound.TLS == "none" {
			bad("outbound.tls_ca_file", "is for a relay with tls starttls or implicit")
		} else if _, err := os.Stat(f); err != nil {
			bad("outbound.tls_ca_file", "%v", err)
		}
	}
	if c.Outbound.Concurrency < 1 || c.Outbound.Concurrency > 256 {
		bad("outbound.concurrency", "%d must be between 1 and 256", c.Outbound.Concurrency)
	}
	if c.Outbound.RetryFirst <= 0 || c.Outbound.RetryMax < c.Outbound.RetryFirst || c.Outbound.Lifetime <= 0 {
		bad("outbound.retry_first", "retry_first, retry_max and lifetime must be positive, retry_max >= retry_first")
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%q is not host:port", c.HTTP.Listen)
	}
}

// validateProtection checks the limits and loop protection keys.
func (c *Config) validateProtection(bad func(key, format string, args ...any)) {
	atLeast := func(key string, v, min int) {
		if v < min {
			bad(key, "%d must be at least %d", v, min)
		}
	}
	atLeast("smtp.max_connections", c.SMTP.MaxConnections, 1)
	atLeast("smtp.max_connections_per_ip", c.SMTP.MaxConnectionsPerIP, 1)
	atLeast("smtp.max_connections_per_ip_per_minute", c.SMTP.MaxConnectionsPerIPPerMinute, 1)
	// A message to max_recipients needs that many RCPT, and EHLO, MAIL, DATA.
	atLeast("smtp.max_commands_without_progress", c.SMTP.MaxCommandsWithoutProgress, c.SMTP.MaxRecipients+10)
	if c.SMTP.SessionLifetime <= 0 {
		bad("smtp.session_lifetime", "must be positive")
	}
	atLeast("smtp.max_line_bytes", c.SMTP.MaxLineBytes, 1000) // RFC 5321 §4.5.3.1.6
	atLeast("smtp.max_header_bytes", c.SMTP.MaxHeaderBytes, 1024)
	if c.SMTP.MaxBytesInMemory < 1<<20 {
		bad("smtp.max_bytes_in_memory", "%d is too small (at least 1048576)", c.SMTP.MaxBytesInMemory)
	}
	atLeast("smtp.max_received_hops", c.SMTP.MaxReceivedHops, 1)
	atLeast("outbound.hard_bounce_limit", c.Outbound.HardBounceLimit, 1)
	atLeast("outbound.budget_per_recipient_per_hour", c.Outbound.BudgetPerRecipient, 1)
	atLeast("outbound.budget_per_case_per_hour", c.Outbound.BudgetPerCase, 1)
	atLeast("outbound.circuit_breaker", c.Outbound.CircuitBreaker, 1)
	atLeast("outbound.circuit_breaker_per_domain", c.Outbound.CircuitBreakerPerDomain, 1)
	if c.Outbound.CircuitBreakerPerDomain > c.Outbound.CircuitBreaker {
		bad("outbound.circuit_breaker_per_domain", "%d must not be above outbound.circuit_breaker (%d): one domain must never stop all mail",
			c.Outbound.CircuitBreakerPerDomain, c.Outbound.CircuitBreaker)
	}
	if c.SMTP.ReadTimeout <= 0 {
		bad("smtp.read_timeout", "must be positive")
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"http.read_header_timeout", c.HTTP.ReadHeaderTimeout}, {"http.read_timeout", c.HTTP.ReadTimeout},
		{"http.write_timeout", c.HTTP.WriteTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout}} {
		if d.v <= 0 {
			bad(d.key, "must be positive")
		}
	}
	atLeast("http.max_header_bytes", c.HTTP.MaxHeaderBytes, 1024)
	if c.HTTP.MaxBodyBytes < 1024 {
		bad("http.max_body_bytes", "%d must be at least 1024", c.HTTP.MaxBodyBytes)
	}
	atLeast("http.max_connections", c.HTTP.MaxConnections, 1)
	atLeast("http.max_connections_per_ip", c.HTTP.MaxConnectionsPerIP, 1)
	if c.SMTP.WriteTimeout <= 0 {
		bad("smtp.write_timeout", "must be positive")
	}
	if c.Outbound.CircuitBreakerWindow <= 0 {
		bad("outbound.circuit_breaker_window", "must be positive")
	}
}

// validateRspamd checks the rspamd keys.
func (c *Config) validateRspamd(bad func(key, format string, args ...any)) {
	r := c.Rspamd
	if r.Timeout <= 0 {
		bad("rspamd.timeout", "must be positive")
	}
	if r.OnError != "accept" && r.OnError != "retry" {
		bad("rspamd.on_error", "%q must be accept or retry", r.OnError)
	}
	if !envVarRE.MatchString(r.PasswordEnv) {
		bad("rspamd.password_env", "%q must name an environment variable", r.PasswordEnv)
	}
	if r.URL != "" {
		if _, err := gateway.NewRspamd(gateway.RspamdConfig{URL: r.URL}); err != nil {
			bad("rspamd.url", "%q must be an http:// or https:// URL like http://127.0.0.1:11333", r.URL)
		}
	}
}

func (c *Config) validateIMAP(bad func(key, format string, args ...any)) {
	names := map[string]bool{}
	for i, m := range c.IMAP {
		key := fmt.Sprintf("imap[%d]", i)
		if m.Name == "" || names[m.Name] {
			bad(key+".name", "%q must be set and unique", m.Name)
		}
		names[m.Name] = true
		if _, _, err := net.SplitHostPort(m.Address); err != nil {
			bad(key+".address", "%q is not host:port", m.Address)
		}
		switch m.TLS {
		case "implicit", "starttls", "none":
		default:
			bad(key+".tls", "%q must be implicit, starttls or none", m.TLS)
		}
		if m.After != "seen" && m.After != "delete" && !(strings.HasPrefix(m.After, "move:") && len(m.After) > 5) {
			bad(key+".after", "%q must be seen, delete or move:FOLDER", m.After)
		}
		if m.Kind != "case" && m.Kind != "order" {
			bad(key+".kind", "%q must be case or order", m.Kind)
		}
		if m.BatchSize < 0 || m.BatchSize > 1000 { // 0: the default
			bad(key+".batch_size", "%d must be between 1 and 1000", m.BatchSize)
		}
	}
}

// parsePrefix reads an address or a CIDR.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
