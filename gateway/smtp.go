package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTPConfig is the inbound listener (SPEC §3.1, §6 `smtp:`).
type SMTPConfig struct {
	MaxMessageBytes int64
	MaxRecipients   int
	TLS             *tls.Config // STARTTLS offered when set
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IngestTimeout   time.Duration // how long one message may take to store
	MaxLineBytes    int           // one line of a command or of the message (default 65536)
	MaxHeaderBytes  int           // the message's header section (default 262144)
}

// NewSMTPServer returns a go-smtp server that accepts mail for our
// addresses only and answers 250 only after the message is committed.
func (g *Gateway) NewSMTPServer(cfg SMTPConfig) *smtp.Server {
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 5 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.IngestTimeout <= 0 {
		cfg.IngestTimeout = 2 * time.Minute
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = 64 << 10
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 256 << 10
	}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{g: g, cfg: cfg, remote: remoteIP(c.Conn()), helo: c.Hostname()}, nil
	}))
	s.Domain = g.cfg.Hostname
	s.MaxMessageBytes = cfg.MaxMessageBytes
	s.MaxRecipients = cfg.MaxRecipients
	s.MaxLineLength = cfg.MaxLineBytes
	s.ReadTimeout, s.WriteTimeout = cfg.ReadTimeout, cfg.WriteTimeout
	s.TLSConfig = cfg.TLS
	s.EnableSMTPUTF8 = true
	s.ErrorLog = slog.NewLogLogger(g.log.With("component", "smtp").Handler(), slog.LevelWarn)
	return s
}

func remoteIP(c net.Conn) string {
	if c == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

type smtpSession struct {
	g      *Gateway
	cfg    SMTPConfig
	remote string
	helo   string // the client's HELO/EHLO name
	from   string
	to     []string
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from, s.to = from, nil
	return nil
}

// Rcpt accepts our addresses (plus-addressed too) and the bounce address of
// a notification we sent (verp.go), and nothing else: we are never an open
// relay.
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, _, ok := s.g.inbound(to); !ok && !s.validBounceAddress(to) {
		return smtpReply(errUnknownRecipient)
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) validBounceAddress(to string) bool {
	if !s.g.isBounceAddress(to) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.IngestTimeout)
	defer cancel()
	key, err := s.g.verpKey(ctx)
	if err != nil {
		return false
	}
	_, ok := s.g.verpID(key, to)
	return ok
}

var (
	errUnknownRecipient = errors.New("unknown recipient")
	errHeaderTooLarge   = errors.New("header too large")
)

// Data reads the message and stores it; the 250 go-smtp sends when Data
// returns nil therefore follows the commit.
func (s *smtpSession) Data(r io.Reader) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.g.notePanic("smtp data", v)
			err = smtpReply(errors.New("internal error"))
		}
	}()
	raw, err := io.ReadAll(r)
	if err != nil {
		return smtpReply(err)
	}
	if headerSize(raw) > s.cfg.MaxHeaderBytes {
		return smtpReply(errHeaderTooLarge)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.IngestTimeout)
	defer cancel()
	res, err := s.g.Ingest(ctx, raw, Envelope{Source: "smtp", From: s.from, To: s.to,
		ClientIP: s.remote, HELO: s.helo})
	if err != nil {
		s.g.log.Error("smtp: message not stored, asked sender to retry", "remote", s.remote, "from", s.from, "err", err)
		return smtpReply(err)
	}
	s.g.log.Info("smtp: message stored", "remote", s.remote, "from", s.from, "outcome", res.Outcome,
		"case", res.Case, "message_id", res.MessageID)
	return nil
}

// smtpReply is the one place an error becomes an SMTP answer. A client never
// sees err.Error(); anything not known to be permanent is 451 so the sender
// keeps the mail and retries.
func smtpReply(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &se):
		return se // go-smtp's own answers, e.g. 552 5.3.4 for size
	case errors.Is(err, errUnknownRecipient):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such mailbox here"}
	case errors.Is(err, errHeaderTooLarge):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message header too large"}
	case errors.Is(err, smtp.ErrTooLongLine):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Line too long"}
	default:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, please try again later"}
	}
}
