// Package gatewaytest provides a real SMTP relay for tests: a go-smtp
// server on 127.0.0.1:0 that keeps what it receives and can be told to fail.
package gatewaytest

import (
	"bytes"
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
	changed chan struct{}
}

// StartRelay starts a relay on 127.0.0.1:0, stopped at the end of the test.
func StartRelay(t testing.TB) *Relay {
	t.Helper()
	r := &Relay{changed: make(chan struct{})}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &relaySession{r: r}, nil
	}))
	s.Domain = "relay.test"
	s.AllowInsecureAuth = true
	s.ErrorLog = nopLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
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
	fail := s.r.fail
	s.r.mu.Unlock()
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
