package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// RelayConfig is the outbound relay (the `outbound:` keys).
type RelayConfig struct {
	Address  string // host:port
	TLS      string // starttls | implicit | none
	CAFile   string // PEM CAs the relay's certificate may chain to, besides the system's
	Username string
	Password string
	HELO     string
	Timeout  time.Duration // per SMTP command (default 60s)
	Log      *slog.Logger
}

// RelaySender sends through an SMTP relay with go-mail. Each session
// keeps one connection open for many mails.
type RelaySender struct {
	cfg  RelayConfig
	host string
	port int
	tls  *tls.Config
	log  *slog.Logger
	// tlsFailing is set while connections fail for a TLS reason, so
	// that is logged at ERROR once and not for every attempt.
	tlsFailing atomic.Bool
}

// NewRelaySender checks cfg, reads the CA file, and returns a sender.
func NewRelaySender(cfg RelayConfig) (*RelaySender, error) {
	host, portStr, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("relay %q: %w", cfg.Address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("relay %q: port: %w", cfg.Address, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	s := &RelaySender{cfg: cfg, host: host, port: port, log: cfg.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.tls, err = relayTLS(host, cfg.CAFile); err != nil {
		return nil, err
	}
	return s, nil
}

// relayTLS is the client TLS configuration: the relay's certificate must
// chain to a system CA or to one in caFile, and name host.
func relayTLS(host, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("relay CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("relay CA file %s: no PEM certificate in it", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// NewSession returns a session that connects on its first Send.
func (s *RelaySender) NewSession() Session { return &relaySession{s: s} }

// relaySession is one worker's connection to the relay.
type relaySession struct {
	s      *RelaySender
	client *gomail.Client
	conn   net.Conn // the connection underneath, closed hard on errors
}

// Send delivers msg over the open connection, opening one if needed. A
// kept connection that the relay closed meanwhile is replaced once, since
// nothing was offered over it; after an error that leaves the connection
// in doubt, it is closed.
func (rs *relaySession) Send(ctx context.Context, msg *gomail.Msg) error {
	reused := rs.client != nil
	if !reused {
		if err := rs.dial(ctx); err != nil {
			return err
		}
	}
	err := rs.send(ctx, msg)
	if reused && isStale(err) {
		rs.drop()
		if err := rs.dial(ctx); err != nil {
			return err
		}
		err = rs.send(ctx, msg)
	}
	if err != nil && !keepsConnection(err) {
		rs.drop()
	}
	return classifySendError(err)
}

// send runs one SMTP transaction, closing the connection if ctx ends
// meanwhile.
func (rs *relaySession) send(ctx context.Context, msg *gomail.Msg) error {
	stop := context.AfterFunc(ctx, func() { rs.conn.Close() })
	defer stop()
	return rs.client.Send(msg)
}

// dial connects, says EHLO, starts TLS and authenticates.
func (rs *relaySession) dial(ctx context.Context) error {
	c, err := gomail.NewClient(rs.s.host, rs.s.options(rs.dialConn)...)
	if err != nil {
		return fmt.Errorf("relay client: %w", err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		if rs.conn != nil {
			rs.conn.Close()
			rs.conn = nil
		}
		rs.s.noteTLS(err)
		return fmt.Errorf("relay %s: %w", rs.s.cfg.Address, err)
	}
	rs.s.noteTLS(nil)
	rs.client = c
	return nil
}

// options are the go-mail options of every connection.
func (s *RelaySender) options(dial gomail.DialContextFunc) []gomail.Option {
	// No NOOP before each mail: a dead connection shows at MAIL FROM,
	// before a transaction began (isStale).
	opts := []gomail.Option{gomail.WithPort(s.port), gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(s.tls), gomail.WithDialContextFunc(dial), gomail.WithoutNoop()}
	switch s.cfg.TLS {
	case "implicit", "none":
		// implicit: dialConn speaks TLS from the first byte.
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	if s.cfg.Username != "" {
		auth := gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover)
		if s.cfg.TLS == "implicit" {
			// go-mail does not see that our own dialler already speaks
			// TLS, so name the mechanisms it would discover under TLS.
			auth = gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256PLUS, gomail.SMTPAuthSCRAMSHA256,
				gomail.SMTPAuthSCRAMSHA1PLUS, gomail.SMTPAuthSCRAMSHA1, gomail.SMTPAuthCramMD5,
				gomail.SMTPAuthPlain, gomail.SMTPAuthLogin)
		}
		opts = append(opts, auth, gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	return opts
}

// dialConn opens the connection go-mail talks over, keeping it so that
// it can be closed hard.
func (rs *relaySession) dialConn(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{}
	var conn net.Conn
	var err error
	if rs.s.cfg.TLS == "implicit" {
		conn, err = (&tls.Dialer{NetDialer: d, Config: rs.s.tls}).DialContext(ctx, network, addr)
	} else {
		conn, err = d.DialContext(ctx, network, addr)
	}
	if err == nil {
		rs.conn = conn
	}
	return conn, err
}

// drop closes the connection without a goodbye.
func (rs *relaySession) drop() {
	if rs.conn != nil {
		rs.conn.Close()
	}
	rs.client, rs.conn = nil, nil
}

// Flush has nothing to do: the relay's 250 is final.
func (rs *relaySession) Flush(context.Context) error { return nil }

// Close says QUIT and closes the connection.
func (rs *relaySession) Close() error {
	if rs.client == nil {
		return nil
	}
	err := rs.client.Close()
	rs.drop()
	return err
}

// noteTLS logs at ERROR when connections start failing for a TLS reason,
// and at INFO when they work again: once per change, not per attempt.
func (s *RelaySender) noteTLS(err error) {
	if err != nil && !isTLSError(err) {
		return
	}
	failing := err != nil
	if was := s.tlsFailing.Swap(failing); was == failing {
		return
	}
	if failing {
		s.log.Error("relay TLS fails: no mail can be sent until it works; check outbound.tls and outbound.tls_ca_file",
			"relay", s.cfg.Address, "tls", s.cfg.TLS, "err", err)
	} else {
		s.log.Info("relay TLS works again", "relay", s.cfg.Address)
	}
}

// isTLSError reports whether err is a TLS failure: a certificate that
// does not verify, a handshake that fails, or no STARTTLS offered.
func isTLSError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		alert    tls.AlertError
		record   tls.RecordHeaderError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &alert) || errors.As(err, &record) ||
		strings.Contains(err.Error(), "STARTTLS") || strings.Contains(err.Error(), "tls: ")
}

// isStale reports whether err says that a kept connection was closed by
// the relay before a transaction began: no answer to MAIL FROM, or 421.
func isStale(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return false
	}
	code := se.ErrorCode()
	return se.Reason == gomail.ErrConnCheck || se.Reason == gomail.ErrSMTPMailFrom && (code == 0 || code == 421)
}

// keepsConnection reports whether the connection is still good after err:
// the relay answered MAIL or RCPT with a refusal (go-mail then resets the
// transaction), short of closing the connection (421).
func keepsConnection(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || (se.Reason != gomail.ErrSMTPMailFrom && se.Reason != gomail.ErrSMTPRcptTo) {
		return false
	}
	code := se.ErrorCode()
	return code >= 400 && code < 600 && code != 421
}

// RefusalOf returns the refusal err carries: a permanent (5xx) answer to
// RCPT TO. go-mail keeps the reply's enhanced status code only when the
// relay announced ENHANCEDSTATUSCODES; otherwise it is read from the text.
func RefusalOf(err error) (Refusal, bool) {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.Reason != gomail.ErrSMTPRcptTo || se.IsTemp() || se.ErrorCode() < 500 || se.ErrorCode() > 599 {
		return Refusal{}, false
	}
	text := se.Error()
	// "<reason>: 550 5.1.1 <answer>, affected recipient(s): …"
	if _, after, ok := strings.Cut(text, ": "); ok {
		text = after
	}
	if before, _, ok := strings.Cut(text, ", affected recipient(s)"); ok {
		text = before
	}
	if code, msg, ok := strings.Cut(text, " "); ok { // go-mail quotes the reply: 550 "5.1.1 …"
		if m, err := strconv.Unquote(msg); err == nil {
			text = code + " " + m
		}
	}
	status := se.EnhancedStatusCode()
	if status == "" {
		status = enhancedStatus.FindString(text)
	}
	return Refusal{Code: se.ErrorCode(), Status: status, Text: text}, true
}

// enhancedStatus is a permanent enhanced status code (RFC 3463) in a reply.
var enhancedStatus = regexp.MustCompile(`\b5\.\d{1,3}\.\d{1,3}\b`)

// classifySendError makes a 5xx answer permanent; everything else,
// including errors of unknown kind, stays temporary.
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
