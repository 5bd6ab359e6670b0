package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Sender delivers one composed mail. An implementation must return nil only
// once the mail is accepted by the next hop, and a *PermanentError only
// when trying again cannot help (a 5xx answer); every other error is
// treated as temporary and retried.
type Sender interface {
	Send(ctx context.Context, msg *gomail.Msg) error
}

// PermanentError is a delivery failure that no retry can fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// RelayConfig is the outbound relay (SPEC §6 `outbound:`).
type RelayConfig struct {
	Address  string // host:port
	TLS      string // starttls | implicit | none
	Username string
	Password string
	HELO     string
	Timeout  time.Duration
}

// RelaySender sends through an SMTP relay with go-mail.
type RelaySender struct{ cfg RelayConfig }

// NewRelaySender checks cfg and returns a sender for it.
func NewRelaySender(cfg RelayConfig) (*RelaySender, error) {
	if _, _, err := net.SplitHostPort(cfg.Address); err != nil {
		return nil, fmt.Errorf("relay %q: %w", cfg.Address, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	return &RelaySender{cfg: cfg}, nil
}

// Send dials the relay and sends msg.
func (s *RelaySender) Send(ctx context.Context, msg *gomail.Msg) error {
	host, portStr, _ := net.SplitHostPort(s.cfg.Address)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("relay port %q: %w", portStr, err)}
	}
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case "implicit":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	client, err := gomail.NewClient(host, opts...)
	if err != nil {
		return fmt.Errorf("relay client: %w", err)
	}
	return classifySendError(client.DialAndSendWithContext(ctx, msg))
}

// classifySendError makes a 5xx answer permanent; everything else, including
// errors of unknown kind, stays temporary.
func classifySendError(err error) error {
	if err == nil {
		return nil
	}
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return &PermanentError{Err: err}
	}
	return err
}

// MaildirSender delivers into a local Maildir (new user, no relay), so the
// mail can be read with any mail client.
type MaildirSender struct {
	dir      string
	hostname string
}

// NewMaildirSender creates the Maildir at dir if needed.
func NewMaildirSender(dir, hostname string) (*MaildirSender, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
	}
	return &MaildirSender{dir: dir, hostname: hostname}, nil
}

// Send writes msg to tmp/, syncs it and renames it into new/, the Maildir
// delivery protocol.
func (s *MaildirSender) Send(ctx context.Context, msg *gomail.Msg) error {
	var buf bytes.Buffer
	from, err := msg.GetSender(false)
	if err != nil {
		return &PermanentError{Err: err}
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return &PermanentError{Err: err}
	}
	fmt.Fprintf(&buf, "Return-Path: <%s>\r\n", strings.Trim(from, "<>"))
	for _, r := range rcpts {
		fmt.Fprintf(&buf, "Delivered-To: %s\r\n", strings.Trim(r, "<>"))
	}
	if _, err := msg.WriteTo(&buf); err != nil {
		return &PermanentError{Err: fmt.Errorf("maildir: write: %w", err)}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("%d.%s.%s", time.Now().UnixNano(), hex.EncodeToString(rnd[:]), s.hostname)
	tmp := filepath.Join(s.dir, "tmp", name)
	if err := writeSynced(tmp, buf.Bytes()); err != nil {
		return fmt.Errorf("maildir: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, "new", name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("maildir: %w", err)
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
