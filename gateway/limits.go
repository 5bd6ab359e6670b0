package gateway

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"time"
)

// Limits of the SMTP listener (SPEC §3.1), each answered with its own code:
//
//	message over smtp.max_message_bytes     552 5.3.4 (go-smtp, at DATA)
//	more than smtp.max_recipients           452 4.5.3 (go-smtp, at RCPT)
//	header section over max_header_bytes    552 5.3.4 Message header too large
//	a line over smtp.max_line_bytes         554 5.6.0 in DATA (500 5.4.0 for a command)
//	over smtp.max_connections at once       421 4.7.0 at connect, then closed
//	over max_connections_per_ip at once     421 4.7.0 at connect, then closed
//	over max_connections_per_ip_per_minute  421 4.7.0 at connect, then closed
//	idle past read_timeout / write_timeout  421 4.4.2 (go-smtp)
//	a session older than session_lifetime   421 4.4.2 at its next command (go-smtp)
//	max_commands_without_progress commands
//	  since the last message (NOOP, RSET,
//	  refused RCPT... loops)                421 4.7.0, then closed
//
// Every refusal comes before the 250, so the sender keeps the mail. A mail
// that passes the door but cannot be taken as mail (unparseable, more
// Received hops than smtp.max_received_hops) is quarantined instead: it
// was acknowledged, so it must not be lost.
//
// The session limits live in the connection the listener hands go-smtp,
// which reads each command line after setting a read deadline: every such
// deadline is one command, and no deadline reaches past the session's
// end. A message (DATA) is progress and starts the count again.

// ConnLimits bound the connections a listener takes.
type ConnLimits struct {
	MaxConnections    int // at once; 0 = no limit
	MaxPerIP          int // at once from one remote IP; 0 = no limit
	MaxPerIPPerMinute int // new connections per remote IP per minute; 0 = no limit
	// Exempt reports an address the per-IP limits do not apply to: a
	// trusted relay carries many clients' mail and is not one client.
	Exempt func(ip string) bool
	// SessionLifetime bounds a connection's whole life; 0 = no limit.
	SessionLifetime time.Duration
	// MaxCommandsWithoutProgress commands may come after the last message
	// (or the greeting); 0 = no limit.
	MaxCommandsWithoutProgress int
	Now                        func() time.Time
	OnRefuse                   func(remote, why string) // called for each refused connection or session cut
}

// refusalTimeout bounds writing the 421 to a refused client.
const refusalTimeout = 5 * time.Second

// LimitListener wraps ln so connections over the limits are answered
// "421 4.7.0" and closed before the SMTP server sees them, and the
// sessions it lets through keep to their lifetime and command limits.
func LimitListener(ln net.Listener, lim ConnLimits) net.Listener {
	if lim.Now == nil {
		lim.Now = time.Now
	}
	return &limitListener{Listener: ln, lim: lim, perIP: map[string]*ipWindow{}, activeIP: map[string]int{}}
}

type limitListener struct {
	net.Listener
	lim ConnLimits

	mu       sync.Mutex
	active   int
	activeIP map[string]int
	perIP    map[string]*ipWindow
}

type ipWindow struct {
	start time.Time
	n     int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if why := l.admit(ip); why != "" {
			go l.refuse(c, why)
			continue
		}
		lc := &limitedConn{Conn: c, l: l, ip: ip}
		if l.lim.SessionLifetime > 0 {
			lc.end = time.Now().Add(l.lim.SessionLifetime)
		}
		return lc, nil
	}
}

// admit counts a new connection from ip; it returns why it is refused, or "".
func (l *limitListener) admit(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.lim.Now()
	// A trusted relay (the MX in front) carries many clients' mail: the
	// limits per address do not apply to it, the total still does.
	exempt := l.lim.Exempt != nil && l.lim.Exempt(ip)
	if l.lim.MaxPerIPPerMinute > 0 && !exempt {
		w := l.perIP[ip]
		if w == nil || now.Sub(w.start) >= time.Minute {
			if len(l.perIP) > 10000 {
				l.forgetOld(now)
			}
			w = &ipWindow{start: now}
			l.perIP[ip] = w
		}
		w.n++
		if w.n > l.lim.MaxPerIPPerMinute {
			return fmt.Sprintf("too many connections from %s, try again later", ip)
		}
	}
	if l.lim.MaxPerIP > 0 && !exempt && l.activeIP[ip] >= l.lim.MaxPerIP {
		return fmt.Sprintf("too many connections from %s at once, try again later", ip)
	}
	if l.lim.MaxConnections > 0 && l.active >= l.lim.MaxConnections {
		return "too many connections, try again later"
	}
	l.active++
	l.activeIP[ip]++
	return ""
}

func (l *limitListener) forgetOld(now time.Time) {
	for ip, w := range l.perIP {
		if now.Sub(w.start) >= time.Minute {
			delete(l.perIP, ip)
		}
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	if l.activeIP[ip]--; l.activeIP[ip] <= 0 {
		delete(l.activeIP, ip)
	}
}

// refuse answers 421 4.7.0 (RFC 5321 §3.8: a server may close with 421)
// and closes the connection.
func (l *limitListener) refuse(c net.Conn, why string) {
	defer c.Close()
	l.noteRefusal(remoteIP(c), why)
	_ = c.SetWriteDeadline(time.Now().Add(refusalTimeout))
	_, _ = fmt.Fprintf(c, "421 4.7.0 %s\r\n", why)
}

func (l *limitListener) noteRefusal(ip, why string) {
	if l.lim.OnRefuse != nil {
		l.lim.OnRefuse(ip, why)
	}
}

// limitedConn is one admitted connection: it gives its slot back when
// closed, and keeps the session to its lifetime and command limits.
type limitedConn struct {
	net.Conn
	l    *limitListener
	ip   string
	end  time.Time // the session's end; zero = none
	once sync.Once

	mu       sync.Mutex
	commands int  // command lines read since the last message
	tls      bool // the session runs over STARTTLS: nothing may be written around it
	cut      bool
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.release(c.ip) })
	return c.Conn.Close()
}

// Progress tells the connection that a message was transferred.
func (c *limitedConn) Progress() {
	c.mu.Lock()
	c.commands = 0
	c.mu.Unlock()
}

// SetTLS tells the connection that its session switched to TLS.
func (c *limitedConn) SetTLS() {
	c.mu.Lock()
	c.tls = true
	c.mu.Unlock()
}

// errSessionCut ends a session over its command limit: go-smtp takes a
// closed connection as the end of the session and closes it quietly.
var errSessionCut = fmt.Errorf("session cut: %w", net.ErrClosed)

// SetReadDeadline is called by go-smtp before it reads each command line:
// it counts the command, cuts a session over its command limit, and keeps
// every deadline within the session's lifetime.
func (c *limitedConn) SetReadDeadline(t time.Time) error {
	if max := c.l.lim.MaxCommandsWithoutProgress; max > 0 {
		c.mu.Lock()
		c.commands++
		over, first, isTLS := c.commands > max, !c.cut, c.tls
		c.cut = c.cut || over
		c.mu.Unlock()
		switch {
		case over && isTLS:
			// Nothing may be written around TLS: an expired deadline has
			// go-smtp answer 421 4.4.2 itself and close.
			if first {
				c.l.noteRefusal(c.ip, fmt.Sprintf("%d commands without a message", max))
			}
			return c.Conn.SetReadDeadline(time.Now())
		case over:
			if first {
				why := fmt.Sprintf("%d commands without a message, closing", max)
				c.l.noteRefusal(c.ip, why)
				_ = c.Conn.SetWriteDeadline(time.Now().Add(refusalTimeout))
				_, _ = fmt.Fprintf(c.Conn, "421 4.7.0 %s\r\n", why)
			}
			return errSessionCut
		}
	}
	return c.Conn.SetReadDeadline(c.within(t, 0))
}

func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.within(t, refusalTimeout))
}

func (c *limitedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// within is t, or the session's end plus grace if that comes first.
func (c *limitedConn) within(t time.Time, grace time.Duration) time.Time {
	if c.end.IsZero() {
		return t
	}
	if end := c.end.Add(grace); t.IsZero() || t.After(end) {
		return end
	}
	return t
}

// headerSize is the length of the header section of raw, up to and
// including the blank line that ends it (all of raw when there is none).
func headerSize(raw []byte) int {
	if bytes.HasPrefix(raw, []byte("\r\n")) || bytes.HasPrefix(raw, []byte("\n")) {
		return 0
	}
	if i := bytes.Index(raw, []byte("\n\r\n")); i >= 0 {
		if j := bytes.Index(raw[:i+3], []byte("\n\n")); j >= 0 {
			return j + 2
		}
		return i + 3
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return i + 2
	}
	return len(raw)
}

// overLimit says why a parsed message must be quarantined although it
// could be read ("" when it need not): more Received hops than allowed,
// the sign of a mail loop between systems (RFC 5321 §6.3). A replay is an
// operator's decision and is not held back by it.
func (g *Gateway) overLimit(in *inbound) (reason, detail string) {
	if in.env.Source == "replay" {
		return "", ""
	}
	max := g.protection().MaxReceivedHops
	if hops := in.msg.Signals.ReceivedHops; hops > max {
		return "too_many_hops", fmt.Sprintf("%d Received headers, limit %d", hops, max)
	}
	return "", ""
}
