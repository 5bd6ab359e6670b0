package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/casegate/casegate/store"
)

// startIMAP serves an in-memory mailbox on 127.0.0.1:0 and returns its
// address and a client logged in to it.
func startIMAP(t *testing.T, user, pass string) (string, *imapclient.Client) {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, pass)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c, err := imapclient.DialInsecure(ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), c
}

func appendMail(t *testing.T, c *imapclient.Client, raw string) {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// waitCases waits until the database holds n cases.
func waitCases(t *testing.T, st *store.Store, n int, timeout time.Duration) []store.Case {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cs, err := st.ListCases(context.Background(), store.CaseFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) >= n || time.Now().After(deadline) {
			if len(cs) != n {
				t.Fatalf("%d cases, want %d", len(cs), n)
			}
			return cs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const orderMail = `From: Frank <frank@customer.example>
To: orders@customer-helpdesk.example
Subject: New laptop for our new hire
Message-ID: <order.1@customer.example>

Please order a standard laptop for Grace, starting Monday.
`

func TestIMAPMailboxBecomesCasesLikeSMTP(t *testing.T) {
	addr, imapc := startIMAP(t, "orders@localhost", "s3cret")
	appendMail(t, imapc, orderMail)
	t.Setenv("CASEGATE_TEST_IMAP_PASSWORD", "s3cret")
	m := startMain(t, nil, func(c *Config) {
		c.IMAP = []IMAPConfig{{Name: "orders", Address: addr, TLS: "none", Username: "orders@localhost",
			PasswordEnv: "CASEGATE_TEST_IMAP_PASSWORD", Folder: "INBOX", After: "move:Processed", Kind: "order"}}
	})
	cs := waitCases(t, m.Store, 1, 10*time.Second)
	if cs[0].Kind != "order" || cs[0].Subject != "New laptop for our new hire" || cs[0].Contact.Email != "frank@customer.example" {
		t.Fatalf("case from IMAP = %+v", cs[0])
	}
	// The same mail over SMTP is the same case: nothing new.
	mustSend(t, m.SMTPAddr, "frank@customer.example", []string{"orders@localhost"}, orderMail)
	waitCases(t, m.Store, 1, 0)
	// The after action moved it once committed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := imapc.Status("Processed", &imap.StatusOptions{NumMessages: true}).Wait()
		if err == nil && data.NumMessages != nil && *data.NumMessages == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not moved to Processed: %v %v", data, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A mail arriving while running becomes a case too.
	appendMail(t, imapc, strings.Replace(strings.Replace(orderMail, "order.1", "order.2", 1), "laptop", "monitor", 2))
	cs = waitCases(t, m.Store, 2, 10*time.Second)
	if cs[0].Subject != "New monitor for our new hire" {
		t.Fatalf("second case = %+v", cs[0])
	}
}

func TestIMAPPasswordMissingStopsStartup(t *testing.T) {
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.SMTP.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.IMAP = []IMAPConfig{{Name: "helpdesk", Address: "127.0.0.1:1", TLS: "none", Username: "u",
		PasswordEnv: "CASEGATE_TEST_UNSET_PASSWORD", Folder: "INBOX", After: "seen", Kind: "case"}}
	m := &Main{Config: cfg}
	err := m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "CASEGATE_TEST_UNSET_PASSWORD") {
		t.Fatalf("err = %v", err)
	}
}

func TestIMAPPlusAddressThreads(t *testing.T) {
	addr, imapc := startIMAP(t, "support@localhost", "s3cret")
	t.Setenv("CASEGATE_TEST_IMAP_PASSWORD2", "s3cret")
	m := startMain(t, nil, func(c *Config) {
		c.IMAP = []IMAPConfig{{Name: "support", Address: addr, TLS: "none", Username: "support@localhost",
			PasswordEnv: "CASEGATE_TEST_IMAP_PASSWORD2", Folder: "INBOX", After: "seen", Kind: "case"}}
	})
	// imapmemserver's IDLE misses mail appended between the poller's
	// search and its IDLE: let the poller take its lease and get going
	// before the reply arrives.
	waitMailboxLeased(t, m, "support")
	mustSend(t, m.SMTPAddr, "frank@customer.example", []string{"support@localhost"},
		"From: frank@customer.example\nTo: support@localhost\nSubject: Badge reader\nMessage-ID: <p1@customer.example>\n\nBroken.\n")
	// A reply that kept only the plus-addressed Reply-To reaches the mailbox.
	appendMail(t, imapc, "From: frank@customer.example\nTo: support+CS0000001@localhost\nSubject: more\n"+
		"Message-ID: <p2@customer.example>\n\nStill broken.\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := m.Store.CountMessages(context.Background(), store.OutcomeReply)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the plus-addressed reply from the mailbox did not thread")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitCases(t, m.Store, 1, 0)
}

// waitMailboxLeased waits until m's poller of mailbox holds its lease.
func waitMailboxLeased(t *testing.T, m *Main, mailbox string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		l, err := m.Store.MailboxLeaseOf(context.Background(), mailbox)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		if l.Owner == m.Gateway.InstanceID() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailbox %s not leased by the gateway (held by %q)", mailbox, l.Owner)
		}
	}
}
