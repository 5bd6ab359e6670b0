package imappoll

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// TestTLSModes: implicit TLS and STARTTLS, verified against the test CA.
func TestTLSModes(t *testing.T) {
	cert := dovecottest.NewCert(t)
	for _, mode := range []string{TLSImplicit, TLSStartTLS} {
		t.Run(mode, func(t *testing.T) {
			ms := startMemServer(t, capsMove)
			ms.srv.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			opts := &imapserver.Options{
				NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
					return ms.mem.NewSession(), nil, nil
				},
				Caps: capsMove, Logger: discardLogger{},
			}
			if mode == TLSImplicit {
				ln = tls.NewListener(ln, cert.ServerConfig())
			} else {
				opts.TLSConfig = cert.ServerConfig()
			}
			srv := imapserver.New(opts)
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })

			log, _ := newLogRecorder(t)
			d := newFakeDeliverer(t, "")
			cfg := testConfig(addr, "seen")
			cfg.TLS, cfg.TLSConfig = mode, cert.ClientConfig()
			ms.user.Append("INBOX", literal(testMail(mode, 1)), &imap.AppendOptions{})
			start(t, newTestPoller(t, cfg, d, newMemState(t, ""), log))
			waitFor(t, 5*time.Second, "delivery over "+mode, func() bool { _, n, _ := d.counts(); return n == 1 })
		})
	}
}

// TestWrongPassword: a refused login is reported at ERROR once per
// attempt, attempts are a growing backoff apart, and nothing else happens.
func TestWrongPassword(t *testing.T) {
	ms := startMemServer(t, capsMove)
	log, rec := newLogRecorder(t)
	d := newFakeDeliverer(t, "")
	cfg := testConfig(ms.addr, "seen")
	cfg.Password = "wrong"
	p, err := New(cfg, d, newMemState(t, ""), log)
	if err != nil {
		t.Fatal(err)
	}
	p.backoff.jitter = func(time.Duration) time.Duration { return 0 }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []time.Duration
	p.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		if len(waits) == 5 {
			cancel()
			return ctx.Err()
		}
		return nil
	}
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	if n := rec.count(slogError, "imap helpdesk: login failed"); n != 5 {
		t.Errorf("%d login errors logged for 5 attempts", n)
	}
	if n := rec.count(slogWarn, ""); n != 0 {
		t.Errorf("%d warnings besides the login errors", n)
	}
	if calls, _, _ := d.counts(); calls != 0 {
		t.Errorf("%d deliveries without a login", calls)
	}
}

// TestReconnect: the server goes away and comes back on the same address;
// the poller reconnects on its own and carries on.
func TestReconnect(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "before", 0, 2)
	log, rec := newLogRecorder(t)
	d := newFakeDeliverer(t, "")
	start(t, newTestPoller(t, testConfig(ms.addr, "seen"), d, newMemState(t, ""), log))
	waitFor(t, 5*time.Second, "first delivery", func() bool { _, n, _ := d.counts(); return n == 2 })

	ms.srv.Close()
	waitFor(t, 5*time.Second, "the poller to notice", func() bool { return rec.count(slogWarn, "session ended") > 0 })
	ms.user.Append("INBOX", literal(testMail("during", 0)), &imap.AppendOptions{})
	ln, err := net.Listen("tcp", ms.addr)
	if err != nil {
		t.Fatal(err)
	}
	ms.serve(t, ln, capsMove)
	waitFor(t, 5*time.Second, "delivery after the reconnect", func() bool { _, n, _ := d.counts(); return n == 3 })
}

func TestNewRefusesBadConfig(t *testing.T) {
	check := func(mutate func(*Config), want string) {
		t.Helper()
		cfg := testConfig("127.0.0.1:143", "seen")
		mutate(&cfg)
		_, err := New(cfg, newFakeDeliverer(t, ""), newMemState(t, ""), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want it to mention %q", err, want)
		}
	}
	check(func(c *Config) { c.Name = "" }, "name")
	check(func(c *Config) { c.Address = "imap.example.com" }, "address")
	check(func(c *Config) { c.TLS = "ssl" }, "tls")
	check(func(c *Config) { c.Username = "" }, "username")
	check(func(c *Config) { c.Password = "" }, "password")
	check(func(c *Config) { c.Kind = "incident" }, "kind")
	check(func(c *Config) { c.After = "archive" }, "after")
	check(func(c *Config) { c.After = "move:" }, "after")
	check(func(c *Config) { c.After = "move:inbox" }, "polled folder")
}

// TestSilentServer: a server that greets and then never answers cannot
// hang the poller: the command timeout closes the connection and the
// poller tries again.
func TestSilentServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.Write([]byte("* OK ready\r\n"))
				io.Copy(io.Discard, conn)
			}()
		}
	}()
	log, rec := newLogRecorder(t)
	p := newTestPoller(t, testConfig(ln.Addr().String(), "seen"), newFakeDeliverer(t, ""), newMemState(t, ""), log)
	p.cmdTimeout = 50 * time.Millisecond
	start(t, p)
	waitFor(t, 5*time.Second, "two timed-out sessions", func() bool { return rec.count(slogWarn, "no answer from the server") >= 2 })
}
