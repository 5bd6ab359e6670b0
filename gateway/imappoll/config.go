package imappoll

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultFolder          = "INBOX"
	DefaultPollInterval    = 30 * time.Second
	DefaultBatchSize       = 200
	DefaultMaxMessageBytes = 25 << 20 // smtp.max_message_bytes' default
)

// TLS modes of Config.TLS.
const (
	TLSImplicit = "implicit"
	TLSStartTLS = "starttls"
	TLSNone     = "none" // only sensible on loopback
)

// Config is one mailbox: an `imap:` entry of the configuration (SPEC §6).
type Config struct {
	Name     string // "helpdesk": names the position in State and the logs
	Address  string // host:port
	TLS      string // TLSImplicit, TLSStartTLS or TLSNone
	Username string
	// Password is the secret itself, already read from the environment
	// variable that password_env names.
	Password string
	Folder   string // default DefaultFolder
	After    string // "seen", "move:FOLDER" or "delete"
	Kind     string // "case" or "order", passed through in Source
	// Forwarding marks a mailbox another mailbox forwards into as
	// attachment: passed through in Source.
	Forwarding bool

	PollInterval    time.Duration // between polls when the server lacks IDLE
	BatchSize       int           // UIDs fetched per backlog batch
	MaxMessageBytes int64         // see the package comment on big messages
	// SpoolDir is where a message larger than 256 KiB is written while it
	// is fetched (package spool; "" = the system's temporary directory).
	SpoolDir string

	TLSConfig *tls.Config // optional; ServerName defaults to Address's host
}

// withDefaults returns cfg with its zero values replaced by the defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Folder == "" {
		cfg.Folder = DefaultFolder
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	return cfg
}

// validate refuses a configuration that cannot work, naming the key.
func (cfg Config) validate() error {
	if cfg.Name == "" {
		return errors.New("name is empty")
	}
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return fmt.Errorf("address %q: %w", cfg.Address, err)
	}
	switch cfg.TLS {
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		return fmt.Errorf("tls %q: want implicit, starttls or none", cfg.TLS)
	}
	if cfg.Username == "" {
		return errors.New("username is empty")
	}
	if cfg.Password == "" {
		return errors.New("password is empty (is the password_env variable set?)")
	}
	if cfg.Kind != "case" && cfg.Kind != "order" {
		return fmt.Errorf("kind %q: want case or order", cfg.Kind)
	}
	after, err := parseAfter(cfg.After)
	if err != nil {
		return err
	}
	if after.kind == afterMove && sameFolder(after.folder, cfg.Folder) {
		return fmt.Errorf("after %q: moves into the polled folder itself", cfg.After)
	}
	return nil
}

// isLoopback reports whether address's host is a loopback address or name.
func isLoopback(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// afterKind is what happens to a message on the server once it is committed.
type afterKind int

const (
	afterSeen afterKind = iota + 1
	afterMove
	afterDelete
)

// afterAction is a parsed Config.After.
type afterAction struct {
	kind   afterKind
	folder string // for afterMove
}

func parseAfter(s string) (afterAction, error) {
	switch {
	case s == "seen":
		return afterAction{kind: afterSeen}, nil
	case s == "delete":
		return afterAction{kind: afterDelete}, nil
	case strings.HasPrefix(s, "move:"):
		folder := strings.TrimPrefix(s, "move:")
		if strings.TrimSpace(folder) == "" {
			return afterAction{}, fmt.Errorf("after %q: folder is empty", s)
		}
		return afterAction{kind: afterMove, folder: folder}, nil
	}
	return afterAction{}, fmt.Errorf("after %q: want seen, move:FOLDER or delete", s)
}

// sameFolder compares folder names, INBOX being case-insensitive
// (RFC 3501 §5.1).
func sameFolder(a, b string) bool {
	if strings.EqualFold(a, "INBOX") && strings.EqualFold(b, "INBOX") {
		return true
	}
	return a == b
}
