package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The real server cuts what slow or looping clients hold: an idle HTTP
// keep-alive connection and a slow body, a NOOP loop over SMTP, a fourth
// SMTP connection from one IP; and refuses request smuggling and a dirty
// envelope sender.
func TestServeBoundsClients(t *testing.T) {
	m := startMain(t, nil, func(c *Config) {
		c.HTTP.IdleTimeout, c.HTTP.ReadTimeout = Duration(300*time.Millisecond), Duration(300*time.Millisecond)
		c.SMTP.MaxConnectionsPerIP, c.SMTP.MaxRecipients, c.SMTP.MaxCommandsWithoutProgress = 3, 5, 20
	})
	cutWithin := func(what string, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("%s: connection still open after 3s", what)
			}
		}
	}
	idle, err := net.Dial("tcp", m.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v, %v", resp, err)
	}
	cutWithin("idle keep-alive", idle)
	slow, _ := net.Dial("tcp", m.HTTPAddr)
	defer slow.Close()
	io.WriteString(slow, "POST /l/token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
	cutWithin("slow body", slow)

	smuggle, _ := net.Dial("tcp", m.HTTPAddr)
	defer smuggle.Close()
	io.WriteString(smuggle, "POST /l/token HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	smuggle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(smuggle), nil); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("Content-Length with Transfer-Encoding: %v, %v; want 400", resp, err)
	}

	s := smtpDial(t, m.SMTPAddr)
	s.cmd("EHLO client.example")
	for _, from := range []string{"evil\x1b[2J@customer.example", "evil\x1b]0;pwned\x07@customer.example", "caf\xe9@customer.example"} {
		if got := s.cmd("MAIL FROM:<" + from + ">"); !strings.HasPrefix(got, "553 5.1.7") && !strings.HasPrefix(got, "501 ") {
			t.Fatalf("envelope sender %q: %q, want 553 5.1.7 or 501", from, got)
		}
	}
	var last string
	for i := 0; i < 30; i++ {
		if last = s.cmd("NOOP"); !strings.HasPrefix(last, "250") {
			break
		}
	}
	if !strings.HasPrefix(last, "421 4.7.0") {
		t.Fatalf("a NOOP loop: last answer %q, want 421 4.7.0", last)
	}
	if _, err := s.r.ReadString('\n'); err == nil {
		t.Fatal("the connection stays open after the 421")
	}
	s.c.Close()
	var held []net.Conn
	for deadline := time.Now().Add(5 * time.Second); len(held) < 3 && time.Now().Before(deadline); {
		c, err := net.Dial("tcp", m.SMTPAddr) // until the cut session's slot is free again
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if line, _ := bufio.NewReader(c).ReadString('\n'); strings.HasPrefix(line, "220 ") {
			held = append(held, c)
		} else {
			c.Close()
		}
	}
	c, err := net.Dial("tcp", m.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("a fourth connection from one IP: %q, want 421 4.7.0", line)
	}
	for _, h := range held {
		h.Close()
	}
}

// smtpClient speaks SMTP line by line to the real server.
type smtpClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func smtpDial(t *testing.T, addr string) *smtpClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	s := &smtpClient{t: t, c: c, r: bufio.NewReader(c)}
	if line, _ := s.r.ReadString('\n'); !strings.HasPrefix(line, "220 ") {
		t.Fatalf("greeting: %q", line)
	}
	return s
}

// cmd sends a command and returns the last line of the answer, "" once the
// server has closed the connection.
func (s *smtpClient) cmd(line string) string {
	if _, err := io.WriteString(s.c, line+"\r\n"); err != nil {
		return ""
	}
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			return ""
		}
		if len(l) < 4 || l[3] != '-' {
			return strings.TrimRight(l, "\r\n")
		}
	}
}
