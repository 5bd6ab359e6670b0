package gateway

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway/gatewaytest"
)

func TestSMTPHeaderAndLineLimits(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr := startSMTP(t, e.g, SMTPConfig{MaxMessageBytes: 1 << 20, MaxHeaderBytes: 2000, MaxLineBytes: 1000})
	big := "X-Filler: " + strings.Repeat("a", 900) + "\n"
	err := smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"}, big+big+big+mailFrom(1))
	if code, enh := smtpCode(t, err); code != 552 || enh != (smtp.EnhancedCode{5, 3, 4}) {
		t.Errorf("header over the limit: %d %v, want 552 5.3.4", code, enh)
	}
	err = smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"}, mailFrom(2)+strings.Repeat("b", 1500)+"\n")
	if code, enh := smtpCode(t, err); code != 554 || enh != (smtp.EnhancedCode{5, 6, 0}) {
		t.Errorf("line over the limit: %d %v, want 554 5.6.0", code, enh)
	}
	if _, m, _ := countRows(t, e.st); m != 0 {
		t.Fatalf("refused mail stored: %d messages", m)
	}
}

// greeting connects and returns the server's first line.
func greeting(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("no greeting: %v", err)
	}
	return c, line
}

func startLimited(t *testing.T, g *Gateway, cfg SMTPConfig, lim ConnLimits) string {
	t.Helper()
	s := g.NewSMTPServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(LimitListener(ln, lim))
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

func TestSMTPConnectionLimits(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr := startLimited(t, e.g, SMTPConfig{}, ConnLimits{MaxConnections: 1})
	first, line := greeting(t, addr)
	if !strings.HasPrefix(line, "220 ") {
		t.Fatalf("first connection: %q", line)
	}
	if _, line := greeting(t, addr); !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("second connection at once: %q, want 421 4.7.0", line)
	}
	first.Close()
	var ok bool
	for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); {
		c, line := greeting(t, addr)
		ok = strings.HasPrefix(line, "220 ")
		c.Close()
	}
	if !ok {
		t.Fatal("a slot freed by a closed connection was never given out again")
	}
}

func TestSMTPConnectionRatePerIP(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	clock := gatewaytest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	addr := startLimited(t, e.g, SMTPConfig{}, ConnLimits{MaxPerIPPerMinute: 2, Now: clock.Now})
	for i := 0; i < 2; i++ {
		if c, line := greeting(t, addr); !strings.HasPrefix(line, "220 ") {
			t.Fatalf("connection %d: %q", i+1, line)
		} else {
			c.Close()
		}
	}
	if _, line := greeting(t, addr); !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("third connection within the minute: %q, want 421 4.7.0", line)
	}
	clock.Advance(time.Minute)
	if _, line := greeting(t, addr); !strings.HasPrefix(line, "220 ") {
		t.Fatalf("a minute later: %q", line)
	}
}

func TestSMTPReadTimeout(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr := startSMTP(t, e.g, SMTPConfig{ReadTimeout: 200 * time.Millisecond})
	c, _ := greeting(t, addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "421 4.4.2") {
		t.Fatalf("idle client: %q, %v; want 421 4.4.2", line, err)
	}
}

// smtpConn is a raw SMTP client for the limits tests.
type smtpConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) *smtpConn {
	t.Helper()
	c, line := greeting(t, addr)
	if !strings.HasPrefix(line, "220 ") {
		t.Fatalf("greeting: %q", line)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &smtpConn{t: t, c: c, r: bufio.NewReader(c)}
}

// cmd sends one command line and returns the last line of the answer ("" once
// the server closed the connection).
func (s *smtpConn) cmd(line string) string {
	s.t.Helper()
	if _, err := s.c.Write([]byte(line + "\r\n")); err != nil {
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

// A NOOP (or RSET) loop ends after the command limit, with 421 and a
// closed connection; a message starts the count again.
func TestSMTPCommandsWithoutProgress(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	var cut []string
	var mu sync.Mutex
	addr := startLimited(t, e.g, SMTPConfig{}, ConnLimits{MaxCommandsWithoutProgress: 10,
		OnRefuse: func(_, why string) { mu.Lock(); cut = append(cut, why); mu.Unlock() }})
	s := dialSMTP(t, addr)
	s.cmd("EHLO client.example")
	for i := 0; i < 4; i++ {
		s.cmd("NOOP")
	}
	s.cmd("MAIL FROM:<carol@customer.example>")
	s.cmd("RCPT TO:<support@support.test>")
	if got := s.cmd("DATA"); !strings.HasPrefix(got, "354") {
		t.Fatalf("DATA: %q", got)
	}
	if got := s.cmd(strings.ReplaceAll(mailFrom(1), "\n", "\r\n") + "."); !strings.HasPrefix(got, "250") {
		t.Fatalf("message: %q", got)
	}
	for i := 0; i < 10; i++ {
		if got := s.cmd("NOOP"); !strings.HasPrefix(got, "250") {
			t.Fatalf("NOOP %d after a message: %q", i+1, got)
		}
	}
	if got := s.cmd("NOOP"); !strings.HasPrefix(got, "421 4.7.0") {
		t.Fatalf("NOOP over the limit: %q, want 421 4.7.0", got)
	}
	if _, err := s.r.ReadString('\n'); err == nil {
		t.Fatal("the connection stays open after the 421")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cut) != 1 || !strings.Contains(cut[0], "commands without a message") {
		t.Fatalf("cut reported as %q", cut)
	}
}

// A session ends at its lifetime even when the client keeps it busy.
func TestSMTPSessionLifetime(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr := startLimited(t, e.g, SMTPConfig{}, ConnLimits{SessionLifetime: 500 * time.Millisecond})
	s := dialSMTP(t, addr)
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		got := s.cmd("NOOP")
		if strings.HasPrefix(got, "250") {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if got != "" && !strings.HasPrefix(got, "421") {
			t.Fatalf("at the end of the session: %q", got)
		}
		if d := time.Since(start); d < 400*time.Millisecond {
			t.Fatalf("session ended after %v, before its lifetime", d)
		}
		return
	}
	t.Fatal("a NOOP every 50ms kept the session beyond 5s; lifetime 500ms")
}

// One IP cannot hold every slot: past its own limit it is refused while
// the listener still has room for others.
func TestSMTPConnectionsPerIP(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr := startLimited(t, e.g, SMTPConfig{}, ConnLimits{MaxConnections: 10, MaxPerIP: 3})
	var held []net.Conn
	for i := 0; i < 3; i++ {
		c, line := greeting(t, addr)
		if !strings.HasPrefix(line, "220 ") {
			t.Fatalf("connection %d: %q", i+1, line)
		}
		held = append(held, c)
	}
	if _, line := greeting(t, addr); !strings.HasPrefix(line, "421 4.7.0") || !strings.Contains(line, "at once") {
		t.Fatalf("fourth connection from one IP: %q, want 421 4.7.0", line)
	}
	held[0].Close()
	var ok bool
	for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); {
		c, line := greeting(t, addr)
		ok = strings.HasPrefix(line, "220 ")
		c.Close()
	}
	if !ok {
		t.Fatal("the IP's freed slot was never given out again")
	}
}

// A trusted relay is exempt from the limits per address, at once and per
// minute, not from the total.
func TestSMTPTrustedRelayExemptPerIP(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr := startLimited(t, e.g, SMTPConfig{}, ConnLimits{MaxConnections: 5, MaxPerIP: 2, MaxPerIPPerMinute: 3,
		Exempt: func(ip string) bool { return ip == "127.0.0.1" }})
	for i := 0; i < 5; i++ {
		c, line := greeting(t, addr)
		if !strings.HasPrefix(line, "220 ") {
			t.Fatalf("connection %d from the trusted relay: %q", i+1, line)
		}
		defer c.Close()
	}
	if _, line := greeting(t, addr); !strings.HasPrefix(line, "421 4.7.0") || strings.Contains(line, "127.0.0.1") {
		t.Fatalf("a connection over the total: %q, want 421 4.7.0 too many connections", line)
	}
}

// An envelope sender with control characters or invalid UTF-8 is refused
// with 553 5.1.7 and nothing is stored.
func TestSMTPRefusesDirtyEnvelopeSender(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr := startSMTP(t, e.g, SMTPConfig{MaxMessageBytes: 1 << 20})
	for _, from := range []string{"evil\x1b[31m@customer.example", "a\x7fb@customer.example", "caf\xe9@customer.example",
		"x\u202eexe.doc@customer.example", "x\u0085y@customer.example"} {
		s := dialSMTP(t, addr)
		s.cmd("EHLO client.example")
		if got := s.cmd("MAIL FROM:<" + from + ">"); !strings.HasPrefix(got, "553 5.1.7") && !strings.HasPrefix(got, "501") {
			t.Errorf("MAIL FROM:<%q>: %q, want 553 5.1.7", from, got)
		}
		s.c.Close()
	}
	if _, m, _ := countRows(t, e.st); m != 0 {
		t.Fatalf("%d messages stored", m)
	}
	// A clean one still passes.
	if err := smtpSend(t, addr, "carol@customer.example", []string{"support@support.test"}, mailFrom(1)); err != nil {
		t.Fatal(err)
	}
}
