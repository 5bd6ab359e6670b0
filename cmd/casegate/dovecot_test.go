package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/casegate/casegate/gateway/imappoll"
	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
	"github.com/casegate/casegate/store"
)

// The gateway against a real Dovecot (SPEC §3.2): the real Main and SQLite
// database in process, and the real binary where it is killed. Each test
// starts a Dovecot of its own; without Dovecot they are skipped, unless
// CASEGATE_REQUIRE_DOVECOT=1.

const dovecotPasswordEnv = "CASEGATE_TEST_DOVECOT_PASSWORD"

// customerMail returns a mail whose Message-ID is customerMailID(tag, i).
func customerMail(tag string, i int) []byte {
	return fmt.Appendf(nil, "From: Customer %[2]d <customer%[2]d@customer.example>\r\n"+
		"To: support@localhost\r\n"+
		"Subject: Printer %[2]d of %[1]s is on fire\r\n"+
		"Message-ID: <%[3]s>\r\n"+
		"Date: Mon, 23 Nov 2026 09:00:00 +0100\r\n"+
		"\r\n"+
		"Hello, printer %[2]d is on fire again.\r\n", tag, i, customerMailID(tag, i))
}

func customerMailID(tag string, i int) string { return fmt.Sprintf("%d.%s@customer.example", i, tag) }

// appendCustomerMails appends customerMail(tag, i) for i in [from, to) and
// returns their Message-IDs.
func appendCustomerMails(c *dovecottest.Client, folder, tag string, from, to int) []string {
	var ids []string
	for i := from; i < to; i++ {
		c.Append(folder, customerMail(tag, i))
		ids = append(ids, customerMailID(tag, i))
	}
	return ids
}

// dovecotMailbox is the `imap:` entry for folder of dv's user.
func dovecotMailbox(dv *dovecottest.Server, folder, after string) IMAPConfig {
	return IMAPConfig{Name: "helpdesk", Address: dv.Addr, TLS: "none", Username: dv.User,
		PasswordEnv: dovecotPasswordEnv, Folder: folder, After: after, Kind: "case"}
}

// startDovecotMain runs the real Main polling folder; dataDir "" is a new
// temporary directory.
func startDovecotMain(t *testing.T, dv *dovecottest.Server, dataDir, folder, after string) *Main {
	t.Helper()
	t.Setenv(dovecotPasswordEnv, dv.Password)
	return startMain(t, nil, func(c *Config) {
		if dataDir != "" {
			c.DataDir = dataDir
		}
		c.IMAP = []IMAPConfig{dovecotMailbox(dv, folder, after)}
	})
}

// waitUntil checks cond every millisecond until it holds.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// storedMessages counts the inbound messages in the database.
func storedMessages(t testing.TB, st *store.Store) int {
	t.Helper()
	n, err := st.CountMessages(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// caseMessageIDs returns how often each Message-ID is stored, failing the
// test unless every case holds exactly one message, the one that opened it,
// and every stored message belongs to a case.
func caseMessageIDs(t testing.TB, st *store.Store) map[string]int {
	t.Helper()
	ctx := context.Background()
	cases, err := st.ListCases(ctx, store.CaseFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, c := range cases {
		msgs, err := st.CaseMessages(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 1 || msgs[0].Outcome != store.OutcomeNewCase {
			t.Fatalf("case %s holds %d messages, want the one that opened it", c.Number, len(msgs))
		}
		ids[msgs[0].MessageID]++
	}
	if n := storedMessages(t, st); n != len(cases) {
		t.Fatalf("%d messages stored for %d cases", n, len(cases))
	}
	return ids
}

// checkOneCaseEach fails the test unless the database holds exactly one
// case per Message-ID of want, and nothing else.
func checkOneCaseEach(t testing.TB, st *store.Store, want []string) {
	t.Helper()
	got := caseMessageIDs(t, st)
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("<%s> is in %d cases, want 1", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct mails in the database, want %d", len(got), len(want))
	}
}

// checkHoldsOnce fails the test unless folder holds each mail of want
// exactly once, and nothing else.
func checkHoldsOnce(t testing.TB, c *dovecottest.Client, folder string, want []string) {
	t.Helper()
	got := c.MessageIDs(folder)
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %d mails, want each of the %d once", folder, len(got), len(want))
	}
}

// TestDovecotBacklogIdleAndMove: a backlog of 50 mails becomes 50 cases,
// a mail appended while the gateway runs becomes a case through IDLE within
// 5 s, and every mail is moved to Processed once committed.
func TestDovecotBacklogIdleAndMove(t *testing.T) {
	dv := dovecottest.Start(t)
	t.Logf("dovecot %s", dv.Version)
	tc := dv.Client(t)
	want := appendCustomerMails(tc, "INBOX", "backlog", 0, 50)
	m := startDovecotMain(t, dv, "", "INBOX", "move:Processed")
	waitUntil(t, 20*time.Second, "50 cases", func() bool { return storedMessages(t, m.Store) == 50 })
	waitUntil(t, 10*time.Second, "the backlog moved", func() bool { return tc.Count("Processed") == 50 })
	checkOneCaseEach(t, m.Store, want)

	// No poll interval is short enough for this: it is IDLE's doing.
	appended := time.Now()
	tc.Append("INBOX", customerMail("live", 0))
	waitUntil(t, 10*time.Second, "the case of the live mail", func() bool { return storedMessages(t, m.Store) == 51 })
	latency := time.Since(appended)
	t.Logf("APPEND to case with IDLE: %v", latency)
	if latency > 5*time.Second {
		t.Errorf("the new mail took %v to become a case, want at most 5 s", latency)
	}
	want = append(want, customerMailID("live", 0))
	waitUntil(t, 10*time.Second, "the live mail moved", func() bool { return tc.Count("Processed") == 51 })
	checkOneCaseEach(t, m.Store, want)
	if n := tc.Count("INBOX"); n != 0 {
		t.Errorf("INBOX holds %d, want none", n)
	}
	checkHoldsOnce(t, tc, "Processed", want)
}

// TestDovecotRecreatedMailboxNoDuplicates: the folder is deleted and created
// again while the gateway is down, so Dovecot gives it a new UIDVALIDITY,
// and the same mails are appended again. The gateway reads the folder from
// the start and recognises every mail.
func TestDovecotRecreatedMailboxNoDuplicates(t *testing.T) {
	dv := dovecottest.Start(t)
	tc := dv.Client(t)
	tc.Create("Helpdesk")
	want := appendCustomerMails(tc, "Helpdesk", "recreated", 0, 10)
	dataDir := t.TempDir()
	ctx := context.Background()
	m := startDovecotMain(t, dv, dataDir, "Helpdesk", "seen")
	position := func() (validity, last uint32) {
		v, l, err := m.Store.IMAPState(ctx, "helpdesk")
		if err != nil {
			t.Fatal(err)
		}
		return v, l
	}
	waitUntil(t, 20*time.Second, "the first pass", func() bool { _, last := position(); return last == 10 })
	first, _ := position()
	checkOneCaseEach(t, m.Store, want)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	tc.Delete("Helpdesk")
	tc.Create("Helpdesk")
	appendCustomerMails(tc, "Helpdesk", "recreated", 0, 10)
	if tc.UIDValidity("Helpdesk") == first {
		t.Fatalf("Dovecot kept UIDVALIDITY %d for the recreated folder", first)
	}
	m = startDovecotMain(t, dv, dataDir, "Helpdesk", "seen")
	waitUntil(t, 20*time.Second, "the second pass", func() bool { v, last := position(); return v != first && last == 10 })
	checkOneCaseEach(t, m.Store, want)
	for uid, flags := range tc.Flags("Helpdesk") {
		if !slices.Contains(flags, imap.FlagSeen) {
			t.Errorf("UID %d not seen after the second pass: %v", uid, flags)
		}
	}
}

// TestDovecotGatewayKilledWhileDraining runs the casegate binary over a
// backlog of 200 mails and kills it (SIGKILL) in the middle of batches, so
// that mails are committed but not yet moved, three times, then lets it
// finish. Every mail must be exactly one case and in Processed exactly once.
func TestDovecotGatewayKilledWhileDraining(t *testing.T) {
	dv := dovecottest.Start(t)
	tc := dv.Client(t)
	const total = 200
	want := appendCustomerMails(tc, "INBOX", "drain", 0, total)
	bin := buildCasegate(t)
	dir := t.TempDir()
	mb := dovecotMailbox(dv, "INBOX", "move:Processed")
	mb.BatchSize = 50
	config := writeServeConfig(t, dir, mb)
	env := dovecotPasswordEnv + "=" + dv.Password

	// Kill after the n-th message handled in each run. A run starts at a
	// saved position, a batch boundary, and batches are 50 long: none of
	// these is a multiple of 50, so every kill lands inside a batch.
	unmoved := 0
	for round, n := range []int{30, 45, 80} {
		gw := startCasegate(t, bin, config, env)
		gw.waitStored(t, n)
		gw.kill(t)
		st := openDatabase(t, config)
		stored := storedMessages(t, st)
		for id, k := range caseMessageIDs(t, st) {
			if k != 1 {
				t.Fatalf("round %d: <%s> is in %d cases", round, id, k)
			}
		}
		st.Close()
		inbox, processed := tc.Count("INBOX"), tc.Count("Processed")
		t.Logf("round %d: killed after %d messages handled: %d stored, %d still in INBOX, %d in Processed",
			round, n, stored, inbox, processed)
		if processed < 0 {
			processed = 0 // not created yet
		}
		unmoved += stored - processed
	}
	if unmoved == 0 {
		t.Fatal("no kill landed between a commit and its move: the test proves nothing")
	}

	gw := startCasegate(t, bin, config, env)
	waitUntil(t, 60*time.Second, "the backlog drained", func() bool {
		return tc.Count("INBOX") == 0 && tc.Count("Processed") == total
	})
	gw.stop(t)
	st := openDatabase(t, config)
	defer st.Close()
	checkOneCaseEach(t, st, want)
	checkHoldsOnce(t, tc, "Processed", want)
}

// buildCasegate builds the binary into a temporary directory.
func buildCasegate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "casegate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// writeServeConfig writes a configuration for `casegate serve`: data under
// dir/data, free loopback ports, notifications into the Maildir, and mb.
// Its instance_id is fixed, so that a gateway restarted after a kill
// polls again at once: the mailbox's lease is its own.
func writeServeConfig(t *testing.T, dir string, mb IMAPConfig) string {
	t.Helper()
	if mb.BatchSize == 0 {
		mb.BatchSize = imappoll.DefaultBatchSize
	}
	conf := fmt.Sprintf(`data_dir: %s
instance_id: gateway-under-test
smtp:
  listen: %s
http:
  listen: %s
imap:
  - name: %s
    address: %s
    tls: %s
    username: %s
    password_env: %s
    folder: %s
    after: %s
    batch_size: %d
`, filepath.Join(dir, "data"), dovecottest.FreeAddr(t), dovecottest.FreeAddr(t),
		mb.Name, mb.Address, mb.TLS, mb.Username, mb.PasswordEnv, mb.Folder, mb.After, mb.BatchSize)
	path := filepath.Join(dir, "casegate.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openDatabase opens the database of config's gateway, as the operator
// commands do.
func openDatabase(t *testing.T, config string) *store.Store {
	t.Helper()
	st, err := openStore(context.Background(), config)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// casegateProcess is a running `casegate serve`.
type casegateProcess struct {
	cmd    *exec.Cmd
	stored chan struct{} // one per message the log says was handled
	done   chan struct{} // closed when the log ends

	mu   sync.Mutex
	tail []string // the last lines of the log, for failures
}

func startCasegate(t *testing.T, bin, config string, env ...string) *casegateProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", config)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &casegateProcess{cmd: cmd, stored: make(chan struct{}, 100000), done: make(chan struct{})}
	go p.read(stderr)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
			cmd.Wait()
		}
	})
	return p
}

// read follows the JSON log.
func (p *casegateProcess) read(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.tail = append(p.tail[max(0, len(p.tail)-30):], line)
		p.mu.Unlock()
		if strings.Contains(line, `"msg":"imap: message stored"`) {
			p.stored <- struct{}{}
		}
	}
}

func (p *casegateProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// waitStored waits until the gateway has handled n messages in this run,
// duplicates included.
func (p *casegateProcess) waitStored(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-p.stored:
		case <-p.done:
			t.Fatalf("casegate ended after %d messages:\n%s", i, p.log())
		case <-timeout:
			t.Fatalf("casegate handled %d messages in 30 s, want %d:\n%s", i, n, p.log())
		}
	}
}

// kill ends the process with SIGKILL: nothing of it runs after this.
func (p *casegateProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done // the log is read to its end before Wait closes the pipe
	p.cmd.Wait()
}

// stop shuts the gateway down with SIGTERM and wants a clean exit.
func (p *casegateProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { <-p.done; exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("casegate serve after SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("casegate serve did not stop after SIGTERM:\n%s", p.log())
	}
}

// Measurements through the real Main and SQLite database; run with
//
//	go test -run '^$' -bench DovecotAppendToCase -benchtime 20x ./cmd/casegate/
//	go test -run '^$' -bench DovecotBacklog -benchtime 3x ./cmd/casegate/
//
// BenchmarkDovecotAppendToCase appends one mail per iteration to an idling
// gateway and reports the time from APPEND to the case in the database;
// BenchmarkDovecotBacklog starts a fresh gateway (new database) over a
// folder of 500 mails per iteration and reports mails per second, from the
// start of Main until the 500th message is in the database.

func BenchmarkDovecotAppendToCase(b *testing.B) {
	dv := dovecottest.Start(b)
	tc := dv.Client(b)
	m := benchMain(b, dovecotMailbox(dv, "INBOX", "move:Processed"), dv.Password)
	// One mail first, so that the gateway is logged in and idling.
	tc.Append("INBOX", customerMail("warmup", 0))
	waitUntil(b, 10*time.Second, "the first case", func() bool { return storedMessages(b, m.Store) == 1 })
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		began := time.Now()
		tc.Append("INBOX", customerMail("latency", i))
		waitUntil(b, 10*time.Second, "the case", func() bool { return storedMessages(b, m.Store) == i+2 })
		latencies = append(latencies, time.Since(began))
	}
	b.StopTimer()
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(b.Elapsed())/float64(b.N), "mean-ms")
	b.ReportMetric(ms(latencies[len(latencies)/2]), "median-ms")
	b.ReportMetric(ms(latencies[len(latencies)-1]), "worst-ms")
}

func BenchmarkDovecotBacklog(b *testing.B) {
	const backlog = 500
	dv := dovecottest.Start(b)
	tc := dv.Client(b)
	var total, drain time.Duration
	drained := 0
	for i := range b.N {
		b.StopTimer()
		folder := fmt.Sprintf("Backlog%d", i)
		tc.Create(folder)
		appendCustomerMails(tc, folder, folder, 0, backlog)
		b.StartTimer()
		began := time.Now()
		m := benchMain(b, dovecotMailbox(dv, folder, "move:Processed"), dv.Password)
		var first time.Time
		waitUntil(b, 60*time.Second, "the backlog", func() bool {
			n := storedMessages(b, m.Store)
			if n > 0 && first.IsZero() {
				first = time.Now()
				drained += backlog - n
			}
			return n == backlog
		})
		total += time.Since(began)
		drain += time.Since(first)
		b.StopTimer()
		m.Close()
	}
	b.ReportMetric(float64(b.N*backlog)/total.Seconds(), "mails/s")
	// From the first mails stored (the first batch) to the last: the rate
	// once the gateway is up, the mailbox open and the backlog flowing.
	if drain > 0 {
		b.ReportMetric(float64(drained)/drain.Seconds(), "drain-mails/s")
	}
}

func benchMain(b *testing.B, mb IMAPConfig, password string) *Main {
	b.Helper()
	b.Setenv(dovecotPasswordEnv, password)
	return startMain(b, nil, func(c *Config) { c.IMAP = []IMAPConfig{mb} })
}
