// Package gatewaytest provides a real SMTP relay for tests: a go-smtp
// server on 127.0.0.1:0 that keeps what it receives and can be told to fail.
package gatewaytest

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one message the relay accepted.
type Mail struct {
	From   string
	To     []string
	Data   []byte
	Header mail.Header
	Body   []byte
}

// Relay is an in-process SMTP server that records every accepted mail.
type Relay struct {
	Addr string

	mu      sync.Mutex
	mails   []Mail
	fail    func(rcpt string) *smtp.SMTPError
	fault   Fault
	release chan struct{} // closed to let hanging sessions go
	changed chan struct{}

	conns  int // connections accepted
	closed int // and closed
	open   map[*countedConn]struct{}
}

// Fault is a network failure the relay can simulate at RCPT.
type Fault int

const (
	NoFault Fault = iota
	Drop          // close the connection without an answer
	Hang          // never answer (until SetFault or the end of the test)
)

// SetFault makes the relay misbehave at RCPT; NoFault heals it and lets
// hanging sessions go.
func (r *Relay) SetFault(f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fault == Hang && f != Hang {
		close(r.release)
	}
	if f == Hang && r.fault != Hang {
		r.release = make(chan struct{})
	}
	r.fault = f
}

// StartRelay starts a relay on 127.0.0.1:0, stopped at the end of the test.
func StartRelay(t testing.TB) *Relay {
	t.Helper()
	return StartRelayWith(t, RelayOptions{})
}

// RelayOptions configure StartRelayWith.
type RelayOptions struct {
	// TLS, when set, is offered with STARTTLS, or spoken from the first
	// byte when Implicit is set.
	TLS      *tls.Config
	Implicit bool
}

// StartRelayWith starts a relay with opts on 127.0.0.1:0, stopped at the
// end of the test.
func StartRelayWith(t testing.TB, opts RelayOptions) *Relay {
	t.Helper()
	r := &Relay{changed: make(chan struct{}), open: map[*countedConn]struct{}{}}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &relaySession{r: r, conn: c.Conn()}, nil
	}))
	s.Domain = "relay.test"
	s.AllowInsecureAuth = true
	s.ErrorLog = nopLogger{}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Addr = raw.Addr().String()
	var ln net.Listener = countingListener{raw, r}
	switch {
	case opts.Implicit:
		ln = tls.NewListener(ln, opts.TLS)
	case opts.TLS != nil:
		s.TLSConfig = opts.TLS
	}
	go s.Serve(ln)
	t.Cleanup(func() {
		r.SetFault(NoFault)
		s.Close()
	})
	return r
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// FailWith makes the relay answer RCPT with err for each recipient fn
// returns an error for; nil fn accepts everything again.
func (r *Relay) FailWith(fn func(rcpt string) *smtp.SMTPError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = fn
}

// Connections reports how many connections, each one SMTP session, the
// relay has accepted.
func (r *Relay) Connections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// OpenConnections reports how many connections are open now.
func (r *Relay) OpenConnections() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns - r.closed
}

// CloseConnections closes every open connection without a word, as a
// relay that times idle clients out.
func (r *Relay) CloseConnections() {
	r.mu.Lock()
	open := make([]*countedConn, 0, len(r.open))
	for c := range r.open {
		open = append(open, c)
	}
	r.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// countingListener counts the connections it accepts and their closing.
type countingListener struct {
	net.Listener
	r *Relay
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countedConn{Conn: c, r: l.r}
	l.r.mu.Lock()
	l.r.conns++
	l.r.open[cc] = struct{}{}
	l.r.mu.Unlock()
	return cc, nil
}

type countedConn struct {
	net.Conn
	r    *Relay
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.r.mu.Lock()
		c.r.closed++
		delete(c.r.open, c)
		c.r.mu.Unlock()
	})
	return c.Conn.Close()
}

// Mails returns a copy of what the relay accepted so far.
func (r *Relay) Mails() []Mail {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Mail(nil), r.mails...)
}

// Wait waits until the relay has accepted at least n mails and returns
// them; it fails the test after timeout.
func (r *Relay) Wait(t testing.TB, n int, timeout time.Duration) []Mail {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		got, ch := len(r.mails), r.changed
		r.mu.Unlock()
		if got >= n {
			return r.Mails()
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("relay: got %d mails, want %d within %v", got, n, timeout)
		}
	}
}

func (r *Relay) add(m Mail) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mails = append(r.mails, m)
	close(r.changed)
	r.changed = make(chan struct{})
}

type relaySession struct {
	r    *Relay
	conn net.Conn
	from string
	to   []string
}

func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	fail, fault, release := s.r.fail, s.r.fault, s.r.release
	s.r.mu.Unlock()
	switch fault {
	case Drop:
		s.conn.Close()
		return &smtp.SMTPError{Code: 421, Message: "dropped"}
	case Hang:
		<-release
		return &smtp.SMTPError{Code: 421, Message: "hung"}
	}
	if fail != nil {
		if err := fail(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *relaySession) Data(rd io.Reader) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	m := Mail{From: s.from, To: s.to, Data: data}
	if msg, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		m.Header = msg.Header
		m.Body, _ = io.ReadAll(msg.Body)
	}
	s.r.add(m)
	return nil
}
