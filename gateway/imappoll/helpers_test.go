package imappoll

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// The account of every test server, in memory or Dovecot.
const (
	testUser = dovecottest.User
	testPass = dovecottest.Password
)

// logRecorder is a slog.Handler that writes to the test log, keeps the
// records for assertions, and fails the test when a panic was recovered
// (STYLE habit 5) unless allowPanic is set.
type logRecorder struct {
	t     testing.TB
	attrs []slog.Attr
	*logStore
}

// logStore is what a logRecorder and its WithAttrs copies share.
type logStore struct {
	mu         sync.Mutex
	lines      []string
	levels     []slog.Level
	done       bool
	allowPanic bool
}

func newLogRecorder(t testing.TB) (*slog.Logger, *logRecorder) {
	h := &logRecorder{t: t, logStore: &logStore{}}
	t.Cleanup(func() {
		h.mu.Lock()
		h.done = true
		h.mu.Unlock()
	})
	return slog.New(h), h
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "stack" {
			fmt.Fprintf(&b, " %s", a)
		}
		return true
	})
	line := b.String()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, line)
	h.levels = append(h.levels, r.Level)
	if h.done {
		return nil
	}
	if r.Level >= slog.LevelInfo {
		h.t.Log(line)
	}
	if strings.Contains(r.Message, "panic") && !h.allowPanic {
		h.t.Errorf("panic recovered: %s", line)
	}
	return nil
}

func (h *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logRecorder{t: h.t, attrs: append(slices.Clip(h.attrs), attrs...), logStore: h.logStore}
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// count returns how many records at level contain substr.
func (h *logRecorder) count(level slog.Level, substr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for i, l := range h.lines {
		if h.levels[i] == level && strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// memServer is go-imap's in-memory server on a loopback port.
type memServer struct {
	// wrap, if set, wraps each session: a test can make the server
	// misbehave.
	wrap func(imapserver.Session) imapserver.Session
	addr string
	mem  *imapmemserver.Server
	user *imapmemserver.User
	srv  *imapserver.Server
}

// capsMove is a full IMAP4rev1 server; capsPlain lacks MOVE and UIDPLUS.
var (
	capsMove  = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}}
	capsCopy  = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}
	capsPlain = imap.CapSet{imap.CapIMAP4rev1: {}}
)

func startMemServer(t testing.TB, caps imap.CapSet) *memServer {
	t.Helper()
	return startMemServerAt(t, "127.0.0.1:0", caps)
}

func startMemServerAt(t testing.TB, addr string, caps imap.CapSet) *memServer {
	t.Helper()
	return startMemServerWith(t, addr, caps, nil)
}

func startMemServerWith(t testing.TB, addr string, caps imap.CapSet, wrap func(imapserver.Session) imapserver.Session) *memServer {
	t.Helper()
	ms := &memServer{mem: imapmemserver.New(), user: imapmemserver.NewUser(testUser, testPass), wrap: wrap}
	if err := ms.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	ms.mem.AddUser(ms.user)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = ln.Addr().String()
	ms.serve(t, ln, caps)
	return ms
}

// serve (re)starts the IMAP server on ln, over the same mailboxes.
func (ms *memServer) serve(t testing.TB, ln net.Listener, caps imap.CapSet) {
	ms.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if ms.wrap != nil {
				return ms.wrap(ms.mem.NewSession()), nil, nil
			}
			return ms.mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	srv := ms.srv
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// appendMails appends testMail(tag, i) for i in [from, to) to folder.
func appendMails(tc *dovecottest.Client, folder, tag string, from, to int) {
	for i := from; i < to; i++ {
		tc.Append(folder, testMail(tag, i))
	}
}

// testConfig is a poller configuration for a plain loopback server.
func testConfig(addr, after string) Config {
	return Config{
		Name: "helpdesk", Address: addr, TLS: TLSNone,
		Username: testUser, Password: testPass,
		After: after, Kind: "case",
		PollInterval: 50 * time.Millisecond,
	}
}

// newTestPoller returns a poller with short backoffs and IDLE restarts.
//
// The short IDLE restart is for imapmemserver, whose IDLE does not report
// changes queued before it began (SessionTracker.Idle waits for the next
// change): mail appended between the poller's last search and its IDLE
// would otherwise wait for the restart. Dovecot reports them at once; the
// Dovecot test keeps the real 25 minutes.
func newTestPoller(t testing.TB, cfg Config, d Deliverer, st State, log *slog.Logger) *Poller {
	t.Helper()
	p, err := New(cfg, d, st, log)
	if err != nil {
		t.Fatal(err)
	}
	p.backoff.min, p.backoff.max = 10*time.Millisecond, 50*time.Millisecond
	p.grace = 5 * time.Second
	p.idleRestart = 250 * time.Millisecond
	return p
}

// start runs p until the returned stop is called (or the test ends); stop
// waits for Run to return.
func start(t testing.TB, p *Poller) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hasFlag reports whether flags holds f.
func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	return slices.ContainsFunc(flags, func(x imap.Flag) bool { return strings.EqualFold(string(x), string(f)) })
}

const (
	slogWarn  = slog.LevelWarn
	slogError = slog.LevelError
)

// literal wraps raw for imapmemserver.User.Append.
func literal(raw []byte) imap.LiteralReader {
	return &literalReader{Reader: bytes.NewReader(raw), size: int64(len(raw))}
}

type literalReader struct {
	*bytes.Reader
	size int64
}

func (l *literalReader) Size() int64 { return l.size }
