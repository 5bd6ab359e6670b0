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
//	over max_connections_per_ip_per_minute  421 4.7.0 at connect, then closed
//	idle past read_timeout / write_timeout  421 4.4.2 (go-smtp)
//
// Every refusal comes before the 250, so the sender keeps the mail. A mail
// that passes the door but cannot be taken as mail (unparseable, more
// Received hops than smtp.max_received_hops) is quarantined instead: it
// was acknowledged, so it must not be lost.

// ConnLimits bound the connections a listener takes.
type ConnLimits struct {
	MaxConnections    int // at once; 0 = no limit
	MaxPerIPPerMinute int // new connections per remote IP per minute; 0 = no limit
	// Exempt reports an address the per-IP limit does not apply to: a
	// trusted relay carries many clients' mail and is not one client.
	Exempt   func(ip string) bool
	Now      func() time.Time
	OnRefuse func(remote, why string) // called for each refused connection
}

// refusalTimeout bounds writing the 421 to a refused client.
const refusalTimeout = 5 * time.Second

// LimitListener wraps ln so connections over the limits are answered
// "421 4.7.0" and closed before the SMTP server sees them.
func LimitListener(ln net.Listener, lim ConnLimits) net.Listener {
	if lim.Now == nil {
		lim.Now = time.Now
	}
	return &limitListener{Listener: ln, lim: lim, perIP: map[string]*ipWindow{}}
}

type limitListener struct {
	net.Listener
	lim ConnLimits

	mu     sync.Mutex
	active int
	perIP  map[string]*ipWindow
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
		if why := l.admit(remoteIP(c)); why != "" {
			go l.refuse(c, why)
			continue
		}
		return &limitedConn{Conn: c, l: l}, nil
	}
}

// admit counts a new connection from ip; it returns why it is refused, or "".
func (l *limitListener) admit(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.lim.Now()
	if l.lim.MaxPerIPPerMinute > 0 && (l.lim.Exempt == nil || !l.lim.Exempt(ip)) {
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
	if l.lim.MaxConnections > 0 && l.active >= l.lim.MaxConnections {
		return "too many connections, try again later"
	}
	l.active++
	return ""
}

func (l *limitListener) forgetOld(now time.Time) {
	for ip, w := range l.perIP {
		if now.Sub(w.start) >= time.Minute {
			delete(l.perIP, ip)
		}
	}
}

func (l *limitListener) release() {
	l.mu.Lock()
	l.active--
	l.mu.Unlock()
}

// refuse answers 421 4.7.0 (RFC 5321 §3.8: a server may close with 421)
// and closes the connection.
func (l *limitListener) refuse(c net.Conn, why string) {
	defer c.Close()
	if l.lim.OnRefuse != nil {
		l.lim.OnRefuse(remoteIP(c), why)
	}
	_ = c.SetWriteDeadline(time.Now().Add(refusalTimeout))
	_, _ = fmt.Fprintf(c, "421 4.7.0 %s\r\n", why)
}

type limitedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(c.l.release)
	return c.Conn.Close()
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
