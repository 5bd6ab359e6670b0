package outbound_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// env is a gateway on a fresh database, with one case whose confirmation
// gives the template data that the rows the tests queue are rendered with.
type env struct {
	path string // the database: a SQLite file or a PostgreSQL URL
	st   *store.Store
	// instance and lease are the gateway's (default "outbound-test", a
	// reopened env being the same instance restarting, and the default
	// lease).
	instance string
	lease    time.Duration
	g        *gateway.Gateway
	box      *gateway.Outbox
	logs     *gatewaytest.LogBuffer
	row      store.OutboxMail // the case's confirmation, the model of queued rows
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvAt(t, filepath.Join(t.TempDir(), "casegate.db"), "outbound-test", 0)
}

// newEnvAt is newEnv on the database at path, as instance with lease.
func newEnvAt(t testing.TB, path, instance string, lease time.Duration) *env {
	t.Helper()
	e := &env{path: path, instance: instance, lease: lease, logs: &gatewaytest.LogBuffer{}}
	e.open(t)
	raw := "From: Carol <carol@customer.example>\r\nTo: support@support.test\r\nSubject: Printer offline\r\n" +
		"Message-ID: <printer.1@customer.example>\r\n\r\nIt shows E42.\r\n"
	if _, err := e.g.Ingest(context.Background(), []byte(raw), gateway.Envelope{Source: "smtp",
		From: "carol@customer.example", To: []string{"support@support.test"}}); err != nil {
		t.Fatal(err)
	}
	rows, err := e.st.ListOutbox(context.Background(), "", 0)
	if err != nil || len(rows) != 1 {
		t.Fatalf("confirmation: %d rows, %v", len(rows), err)
	}
	e.row = rows[0]
	return e
}

// open opens the database and a gateway on it, as a process starting.
func (e *env) open(t testing.TB) {
	t.Helper()
	var st *store.Store
	var err error
	if strings.HasPrefix(e.path, "postgres://") {
		st, err = store.OpenPostgres(context.Background(), e.path, store.Options{})
	} else {
		st, err = store.Open(context.Background(), e.path, store.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tpl, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{
		Hostname: "support.test", From: "Support <support@support.test>",
		Addresses:     []gateway.Address{{Address: "support@support.test", Kind: "case"}},
		UnknownSender: "new_case", MaxMessageBytes: 1 << 20,
		Protection: gateway.Protection{BreakerLimit: 1 << 30},
		InstanceID: e.instance, Lease: e.lease,
	}, st, tpl, slog.New(slog.NewTextHandler(e.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := g.Panics(); n != 0 {
			t.Errorf("%d panics recovered:\n%s", n, e.logs)
		}
	})
	e.st, e.g, e.box = st, g, g.Outbox()
}

// twin is another instance on e's database, with lease.
func (e *env) twin(t testing.TB, instance string, lease time.Duration) *env {
	t.Helper()
	o := &env{path: e.path, instance: instance, lease: lease, logs: e.logs, row: e.row}
	o.open(t)
	return o
}

// queue writes n rows to rcpt on the env's case, in one transaction, and
// returns their ids in queue order.
func (e *env) queue(t testing.TB, rcpt string, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	err := e.st.Write(ctx, func(tx *store.Tx) error {
		for i := range n {
			m := e.row
			m.Recipient = rcpt
			m.MessageID = fmt.Sprintf("%d.%d.%s@support.test", time.Now().UnixNano(), i, rcpt)
			id, err := tx.Enqueue(ctx, m, time.Hour)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// pool builds a pool on the env's outbox; q replaces the queue if not nil.
func (e *env) pool(t testing.TB, cfg outbound.Config, s outbound.Sender, q outbound.Queue) *outbound.Pool {
	t.Helper()
	return e.guardedPool(t, cfg, s, q, e.box)
}

// guardedPool is pool with g as the circuit breaker.
func (e *env) guardedPool(t testing.TB, cfg outbound.Config, s outbound.Sender, q outbound.Queue, g outbound.Guard) *outbound.Pool {
	t.Helper()
	if q == nil {
		q = e.box
	}
	cfg.Log = newLogger(e)
	cfg.Panicked = e.box.NotePanic
	p, err := outbound.New(cfg, q, e.box, g, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newLogger writes into the env's log buffer.
func newLogger(e *env) *slog.Logger { return slog.New(slog.NewTextHandler(e.logs, nil)) }

// relaySender sends to relay without TLS.
func relaySender(t testing.TB, relay *gatewaytest.Relay) *outbound.RelaySender {
	t.Helper()
	s, err := outbound.NewRelaySender(outbound.RelayConfig{Address: relay.Addr, TLS: "none", HELO: "support.test",
		Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs p until the returned stop is called; stop waits for Run.
func start(t testing.TB, p *outbound.Pool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitSent waits until n rows are sent, failing the test after a minute.
func (e *env) waitSent(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := e.st.CountOutbox(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c[store.OutboxSent] >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows sent, want %d; outbox %v", c[store.OutboxSent], n, c)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) outbox(t testing.TB, id int64) store.OutboxMail {
	t.Helper()
	m, err := e.st.OutboxByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) attempts(t testing.TB, id int64) []store.Attempt {
	t.Helper()
	a, err := e.st.Attempts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// messageIDs maps each Message-ID the relay got to how many times.
func messageIDs(mails []gatewaytest.Mail) map[string]int {
	out := map[string]int{}
	for _, m := range mails {
		out[m.Header.Get("Message-Id")]++
	}
	return out
}
