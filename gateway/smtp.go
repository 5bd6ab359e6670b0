package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway/spool"
	"github.com/casegate/casegate/store"
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
	// SpoolDir is where a message larger than 256 KiB is written while it
	// arrives ("" = the system's temporary directory), spool.go.
	SpoolDir string
	// MaxBytesInMemory bounds the bytes of messages being parsed and
	// stored at once (default 2 × MaxMessageBytes, at least 64 MiB); a
	// message that finds no room waits, spooled, up to IngestTimeout.
	MaxBytesInMemory int64
}

// NewSMTPServer returns a go-smtp server that accepts mail for our
// addresses only and answers 250 only after the message is committed.
// Serve it on SMTPListener(ln) so it names itself as an MTA should.
//
// Every transaction ends in one log line, the way an MTA logs, with the
// client (address and HELO name), the envelope and the size: "smtp:
// message stored" with the outcome and case, "smtp: message refused" with
// the code and reason, "smtp: recipient refused" for each refused RCPT,
// and "smtp: transaction abandoned" when accepted recipients never got
// their DATA (an address verification probe, a client that gave up).
// go-smtp answers two refusals itself, before the session sees them, so
// they have no line: a SIZE= at MAIL over the limit (552 5.3.4; an MTA
// that read our SIZE never sends one) and a recipient over
// MaxRecipients (452 4.5.3, which the client sends again later).
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
	if cfg.MaxBytesInMemory <= 0 {
		cfg.MaxBytesInMemory = max(2*cfg.MaxMessageBytes, 64<<20)
	}
	budget := newMemBudget(cfg.MaxBytesInMemory)
	log := g.log.With("component", "smtp")
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		lc := limitedOf(c)
		if _, isTLS := c.TLSConnectionState(); isTLS && lc != nil {
			lc.SetTLS()
		}
		client := remoteIP(c.Conn())
		return &smtpSession{g: g, cfg: cfg, budget: budget, remote: client, helo: c.Hostname(), conn: lc,
			log: log.With("client", client, "helo", c.Hostname())}, nil
	}))
	s.Domain = g.cfg.Hostname // the greeting: "220 <hostname> ESMTP"
	s.MaxMessageBytes = cfg.MaxMessageBytes
	s.MaxRecipients = cfg.MaxRecipients
	s.MaxLineLength = cfg.MaxLineBytes
	s.ReadTimeout, s.WriteTimeout = cfg.ReadTimeout, cfg.WriteTimeout
	s.TLSConfig = cfg.TLS
	s.EnableSMTPUTF8 = true
	s.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
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

// limitedOf is the limit listener's connection under c (limits.go), nil
// when the server was not given a LimitListener.
func limitedOf(c *smtp.Conn) *limitedConn {
	nc := c.Conn()
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	if n, ok := nc.(*namingConn); ok {
		nc = n.Conn
	}
	lc, _ := nc.(*limitedConn)
	return lc
}

// smtpSession is one SMTP connection's current transaction.
type smtpSession struct {
	g      *Gateway
	cfg    SMTPConfig
	budget *memBudget // shared by the server's sessions
	log    *slog.Logger
	remote string
	helo   string       // the client's HELO/EHLO name
	conn   *limitedConn // nil without a LimitListener
	// The transaction: open from MAIL until its outcome is logged.
	open bool
	from string
	to   []string
}

// Reset ends the transaction (RSET, a new EHLO, after DATA).
func (s *smtpSession) Reset() { s.endTransaction() }

// Logout ends the connection (QUIT, or the client went away).
func (s *smtpSession) Logout() error {
	s.endTransaction()
	return nil
}

// endTransaction logs a transaction that accepted recipients but never
// got to DATA, and clears it.
func (s *smtpSession) endTransaction() {
	if s.open && len(s.to) > 0 {
		s.log.Info("smtp: transaction abandoned", "from", s.from, "to", s.to, "result", "no data")
	}
	s.open, s.from, s.to = false, "", nil
}

// Mail takes the envelope sender; one with control characters or invalid
// UTF-8 would reach logs and operators' terminals, and is refused.
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !cleanAddress(from) {
		reply := smtpReply(errBadSender)
		s.g.metrics.smtpReply(reply.Code)
		s.log.Info("smtp: sender refused", "from", fmt.Sprintf("%q", from), "code", replyCode(reply))
		return reply
	}
	s.open, s.from, s.to = true, from, nil
	return nil
}

// Rcpt accepts our addresses (plus-addressed too) and the bounce address of
// a notification we sent (verp.go), and nothing else: we are never an open
// relay.
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, _, ok := s.g.inbound(to); !ok {
		if err := s.checkBounceAddress(to); err != nil {
			reply := smtpReply(err)
			s.g.metrics.smtpReply(reply.Code)
			s.log.Info("smtp: recipient refused", "from", s.from, "to", to,
				"code", replyCode(reply), "reason", err.Error())
			return reply
		}
	}
	s.to = append(s.to, to)
	return nil
}

var (
	errUnknownRecipient = errors.New("unknown recipient")
	errForgedBounce     = errors.New("forged bounce address")
	errHeaderTooLarge   = errors.New("header too large")
	errBadSender        = errors.New("bad sender address")
)

// checkBounceAddress accepts the bounce address of a notification we sent:
// errUnknownRecipient for any other address, errForgedBounce for one of
// the bounce address's shape whose MAC does not check.
func (s *smtpSession) checkBounceAddress(to string) error {
	if !s.g.isBounceAddress(to) {
		return errUnknownRecipient
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.IngestTimeout)
	defer cancel()
	key, err := s.g.verpKey(ctx)
	if err != nil {
		return s.g.temporary("bounce address", err)
	}
	if _, ok := s.g.verpID(key, to); !ok {
		return errForgedBounce
	}
	return nil
}

// Data reads the message and stores it; the 250 go-smtp sends when Data
// returns nil therefore follows the commit. The message is spooled while
// it arrives, parsed and stored from the spool file, within the server's
// memory budget (spool.go).
func (s *smtpSession) Data(r io.Reader) (err error) {
	var size int64
	defer func() {
		if v := recover(); v != nil {
			s.g.notePanic("smtp data", v)
			cause := &TemporaryError{Err: errors.New("internal error")}
			reply := smtpReply(cause)
			s.logRefused(size, reply, cause)
			err = reply
		}
		s.open = false // the outcome is logged
	}()
	if s.conn != nil {
		s.conn.Progress() // a message is progress: the command count starts again
		defer s.conn.Progress()
	}
	sp, n, err := spool.Read(r, s.cfg.SpoolDir)
	size = n
	if err != nil {
		return s.refuseData(size, err)
	}
	defer sp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.IngestTimeout)
	defer cancel()
	release, err := s.budget.acquire(ctx, size)
	if err != nil {
		return s.refuseData(size, err)
	}
	defer release()
	// The header section ends within its limit, or the first
	// MaxHeaderBytes bytes (and the blank line) show it does not.
	head, err := sp.Head(s.cfg.MaxHeaderBytes + 4)
	if err != nil {
		return s.refuseData(size, err)
	}
	if headerSize(head) > s.cfg.MaxHeaderBytes {
		return s.refuseData(size, errHeaderTooLarge)
	}
	res, err := s.g.IngestMessage(ctx, sp, Envelope{Source: "smtp", From: s.from, To: s.to,
		NullSender: IsNullSender(s.from), ClientIP: s.remote, HELO: s.helo})
	if err != nil {
		return s.refuseData(size, err)
	}
	s.log.Info("smtp: message stored", "from", s.from, "to", s.to, "size", size,
		"result", "250", "outcome", res.Outcome, "case", res.Case, "message_id", res.MessageID)
	s.g.metrics.smtpReply(250)
	return nil
}

// refuseData logs a DATA that is refused for err and returns its reply.
// An error of the client's connection is named as such; one of the spool
// file is ours, a temporary failure (a full disk, 452).
func (s *smtpSession) refuseData(size int64, err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	var spe *spool.Error
	var te *TemporaryError
	switch {
	case errors.As(err, &te):
	case errors.As(err, &spe):
		err = s.g.temporary("smtp spool", spe.Err)
	case errors.As(err, &se), errors.Is(err, smtp.ErrTooLongLine), errors.Is(err, errHeaderTooLarge):
	default:
		err = fmt.Errorf("connection lost during DATA: %w", err)
	}
	reply := smtpReply(err)
	s.logRefused(size, reply, err)
	return reply
}

// logRefused is the one line of a transaction whose DATA was refused
// (and its count in the metrics). A
// failure of our own (a TemporaryError) is logged at ERROR, unless it is a
// full disk, which noteStorage reports at most once a minute; anything the
// client caused, or a connection lost in the middle, is INFO.
func (s *smtpSession) logRefused(size int64, reply *smtp.SMTPError, cause error) {
	s.g.metrics.smtpReply(reply.Code)
	level := slog.LevelInfo
	var te *TemporaryError
	switch {
	case isStorageFull(cause):
		level = slog.LevelWarn
	case errors.As(cause, &te):
		level = slog.LevelError
	}
	s.log.Log(context.Background(), level, "smtp: message refused", "from", s.from, "to", s.to, "size", size,
		"result", replyCode(reply), "reason", cause.Error())
}

// replyCode is "550 5.1.1" for a reply.
func replyCode(r *smtp.SMTPError) string {
	e := r.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d", r.Code, e[0], e[1], e[2])
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
	case errors.Is(err, errBadSender):
		return &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Bad sender address syntax"}
	case errors.Is(err, errForgedBounce):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such bounce address here"}
	case errors.Is(err, errHeaderTooLarge):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message header too large"}
	case errors.Is(err, smtp.ErrTooLongLine):
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Line too long"}
	case errors.Is(err, store.ErrStorageFull):
		// RFC 3463 §3.4: X.3.1 mail system full.
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, please try again later"}
	default:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, please try again later"}
	}
}
