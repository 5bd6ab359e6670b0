package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Relay is the recording relay: an SMTP server that accepts every mail
// and keeps, for each, the time its DATA ended, indexed by the Message-IDs
// it refers to (In-Reply-To, References) and by its recipients. A gateway
// under test sends its notifications here, and the load tool matches each
// confirmation to the mail that caused it.
//
// It reads only the header of a mail and forgets the rest, so it keeps up
// with any rate the gateway sends at.
type Relay struct {
	Addr string

	srv *smtp.Server
	ln  net.Listener

	mu       sync.Mutex
	mails    int                  // mails accepted
	byRef    map[string]time.Time // first arrival per referenced Message-ID
	byRcpt   map[string]time.Time // first arrival per recipient (lower case)
	panicked int                  // sessions that recovered a panic
	now      func() time.Time
}

// StartRelay listens on addr ("127.0.0.1:0" for any free port) and serves
// until Close.
func StartRelay(addr string) (*Relay, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("recording relay: %w", err)
	}
	r := &Relay{Addr: ln.Addr().String(), ln: ln, byRef: map[string]time.Time{},
		byRcpt: map[string]time.Time{}, now: time.Now}
	r.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &relaySession{r: r}, nil
	}))
	r.srv.Domain = "relay.load.test"
	r.srv.AllowInsecureAuth = true
	r.srv.ReadTimeout = 5 * time.Minute
	r.srv.WriteTimeout = time.Minute
	r.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() {
		defer r.recoverPanic()
		r.srv.Serve(ln)
	}()
	return r, nil
}

// Close stops the relay and closes its connections.
func (r *Relay) Close() error { return r.srv.Close() }

// Arrived returns when the first mail referring to msgID arrived, or else
// the first mail to rcpt; ok is false when neither did.
func (r *Relay) Arrived(msgID, rcpt string) (at time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok = r.byRef[msgID]; ok {
		return at, true
	}
	at, ok = r.byRcpt[strings.ToLower(rcpt)]
	return at, ok
}

// Mails returns how many mails the relay accepted.
func (r *Relay) Mails() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mails
}

// Panics returns how many sessions recovered a panic.
func (r *Relay) Panics() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.panicked
}

func (r *Relay) recoverPanic() {
	if v := recover(); v != nil {
		r.mu.Lock()
		r.panicked++
		r.mu.Unlock()
		log.Printf("recording relay: recovered panic: %v", v)
	}
}

func (r *Relay) record(at time.Time, refs, rcpts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mails++
	for _, id := range refs {
		if _, seen := r.byRef[id]; !seen {
			r.byRef[id] = at
		}
	}
	for _, to := range rcpts {
		to = strings.ToLower(to)
		if _, seen := r.byRcpt[to]; !seen {
			r.byRcpt[to] = at
		}
	}
}

type relaySession struct {
	r  *Relay
	to []string
}

func (s *relaySession) Reset()                               { s.to = nil }
func (s *relaySession) Logout() error                        { return nil }
func (s *relaySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// Data keeps the arrival time and the header's references; a mail whose
// header does not parse still counts, by its recipients.
func (s *relaySession) Data(rd io.Reader) (err error) {
	defer s.r.recoverPanic()
	br := bufio.NewReader(rd)
	var refs []string
	if msg, perr := mail.ReadMessage(br); perr == nil {
		refs = messageIDs(msg.Header.Get("In-Reply-To") + " " + msg.Header.Get("References"))
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	s.r.record(s.r.now(), refs, s.to)
	return nil
}

var msgIDRE = regexp.MustCompile(`<([^<>\s]+)>`)

// messageIDs returns the ids of a list of <msg-id> (RFC 5322 §3.6.4),
// without their angle brackets.
func messageIDs(s string) []string {
	var ids []string
	for _, m := range msgIDRE.FindAllStringSubmatch(s, -1) {
		ids = append(ids, m[1])
	}
	return ids
}
