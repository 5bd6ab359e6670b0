package imappoll

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

const (
	dialTimeout   = 30 * time.Second
	logoutTimeout = 10 * time.Second
)

// session is one logged-in connection with the folder selected.
type session struct {
	p   *Poller
	c   *imapclient.Client
	log *slog.Logger

	caps        imap.CapSet
	uidValidity uint32
	lastUID     uint32    // position: every UID up to here is handled
	selectedAt  time.Time // of the last SELECT

	newMail     chan struct{} // signalled by unilateral EXISTS
	stopClose   func() bool   // disarms closing the connection with the hand context
	folderReady bool          // the move target is known to exist
	timedOut    atomic.Bool   // a guard closed the connection
}

// loginError is a login the server refused: wrong credentials, a locked
// account, LOGINDISABLED.
type loginError struct{ err error }

func (e *loginError) Error() string { return "login failed: " + e.err.Error() }
func (e *loginError) Unwrap() error { return e.err }

// connect dials, logs in and selects the folder. Until it returns, nothing
// is in hand and a cancelled ctx closes the connection at once; afterwards
// the connection lives as long as hand.
func (p *Poller) connect(ctx, hand context.Context) (*session, error) {
	s := &session{p: p, log: p.log, newMail: make(chan struct{}, 1)}
	opts := &imapclient.Options{
		TLSConfig:             p.tlsConfig(),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: s.onMailbox},
	}
	c, err := p.dial(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", p.cfg.Address, err)
	}
	s.c = c
	stop := context.AfterFunc(ctx, s.closeConn)
	err = s.open()
	stop()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		c.Close()
		return nil, s.explain(err)
	}
	s.stopClose = context.AfterFunc(hand, s.closeConn)
	return s, nil
}

func (p *Poller) dial(ctx context.Context, opts *imapclient.Options) (*imapclient.Client, error) {
	d := &net.Dialer{Timeout: dialTimeout}
	switch p.cfg.TLS {
	case TLSImplicit:
		conf := opts.TLSConfig.Clone()
		if conf.NextProtos == nil {
			conf.NextProtos = []string{"imap"}
		}
		conn, err := (&tls.Dialer{NetDialer: d, Config: conf}).DialContext(ctx, "tcp", p.cfg.Address)
		if err != nil {
			return nil, err
		}
		return imapclient.New(conn, opts), nil
	case TLSStartTLS:
		conn, err := d.DialContext(ctx, "tcp", p.cfg.Address)
		if err != nil {
			return nil, err
		}
		c, err := imapclient.NewStartTLS(conn, opts)
		if err != nil {
			return nil, fmt.Errorf("starttls: %w", err)
		}
		return c, nil
	default:
		conn, err := d.DialContext(ctx, "tcp", p.cfg.Address)
		if err != nil {
			return nil, err
		}
		return imapclient.New(conn, opts), nil
	}
}

// tlsConfig returns a copy of Config.TLSConfig with ServerName set.
func (p *Poller) tlsConfig() *tls.Config {
	conf := &tls.Config{}
	if p.cfg.TLSConfig != nil {
		conf = p.cfg.TLSConfig.Clone()
	}
	if conf.ServerName == "" {
		conf.ServerName, _, _ = net.SplitHostPort(p.cfg.Address)
	}
	return conf
}

// open waits for the greeting, logs in and selects the folder.
func (s *session) open() error {
	defer s.guard(s.p.cmdTimeout)()
	if err := s.c.WaitGreeting(); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if err := s.c.Login(s.p.cfg.Username, s.p.cfg.Password).Wait(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) {
			return &loginError{err: err}
		}
		return fmt.Errorf("login: %w", err)
	}
	s.caps = s.c.Caps()
	return s.selectFolder()
}

// selectFolder (re)selects the folder and takes its UIDVALIDITY.
func (s *session) selectFolder() error {
	data, err := s.c.Select(s.p.cfg.Folder, nil).Wait()
	if err != nil {
		return fmt.Errorf("select %s: %w", s.p.cfg.Folder, err)
	}
	if data.UIDValidity == 0 {
		return fmt.Errorf("select %s: server sent no UIDVALIDITY", s.p.cfg.Folder)
	}
	s.uidValidity = data.UIDValidity
	s.selectedAt = s.p.now()
	s.log = s.p.log.With("uid_validity", data.UIDValidity)
	return nil
}

// revalidate selects the folder again once it has been selected for
// p.idleRestart. Servers do not always tell a session that its folder was
// deleted and recreated (Dovecot keeps showing an IDLE or polling session
// the deleted folder); a fresh SELECT sees the new UIDVALIDITY.
func (s *session) revalidate(ctx context.Context) error {
	if s.p.now().Sub(s.selectedAt) < s.p.idleRestart {
		return nil
	}
	defer s.guard(s.p.cmdTimeout)()
	old := s.uidValidity
	if err := s.selectFolder(); err != nil {
		return err
	}
	if s.uidValidity == old {
		return nil
	}
	return s.resume(ctx)
}

// resume loads the saved position. A different UIDVALIDITY means the UIDs
// we remember name other messages now (RFC 3501 §2.3.1.1): start from 0 and
// let the Deliverer's deduplication drop what it already has.
func (s *session) resume(ctx context.Context) error {
	name := s.p.cfg.Name
	validity, last, err := s.p.state.Load(ctx, name)
	if err != nil {
		return fmt.Errorf("load position: %w", err)
	}
	switch validity {
	case s.uidValidity:
		s.lastUID = last
	case 0:
		s.lastUID = 0
		s.log.Info("imap folder seen for the first time: reading all of it")
	default:
		s.log.Warn("imap uidvalidity changed: reading the folder again, known mail is dropped as duplicate",
			"old_uid_validity", validity, "old_last_uid", last)
		s.lastUID = 0
		if err := s.p.state.Save(ctx, name, s.uidValidity, 0); err != nil {
			return fmt.Errorf("save position: %w", err)
		}
	}
	return nil
}

// onMailbox runs on the client's reader goroutine for unilateral mailbox
// updates; an EXISTS means new mail (or an expunge's count change, which
// costs one extra search).
func (s *session) onMailbox(data *imapclient.UnilateralDataMailbox) {
	if data.NumMessages == nil {
		return
	}
	select {
	case s.newMail <- struct{}{}:
	default:
	}
}

// guard closes the connection if the exchange that follows takes longer
// than d, so a server that stops answering cannot hang the poller. Call the
// returned function to disarm it.
func (s *session) guard(d time.Duration) func() {
	t := time.AfterFunc(d, func() {
		s.timedOut.Store(true)
		s.closeConn()
	})
	return func() { t.Stop() }
}

// explain says so when err comes from a guard closing the connection: the
// client only sees the connection end.
func (s *session) explain(err error) error {
	if err != nil && s.timedOut.Load() {
		return fmt.Errorf("no answer from the server within %v: %w", s.p.cmdTimeout, err)
	}
	return err
}

func (s *session) closeConn() {
	defer s.p.recoverGoroutine("close connection")
	s.c.Close()
}

// close logs out politely and closes the connection.
func (s *session) close() {
	if s.stopClose != nil {
		s.stopClose()
	}
	disarm := s.guard(logoutTimeout)
	_ = s.c.Logout().Wait() // the connection is closed below anyway
	disarm()
	s.c.Close()
}
