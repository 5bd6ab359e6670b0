package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"gopkg.in/yaml.v3"
)

// fakeGateway is an SMTP server standing in for casegate: it accepts each
// mail and, unless told otherwise, mails a confirmation for it to the
// relay, the way the gateway's outbox does.
type fakeGateway struct {
	addr  string
	relay string
	// refuse answers 451 to mail n (counted from 1) when it returns true.
	refuse func(n int64) bool
	// confirm says whether mail n gets a confirmation.
	confirm func(n int64) bool

	n        atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	relayErr error
}

func startFakeGateway(t *testing.T, relayAddr string) *fakeGateway {
	t.Helper()
	g := &fakeGateway{relay: relayAddr, refuse: func(int64) bool { return false }, confirm: func(int64) bool { return true }}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &fakeSession{g: g}, nil }))
	s.Domain = "gateway.test"
	s.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	go s.Serve(ln)
	t.Cleanup(func() {
		s.Close()
		g.wg.Wait()
		if g.relayErr != nil {
			t.Errorf("fake gateway could not mail the relay: %v", g.relayErr)
		}
	})
	return g
}

type fakeSession struct {
	g    *fakeGateway
	from string
}

func (s *fakeSession) Reset()        {}
func (s *fakeSession) Logout() error { return nil }
func (s *fakeSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *fakeSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *fakeSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, msg.Body)
	n := s.g.n.Add(1)
	if s.g.refuse(n) {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	if s.g.confirm(n) {
		s.g.wg.Add(1)
		go s.g.sendConfirmation(s.from, msg.Header.Get("Message-ID"))
	}
	return nil
}

func (g *fakeGateway) sendConfirmation(to, inReplyTo string) {
	defer g.wg.Done()
	body := fmt.Sprintf("Subject: [CS0000001] Load test\r\nIn-Reply-To: %s\r\n\r\nWe have your case.\r\n", inReplyTo)
	if err := sendPlain(g.relay, to, body); err != nil {
		g.mu.Lock()
		g.relayErr = err
		g.mu.Unlock()
	}
}

// runLoad runs the command line and returns its exit code and output.
func runLoad(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	t.Logf("casegate-load %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return code, out.String() + errOut.String()
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("output lacks %q", l)
		}
	}
}

func TestOpenLoopEveryMailConfirmed(t *testing.T) {
	relay, _ := freeAddr()
	g := startFakeGateway(t, relay)
	code, out := runLoad(t, "-addr", g.addr, "-relay", relay, "-rate", "200", "-duration", "500ms", "-c", "10", "-grace", "10s")
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantLines(t, out, "offered: 200 mails/s for 500ms (100 mails), at most 10 sessions",
		"intake: 100 accepted, 0 failed", "confirmations at the relay: 100 of 100", ", 0 other mails",
		"end to end (mail due to confirmation at the relay): p50 ",
		"tls: none") // the config hint for a gateway started by hand
	if n := g.n.Load(); n != 100 {
		t.Errorf("the gateway got %d mails, want 100", n)
	}
}

// A missing confirmation or a refused mail fails the run, and the report
// says how many.
func TestOpenLoopShortfall(t *testing.T) {
	relay, _ := freeAddr()
	g := startFakeGateway(t, relay)
	g.refuse = func(n int64) bool { return n%25 == 0 }
	g.confirm = func(n int64) bool { return n%10 != 0 }
	code, out := runLoad(t, "-addr", g.addr, "-relay", relay, "-rate", "200", "-duration", "500ms", "-grace", "1s")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	// Of 100 mails, 4 are refused (25, 50, 75, 100); of the 96 accepted,
	// the 8 numbered 10, 20, 30, 40, 60, 70, 80, 90 are not confirmed.
	wantLines(t, out, "intake: 96 accepted, 4 failed", "first error: ", "confirmations at the relay: 88 of 96")
}

// -timeout ends a run however long -duration is.
func TestOpenLoopStopsAtTimeout(t *testing.T) {
	relay, _ := freeAddr()
	g := startFakeGateway(t, relay)
	code, out := runLoad(t, "-addr", g.addr, "-relay", relay, "-rate", "100", "-duration", "1h", "-timeout", "500ms")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	wantLines(t, out, "offered: 100 mails/s for 1h0m0s (360000 mails)", "stopped early: context deadline exceeded")
	if n := g.n.Load(); n < 1 || n > 100 {
		t.Errorf("the gateway got %d mails in half a second at 100/s", n)
	}
}

func TestClosedLoop(t *testing.T) {
	g := startFakeGateway(t, "")
	g.confirm = func(int64) bool { return false }
	code, out := runLoad(t, "-addr", g.addr, "-c", "4", "-n", "50")
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantLines(t, out, "closed loop: 50 mails over 4 sessions", "intake: 50 accepted, 0 failed")
	if strings.Contains(out, "confirmations") {
		t.Error("a closed loop without -serve runs no relay, so it reports no confirmations")
	}
	if n := g.n.Load(); n != 50 {
		t.Errorf("the gateway got %d mails, want 50", n)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-c", "0"},
		{"-rate", "1", "-duration", "10ms"},
		{"-set", "outbound.circuit_breaker=5"},
		{"-nonsense"},
	} {
		if code, _ := runLoad(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestGatewayConfig(t *testing.T) {
	b, err := gatewayConfig("/data", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", 150,
		[]string{"outbound.circuit_breaker=100000", "policy.survey=false", "hostname=gw.test", "smtp.max_connections=500"})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	check := func(path string, want any) {
		t.Helper()
		var v any = got
		for _, k := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		if v != want {
			t.Errorf("%s = %#v, want %#v", path, v, want)
		}
	}
	check("data_dir", filepath.Join("/data", "data"))
	check("smtp.listen", "127.0.0.1:1")
	check("smtp.max_connections_per_ip_per_minute", 1000000)
	check("smtp.max_connections", 500)
	check("http.listen", "127.0.0.1:2")
	check("outbound.relay", "127.0.0.1:3")
	check("outbound.tls", "none")
	check("outbound.circuit_breaker", 100000)
	check("policy.survey", false)
	check("hostname", "gw.test")

	if _, err := gatewayConfig("/data", "a", "b", "c", 8, []string{"novalue"}); err == nil {
		t.Error("-set without = was taken")
	}
}

// The real gateway, started by -serve: every mail becomes a case and every
// confirmation reaches the recording relay.
func TestServeRealGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the casegate binary")
	}
	bin := filepath.Join(t.TempDir(), "casegate")
	if out, err := exec.Command("go", "build", "-o", bin, "../casegate").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	code, out := runLoad(t, "-serve", bin, "-rate", "50", "-duration", "1s", "-grace", "60s")
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantLines(t, out, "intake: 50 accepted, 0 failed", "confirmations at the relay: 50 of 50", "stored cases: 50 (mails accepted: 50)")
	if strings.Contains(out, "kept in") {
		t.Error("the data directory of a good run was kept")
	}
}

// With -via-mx each mail names a client of its own in a Received line, as
// an MX in front would, so per-source budgets see many customers.
func TestViaMXNamesAClientPerMail(t *testing.T) {
	m := newMailer("support@localhost", 100, time.Unix(0, 0))
	if strings.Contains(m.message(1, time.Unix(0, 0)), "Received:") {
		t.Fatal("a Received line without -via-mx")
	}
	m.viaMX = true
	seen := map[string]bool{}
	for _, i := range []int{0, 5, 255, 256, 70000} {
		msg := m.message(i, time.Unix(0, 0))
		first, _, _ := strings.Cut(msg, "\r\n")
		open, close := strings.Index(first, "["), strings.Index(first, "]")
		if !strings.HasPrefix(first, "Received: from client") || open < 0 || close < open {
			t.Fatalf("mail %d: first line %q", i, first)
		}
		ip := first[open+1 : close]
		if !strings.HasPrefix(ip, "198.18.") && !strings.HasPrefix(ip, "198.19.") || seen[ip] {
			t.Fatalf("mail %d: client %s (not in 198.18.0.0/15, or seen before)", i, ip)
		}
		seen[ip] = true
	}
	o, err := parseFlags([]string{"-serve", "bin/casegate", "-via-mx", "-rate", "10", "-duration", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := gatewayConfig("/data", "a", "b", "c", 8, o.set)
	if err != nil || !strings.Contains(string(cfg), "trusted_relays") || !strings.Contains(string(cfg), "127.0.0.1") {
		t.Fatalf("config with -via-mx: %s %v", cfg, err)
	}
}
