package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// serveSMTP serves e's SMTP listener, named (SMTPListener), on
// 127.0.0.1:0; shutdown waits for every connection's handler to finish.
func serveSMTP(t *testing.T, g *Gateway, cfg SMTPConfig) (addr string, shutdown func()) {
	t.Helper()
	s := g.NewSMTPServer(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(g.SMTPListener(ln))
	shutdown = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}
	t.Cleanup(shutdown)
	return ln.Addr().String(), shutdown
}

// mannersMail is a customer's first mail, numbered.
func mannersMail(n int, body string) string {
	return fmt.Sprintf("From: Erin <erin%d@customer.example>\r\nTo: support@support.test\r\n"+
		"Subject: Scanner %d jams\r\nMessage-ID: <scanner.%d@customer.example>\r\n\r\n%s\r\n", n, n, n, body)
}

// dialog sends each command and returns the reply lines to it.
func dialog(t *testing.T, addr string, cmds ...string) [][]string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	read := func() []string {
		var lines []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading a reply: %v (so far %q)", err, lines)
			}
			lines = append(lines, strings.TrimRight(line, "\r\n"))
			if len(line) < 4 || line[3] != '-' {
				return lines
			}
		}
	}
	replies := [][]string{read()}
	for _, cmd := range cmds {
		fmt.Fprintf(c, "%s\r\n", cmd)
		replies = append(replies, read())
	}
	return replies
}

// RFC 5321 §4.1.1.1: the greeting and the HELO/EHLO reply start with the
// server's own name, which a sending MTA compares with its own.
func TestSMTPNamesItself(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr, _ := serveSMTP(t, e.g, SMTPConfig{MaxMessageBytes: 1 << 20})
	r := dialog(t, addr, "EHLO mx.customer.example", "HELO mx.customer.example", "QUIT")
	if got := r[0][0]; !strings.HasPrefix(got, "220 support.test ") {
		t.Errorf("greeting %q does not name support.test", got)
	}
	if got := r[1][0]; got != "250-support.test Hello mx.customer.example" {
		t.Errorf("EHLO reply %q, want 250-support.test Hello mx.customer.example", got)
	}
	if got := r[1]; !strings.HasPrefix(got[len(got)-1], "250 ") || !strings.Contains(strings.Join(got, "\n"), "SIZE 1048576") {
		t.Errorf("EHLO keywords lost: %q", got)
	}
	if got := r[2][0]; got != "250 support.test Hello mx.customer.example" {
		t.Errorf("HELO reply %q, want 250 support.test Hello mx.customer.example", got)
	}
	// A client library still talks to it.
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("erin1@customer.example", []string{"support@support.test"}, strings.NewReader(mannersMail(1, "It jams."))); err != nil {
		t.Fatalf("send after the rewritten EHLO: %v", err)
	}
}

// A port probe or a health check that connects and goes away, with or
// without a reset, is no warning.
func TestSMTPProbesLogNothing(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr, shutdown := serveSMTP(t, e.g, SMTPConfig{MaxMessageBytes: 1 << 20})
	probe := func(readGreeting, reset bool) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if readGreeting {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
		if reset {
			c.(*net.TCPConn).SetLinger(0) // close with RST
		}
		c.Close()
	}
	for _, greet := range []bool{false, true} {
		for _, reset := range []bool{false, true} {
			probe(greet, reset)
		}
	}
	// An abandoned conversation after EHLO, reset as well.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "EHLO probe.example\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	for line := ""; !strings.HasPrefix(line, "250 "); {
		if line, err = r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	shutdown() // waits for every handler
	if logs := e.logs.String(); strings.Contains(logs, "level=WARN") || strings.Contains(logs, "level=ERROR") {
		t.Fatalf("probes logged warnings:\n%s", logs)
	}
}

// One log line per transaction outcome, with client, envelope, size and
// result.
func TestSMTPTransactionLog(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	addr, shutdown := serveSMTP(t, e.g, SMTPConfig{MaxMessageBytes: 4096})
	send := func(from string, to []string, raw string) error {
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("mx.customer.example"); err != nil {
			t.Fatal(err)
		}
		return c.SendMail(from, to, strings.NewReader(raw))
	}
	if err := send("erin1@customer.example", []string{"support@support.test"}, mannersMail(1, "It jams.")); err != nil {
		t.Fatal(err)
	}
	if err := send("erin2@customer.example", []string{"nobody@support.test"}, mannersMail(2, "x")); err == nil {
		t.Fatal("unknown recipient accepted")
	}
	if err := send("", []string{"bounces+1-AAAAAAAAAAAAAAAAAAAAAAAAAA@support.test"}, mannersMail(3, "x")); err == nil {
		t.Fatal("forged bounce address accepted")
	}
	if err := send("erin4@customer.example", []string{"support@support.test"}, mannersMail(4, strings.Repeat("too big ", 1000))); err == nil {
		t.Fatal("mail over the size limit accepted")
	}
	dialog(t, addr, "EHLO verify.example", "MAIL FROM:<>", "RCPT TO:<support@support.test>", "QUIT")
	shutdown()

	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	find := func(msg string, want ...string) {
		t.Helper()
		var found []string
		for _, l := range lines {
			if strings.Contains(l, `msg="`+msg+`"`) && strings.Contains(l, want[0]) {
				found = append(found, l)
			}
		}
		if len(found) != 1 {
			t.Errorf("%d lines %q with %q, want 1:\n%s", len(found), msg, want[0], strings.Join(lines, "\n"))
			return
		}
		for _, w := range append(want, "client=127.0.0.1") {
			if !strings.Contains(found[0], w) {
				t.Errorf("%q line lacks %q:\n%s", msg, w, found[0])
			}
		}
	}
	find("smtp: message stored", "from=erin1@customer.example", "helo=mx.customer.example", "to=[support@support.test]",
		"size=", "result=250", "outcome=new_case", "case=CS0000001")
	find("smtp: recipient refused", "to=nobody@support.test", "from=erin2@customer.example", `code="550 5.1.1"`, `reason="unknown recipient"`)
	find("smtp: recipient refused", "to=bounces+1-", `code="550 5.1.1"`, `reason="forged bounce address"`)
	find("smtp: message refused", "from=erin4@customer.example", `result="552 5.3.4"`, "size=")
	find("smtp: transaction abandoned", "helo=verify.example", "to=[support@support.test]", `result="no data"`)
	if n := strings.Count(e.logs.String(), "smtp: "); n != 5 {
		t.Errorf("%d smtp lines for 5 transactions:\n%s", n, e.logs.String())
	}
}

func TestNullSenderIsOneDecision(t *testing.T) {
	for _, c := range []struct {
		from string
		null bool
	}{
		{"", true}, {"<>", true}, {" <> ", true}, {"MAILER-DAEMON", true}, {"mailer-daemon", true},
		{"carol@customer.example", false}, {"MAILER-DAEMON@mx.customer.example", false}, {"<carol@customer.example>", false},
	} {
		if got := IsNullSender(c.from); got != c.null {
			t.Errorf("IsNullSender(%q) = %v, want %v", c.from, got, c.null)
		}
	}
	// The same report mail is a bounce by SMTP and by pipe, a case by
	// neither.
	e := newOpsEnv(t, Protection{})
	report := mannersMail(9, "Your message could not be delivered.")
	for i, src := range []string{"smtp", "pipe"} {
		raw := strings.Replace(report, "scanner.9@", fmt.Sprintf("scanner.9.%d@", i), 1)
		res, err := e.g.Ingest(context.Background(), []byte(raw), Envelope{Source: src, To: []string{"support@support.test"}, NullSender: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != "bounce" || res.Case != "" {
			t.Errorf("%s with the null sender: %s %s, want a bounce and no case", src, res.Outcome, res.Case)
		}
	}
}
