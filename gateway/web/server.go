package web

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The HTTP listener's limits. The API, the link pages and /healthz face
// whoever can reach the port, so no client may hold a connection or the
// server's memory for long:
//
//	request header not complete within read_header_timeout  connection closed
//	request (header and body) not read within read_timeout   connection closed
//	response not written within write_timeout                connection closed
//	a keep-alive connection idle for idle_timeout            connection closed
//	header section over max_header_bytes                     431
//	body over max_body_bytes                                 413
//	both Content-Length and Transfer-Encoding                400, connection closed
//	over max_connections, or max_connections_per_ip at once  503, connection closed
//
// A request with both Content-Length and Transfer-Encoding is how request
// smuggling starts (RFC 9112 §6.3): net/http would quietly go by the
// Transfer-Encoding while a proxy in front may have gone by the length, so
// such a request is refused before net/http reads it (framing.go).

// Limits bound what clients can hold of the HTTP listener; zero fields
// take the defaults of withDefaults.
type Limits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	MaxBodyBytes      int64
	MaxUploadBytes    int64 // a form with files (multipart/form-data); default MaxBodyBytes
	MaxConnections    int
	MaxPerIP          int
	OnRefuse          func(remote, why string) // called for each refused connection
}

func (l Limits) withDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, 10*time.Second)
	def(&l.ReadTimeout, 30*time.Second)
	def(&l.WriteTimeout, 2*time.Minute)
	def(&l.IdleTimeout, time.Minute)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	if l.MaxUploadBytes < l.MaxBodyBytes {
		l.MaxUploadBytes = l.MaxBodyBytes
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = 256
	}
	if l.MaxPerIP <= 0 {
		l.MaxPerIP = 64
	}
	return l
}

// NewServer returns the server for h with the limits' timeouts and sizes.
// Serve it on LimitListener(ln, lim) for the connection caps and the
// framing check. log receives net/http's complaints.
func NewServer(h http.Handler, lim Limits, log *slog.Logger) *http.Server {
	lim = lim.withDefaults()
	return &http.Server{
		Handler:           limitBody(h, lim.MaxBodyBytes, lim.MaxUploadBytes),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}
}

// limitBody refuses a declared body over max (upload for a form with
// files) with 413 and cuts a longer one there.
func limitBody(h http.Handler, max, upload int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		max := max
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
			max = upload
		}
		if r.ContentLength > max {
			w.Header().Set("Connection", "close")
			writeJSONError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the request body is over %d bytes", max))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}

// LimitListener wraps ln so that connections over the caps are answered
// 503 and closed, and every request's framing is checked.
func LimitListener(ln net.Listener, lim Limits) net.Listener {
	lim = lim.withDefaults()
	return &httpListener{Listener: ln, lim: lim, perIP: map[string]int{}}
}

type httpListener struct {
	net.Listener
	lim Limits

	mu     sync.Mutex
	active int
	perIP  map[string]int
}

const http503 = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s"

func (l *httpListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if why := l.admit(ip); why != "" {
			go l.refuse(c, ip, why)
			continue
		}
		return &httpConn{Conn: c, l: l, ip: ip, f: framer{maxHold: l.lim.MaxHeaderBytes + 4096}}, nil
	}
}

func (l *httpListener) admit(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.perIP[ip] >= l.lim.MaxPerIP:
		return "too many connections from " + ip
	case l.active >= l.lim.MaxConnections:
		return "too many connections"
	}
	l.active++
	l.perIP[ip]++
	return ""
}

func (l *httpListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.active--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

func (l *httpListener) refuse(c net.Conn, ip, why string) {
	defer c.Close()
	if l.lim.OnRefuse != nil {
		l.lim.OnRefuse(ip, why)
	}
	msg := why + ", try again later\n"
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = fmt.Fprintf(c, http503, len(msg), msg)
}

// httpConn is one admitted connection: it gives its slot back when
// closed, and passes what it reads through the framing check.
type httpConn struct {
	net.Conn
	l    *httpListener
	ip   string
	once sync.Once

	f   framer
	buf []byte // read from the client, checked, not yet handed to net/http
	err error
}

func (c *httpConn) Close() error {
	c.once.Do(func() { c.l.release(c.ip) })
	return c.Conn.Close()
}

func (c *httpConn) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		in := make([]byte, max(len(p), 4096))
		n, err := c.Conn.Read(in)
		c.buf = c.f.feed(c.buf, in[:n])
		if err != nil {
			c.err = err
			c.buf = append(c.buf, c.f.flush()...)
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// remoteIP is the IP address of a connection's peer.
func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
