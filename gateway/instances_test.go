package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/store/pgtest"
)

// Several instances on one PostgreSQL database: each test opens two
// stores on one database, as two processes would, with a gateway on each.

// twoInstances opens two gateways on one new PostgreSQL database, with
// the clock now.
func twoInstances(t *testing.T, now func() time.Time) ([2]*Gateway, [2]*store.Store) {
	t.Helper()
	url := pgtest.Database(t)
	var gs [2]*Gateway
	var sts [2]*store.Store
	for i := range gs {
		sts[i] = openStoreAt(t, url, store.Options{Now: now})
		t.Cleanup(func() { sts[i].Close() })
		gs[i] = newTestGatewayOn(t, sts[i])
	}
	return gs, sts
}

// The same mail delivered to both instances at the same moment (an MTA
// retrying at the other MX) is one case; both answer 250.
func TestInstancesSameMailOneCase(t *testing.T) {
	gs, sts := twoInstances(t, time.Now)
	addrs := [2]string{startSMTP(t, gs[0], SMTPConfig{MaxMessageBytes: 1 << 20}), startSMTP(t, gs[1], SMTPConfig{MaxMessageBytes: 1 << 20})}
	const mails = 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*mails)
	for i := range mails {
		raw := fmt.Sprintf("From: Carol <carol@customer.example>\nTo: support@support.test\nSubject: Problem %d\n"+
			"Message-ID: <same.%d@customer.example>\n\nIt broke, number %d.\n", i, i, i)
		for _, addr := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- smtpSendNoFatal(addr, "carol@customer.example", []string{"support@support.test"}, raw)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a delivery was refused: %v", err)
		}
	}
	ctx := context.Background()
	cases, err := sts[0].ListCases(ctx, store.CaseFilter{})
	if err != nil || len(cases) != mails {
		t.Fatalf("%d cases, %v; want %d", len(cases), err, mails)
	}
	if n, _ := sts[1].CountMessages(ctx, ""); n != mails {
		t.Fatalf("%d messages stored, want %d", n, mails)
	}
	if o, _ := sts[1].ListOutbox(ctx, "", 0); len(o) != mails {
		t.Fatalf("%d confirmations queued, want %d", len(o), mails)
	}
}

// A link signed by one instance is good on the other, and a bounce to a
// VERP address made by one is attributed by the other: the keys live in
// the database.
func TestInstancesShareSigningKeys(t *testing.T) {
	gs, _ := twoInstances(t, time.Now)
	ctx := context.Background()
	if !bytes.Equal(gs[0].linkKey, gs[1].linkKey) || len(gs[0].linkKey) == 0 {
		t.Fatal("the instances sign links with different keys")
	}
	a, err := gs[0].verpAddress(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	b, err := gs[1].verpAddress(ctx, 42)
	if err != nil || a != b {
		t.Fatalf("VERP addresses %q and %q (%v)", a, b, err)
	}
}

// Both instances run the scheduler at the same moment: a resolved case
// past auto_close_after is closed once, with one notice per recipient.
func TestInstancesAutoCloseOnce(t *testing.T) {
	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := start
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	gs, sts := twoInstances(t, clock)
	for _, g := range gs {
		g.cfg.Survey, g.cfg.AutoCloseAfter = true, 7*24*time.Hour
	}
	ctx := context.Background()
	c := openTestCase(t, gs[0])
	if _, err := gs[1].Transition(ctx, c.Number, store.StateResolved, "Fixed.", Actor{Email: agent}); err != nil {
		t.Fatal(err)
	}
	ob := &outbox{t: t, st: sts[0]}
	ob.take()
	mu.Lock()
	now = start.Add(8 * 24 * time.Hour)
	mu.Unlock()
	var wg sync.WaitGroup
	closed := make([]int, 2)
	for i, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := g.AutoClose(ctx)
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
			closed[i] = n
		}()
	}
	wg.Wait()
	if closed[0]+closed[1] != 1 {
		t.Fatalf("closed %v times, want once", closed)
	}
	ob.expect("auto-closed by one instance", map[string][]string{"case_closed": {contact, watcher}, "case_survey": {contact}})
}

// /healthz names the backend and whether it answers; while PostgreSQL is
// down SMTP answers 451 and nothing is stored; once it is back the same
// mail is taken in, without restarting the gateway.
func TestPostgresOutageAnswers451AndRecovers(t *testing.T) {
	cluster := pgtest.StartT(t)
	url, err := cluster.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	st := openStoreAt(t, url, store.Options{})
	t.Cleanup(func() { st.Close() })
	g := newTestGatewayOn(t, st)
	addr := startSMTP(t, g, SMTPConfig{MaxMessageBytes: 1 << 20})
	health := func(wantCode int, wantReachable bool) {
		t.Helper()
		h, ok := g.Health(context.Background()) // what /healthz answers (package web)
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		raw, _ := json.Marshal(h)
		var body struct {
			Database struct {
				Backend   string `json:"backend"`
				Reachable bool   `json:"reachable"`
			} `json:"database"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("healthz: %v: %s", err, raw)
		}
		if code != wantCode || body.Database.Backend != store.BackendPostgres || body.Database.Reachable != wantReachable {
			t.Fatalf("healthz %d %s, want %d, reachable %v", code, raw, wantCode, wantReachable)
		}
	}
	health(http.StatusOK, true)

	cluster.Halt()
	err = smtpSendNoFatal(addr, "carol@customer.example", []string{"support@support.test"}, simpleMail)
	if code, _ := smtpCode(t, err); code != 451 {
		t.Fatalf("with the database down: %d, want 451", code)
	}
	health(http.StatusServiceUnavailable, false)

	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	health(http.StatusOK, true)
	if err := smtpSendNoFatal(addr, "carol@customer.example", []string{"support@support.test"}, simpleMail); err != nil {
		t.Fatalf("after the database came back: %v", err)
	}
	if n, err := st.CountMessages(context.Background(), ""); err != nil || n != 1 {
		t.Fatalf("%d messages, %v; want 1", n, err)
	}
}

// smtpSendNoFatal is smtpSend for other goroutines than the test's: a
// failed dial is returned too.
func smtpSendNoFatal(addr, from string, to []string, raw string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	return c.SendMail(from, to, strings.NewReader(raw))
}
