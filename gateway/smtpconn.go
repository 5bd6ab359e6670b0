package gateway

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
)

// SMTPListener wraps the SMTP listener's connections with two manners of
// an MTA that go-smtp lacks:
//
//   - The HELO/EHLO reply starts with our own hostname (RFC 5321 §4.1.1.1:
//     "250 SP Domain [SP ehlo-greet]"), where go-smtp writes "Hello
//     <client>". A sending MTA compares that name with its own to detect a
//     mail loop (Postfix: "mail for … loops back to myself"). The reply is
//     rewritten on the clear-text connection, which is where an MTA first
//     says EHLO; after STARTTLS go-smtp's own reply stands.
//   - A client that resets the connection (a port probe, a load balancer's
//     health check) ends it like one that closes it: go-smtp would log a
//     reset as a server error.
func (g *Gateway) SMTPListener(ln net.Listener) net.Listener {
	return &namingListener{Listener: ln, hostname: g.cfg.Hostname}
}

type namingListener struct {
	net.Listener
	hostname string
}

func (l *namingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &namingConn{Conn: c, hostname: []byte(l.hostname)}, nil
}

// namingConn rewrites go-smtp's HELO/EHLO replies. go-smtp flushes every
// reply line in a Write of its own, so a line to rewrite always starts a
// Write.
type namingConn struct {
	net.Conn
	hostname []byte
}

var (
	ehloReply = []byte("250-Hello ")       // first line of a multi-line EHLO reply
	ehloOnly  = []byte("250 Hello ")       // an EHLO reply of one line
	heloReply = []byte("250 2.0.0 Hello ") // HELO, with the enhanced code go-smtp adds
)

func (c *namingConn) Write(p []byte) (int, error) {
	var out []byte
	switch {
	case bytes.HasPrefix(p, ehloReply):
		out = c.named("250-", p[len("250-"):])
	case bytes.HasPrefix(p, ehloOnly):
		out = c.named("250 ", p[len("250 "):])
	case bytes.HasPrefix(p, heloReply):
		out = c.named("250 ", p[len("250 2.0.0 "):])
	default:
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// named is prefix, our hostname, then the rest of the line ("Hello …").
func (c *namingConn) named(prefix string, rest []byte) []byte {
	out := make([]byte, 0, len(prefix)+len(c.hostname)+1+len(rest))
	out = append(out, prefix...)
	out = append(out, c.hostname...)
	out = append(out, ' ')
	return append(out, rest...)
}

// Read turns a reset by the peer into the end of the stream.
func (c *namingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, syscall.ECONNRESET) {
		err = io.EOF
	}
	return n, err
}
