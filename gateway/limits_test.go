package gateway

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
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
	clock := &testClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
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
