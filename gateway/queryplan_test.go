package gateway

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/imappoll"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/gateway/spool"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/store/storetest"
	"github.com/casegate/casegate/templates"
)

// statementLog keeps, while on, every distinct statement the store runs
// with the arguments of its first run.
type statementLog struct {
	mu    sync.Mutex
	on    bool
	args  map[string][]any
	order []string
}

func (l *statementLog) trace(query string, args []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.on {
		return
	}
	if l.args == nil {
		l.args = map[string][]any{}
	}
	if _, ok := l.args[query]; !ok {
		l.args[query] = append([]any(nil), args...)
		l.order = append(l.order, query)
	}
}

func (l *statementLog) record(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.on = on
}

// planExceptions are statements allowed to scan a table, each with the
// reason the scan is bounded. Keyed by a fragment of the statement.
var planExceptions = map[string]string{
	"FROM sqlite_sequence WHERE name = 'cases'": "sqlite_sequence holds one row per AUTOINCREMENT table",
}

// fullScan matches a plan step that reads a whole table or index, or
// builds a transient index by doing so. "SCAN (subquery-N)" reads a
// subquery's result, which its own steps bound, and "SCAN CONSTANT ROW"
// is a SELECT without FROM.
var fullScan = regexp.MustCompile(`^SCAN [^(]|AUTOMATIC`)

func isFullScan(detail string) bool {
	return fullScan.MatchString(detail) && detail != "SCAN CONSTANT ROW"
}

// derivedTable matches the alias of a subquery in FROM: "(…) AS recent".
var derivedTable = regexp.MustCompile(`\)\s+AS\s+(\w+)`)

// scansDerived reports whether a plan step scans a named subquery of q
// (SQLite names it by its alias): its own steps bound what it reads.
func scansDerived(detail, q string) bool {
	for _, m := range derivedTable.FindAllStringSubmatch(q, -1) {
		if detail == "SCAN "+m[1] {
			return true
		}
	}
	return false
}

// No statement on the path of a mail or a notification reads a whole
// table: every one runs EXPLAIN QUERY PLAN against a database with a few
// thousand cases of history, and a plan step that scans a table fails the
// test. The scenario drives every ingestion outcome (over SMTP and IMAP,
// and a replay from quarantine), the outbound worker, the bounce path, the
// scheduler and the /metrics and /healthz endpoints, so a query added to
// any of them later is checked too.
func TestNoFullScanOnMailPaths(t *testing.T) {
	ctx := context.Background()
	log := &statementLog{}
	qp := newQueryPlanEnv(t, log, 3000)

	log.record(true)
	qp.run(t)
	log.record(false)

	if len(log.order) < 40 {
		t.Fatalf("only %d distinct statements traced: the trace hook is not seeing the store", len(log.order))
	}
	for _, want := range []string{"FROM thread_ids", "FROM messages", "INTO outbox_attempts", "FROM outbox o", "INTO message_chunks"} {
		if !anyContains(log.order, want) {
			t.Errorf("no traced statement contains %q: the scenario no longer reaches it", want)
		}
	}
	var checked int
	for _, q := range log.order {
		if !isDML(q) {
			continue
		}
		checked++
		plan, err := qp.st.QueryPlan(ctx, q, log.args[q]...)
		if err != nil {
			t.Errorf("%v\n  %s", err, oneLine(q))
			continue
		}
		for _, p := range plan {
			if !isFullScan(p.Detail) || scansDerived(p.Detail, q) || excepted(q) {
				continue
			}
			t.Errorf("%s\n  in: %s", p.Detail, oneLine(q))
		}
	}
	t.Logf("%d statements checked", checked)
}

func anyContains(qs []string, fragment string) bool {
	for _, q := range qs {
		if strings.Contains(q, fragment) {
			return true
		}
	}
	return false
}

func excepted(q string) bool {
	for frag := range planExceptions {
		if strings.Contains(q, frag) {
			return true
		}
	}
	return false
}

// isDML reports whether q is a statement with a query plan of its own
// (not BEGIN, COMMIT, SAVEPOINT, PRAGMA or EXPLAIN).
func isDML(q string) bool {
	word, _, _ := strings.Cut(strings.TrimSpace(q), " ")
	switch strings.ToUpper(word) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "REPLACE":
		return true
	}
	return false
}

var spaces = regexp.MustCompile(`\s+`)

func oneLine(q string) string { return spaces.ReplaceAllString(strings.TrimSpace(q), " ") }

// queryPlanEnv is a gateway on a populated database whose statements are
// traced, with a relay and an outbound worker.
type queryPlanEnv struct {
	log   *statementLog
	g     *Gateway
	st    *store.Store
	clock *gatewaytest.Clock
	relay *gatewaytest.Relay
	out   *outbound.Pool
}

func newQueryPlanEnv(t *testing.T, log *statementLog, cases int) *queryPlanEnv {
	t.Helper()
	ctx := context.Background()
	clock := gatewaytest.NewClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "db"), store.Options{Now: clock.Now, Trace: log.trace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := storetest.Populate(ctx, st, cases, "CS", clock.Now()); err != nil {
		t.Fatal(err)
	}
	tpl, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{
		Hostname: "support.test", CasePrefix: "CS", From: "Support <support@support.test>",
		Addresses: []Address{{Address: "support@support.test", Kind: "case"}},
		Agents:    []string{"@agents.test"}, UnknownSender: "new_case", MaxMessageBytes: 4 << 20,
		Survey: true, AutoCloseAfter: time.Hour,
	}, st, tpl, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := g.Panics(); n != 0 {
			t.Errorf("%d panics recovered", n)
		}
	})
	relay := gatewaytest.StartRelay(t)
	sender, err := outbound.NewRelaySender(outbound.RelayConfig{Address: relay.Addr, TLS: "none", HELO: "support.test", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	box := g.Outbox()
	out, err := outbound.New(outbound.Config{Log: g.log, Panicked: box.NotePanic}, box, box, box, sender)
	if err != nil {
		t.Fatal(err)
	}
	return &queryPlanEnv{log: log, g: g, st: st, clock: clock, relay: relay, out: out}
}

func (e *queryPlanEnv) ingest(t *testing.T, from, to, raw string, want string) Result {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	res, err := e.g.Ingest(context.Background(), []byte(raw), Envelope{Source: "smtp", From: from, To: []string{to}})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	if res.Outcome != want {
		t.Fatalf("outcome %s, want %s: %+v", res.Outcome, want, res.Trace)
	}
	return res
}

func (e *queryPlanEnv) sendDue(t *testing.T) {
	t.Helper()
	if _, err := e.out.SendDue(context.Background()); err != nil {
		t.Fatalf("send due: %v", err)
	}
}

// sentTo returns the outbox row last sent to rcpt about case number. The
// test's own look-up is not on a mail path: it is not recorded.
func (e *queryPlanEnv) sentTo(t *testing.T, number, rcpt string) store.OutboxMail {
	t.Helper()
	e.log.record(false)
	defer e.log.record(true)
	rows, err := e.st.ListOutbox(context.Background(), store.OutboxSent, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rows {
		if m.CaseNumber == number && m.Recipient == rcpt {
			return m
		}
	}
	t.Fatalf("nothing sent to %s about %s", rcpt, number)
	return store.OutboxMail{}
}

// run drives every path a mail or a notification takes.
func (e *queryPlanEnv) run(t *testing.T) {
	ctx := context.Background()
	const carol, dave, agent = "carol@customer.example", "dave@customer.example", "agent@agents.test"
	first := "From: Carol <carol@customer.example>\nTo: support@support.test\nCc: Dave <dave@customer.example>\n" +
		"Subject: VPN drops every hour\nMessage-ID: <qp.1@customer.example>\n\nThe VPN disconnects every hour.\n"
	num := e.ingest(t, carol, "support@support.test", first, store.OutcomeNewCase).Case
	e.sendDue(t)
	confirmation := e.sentTo(t, num, carol)

	mail := func(from, extra, subject, body string) string {
		return fmt.Sprintf("From: %s\nTo: support@support.test\nSubject: %s\nMessage-ID: <qp.%d@customer.example>\n%s\n%s\n",
			from, subject, time.Now().UnixNano(), extra, body)
	}
	e.ingest(t, carol, "support@support.test",
		mail(carol, "In-Reply-To: <"+confirmation.MessageID+">\nReferences: <qp.1@customer.example> <"+confirmation.MessageID+">\n",
			"Re: VPN drops every hour", "Still broken."), store.OutcomeReply)
	e.ingest(t, dave, "support@support.test", mail(dave, "", "Re: ["+num+"] VPN", "Same here."), store.OutcomeReply)
	e.ingest(t, carol, "support+"+strings.ToLower(num)+"@support.test",
		mail(carol, "Cc: erin@customer.example\n", "More logs", "Attached below."), store.OutcomeReply)
	big := strings.Repeat("A line of the log the customer pasted.\n", 40_000) // over 1 MiB: kept in pieces
	e.ingest(t, carol, "support@support.test", mail(carol, "", "Re: ["+num+"] the whole log", big), store.OutcomeReply)
	e.ingest(t, carol, "support@support.test", first, OutcomeDuplicate)
	e.ingest(t, carol, "support@support.test", strings.Replace(first, "every hour.", "every hour!", 1), OutcomeDuplicate)
	e.ingest(t, carol, "support@support.test",
		mail(carol, "Auto-Submitted: auto-replied\n", "Out of office: ["+num+"]", "Back Monday."), store.OutcomeAutoReply)
	hops := strings.Repeat("Received: from a by b; Mon, 23 Nov 2026 09:00:00 +0000\n", 60)
	q := e.ingest(t, "frank@customer.example", "support@support.test", hops+mail("frank@customer.example", "", "Hi", "x"), OutcomeQuarantined)
	if res, err := e.g.Replay(ctx, q.Quarantine); err != nil || res.Outcome != store.OutcomeNewCase {
		t.Fatalf("replay: %+v %v", res, err)
	}
	imap := e.g.IMAPSink()
	if err := imap.Deliver(ctx, spool.Bytes([]byte(strings.ReplaceAll(mail("grace@customer.example", "", "From IMAP", "Hello"), "\n", "\r\n"))),
		imappoll.Source{Mailbox: "inbox", UID: 7, Kind: "case"}); err != nil {
		t.Fatal(err)
	}
	if err := imap.Save(ctx, "inbox", 1, 7); err != nil {
		t.Fatal(err)
	}
	if _, _, err := imap.Load(ctx, "inbox"); err != nil {
		t.Fatal(err)
	}
	e.ingest(t, "mallory@elsewhere.example", "support@support.test", mail("mallory@elsewhere.example", "", "Re: ["+num+"]", "Me too"),
		store.OutcomeNewCase)
	// Agent mail acts only when authenticated: DKIM-signed, the key in a
	// test DNS server (the lookups happen before the transaction, but
	// their answers are exercised the same way).
	ae := &authEnv{g: e.g, st: e.st, dns: gatewaytest.StartDNS(t), keys: map[string]crypto.Signer{}}
	r, err := NewResolver(ae.dns.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.g.cfg.Auth = AuthConfig{Resolver: r, Timeout: 5 * time.Second}
	ae.publishKey(t, "agents.test")
	e.ingest(t, agent, "support@support.test",
		ae.sign(t, "agents.test", mail(agent, "In-Reply-To: <qp.1@customer.example>\n", "Re: ["+num+"] VPN", "#assign me\n#state resolved\n\nReplaced the VPN client.")),
		store.OutcomeReply)

	// A hard bounce to the bounce address of the notice sent to Dave.
	e.sendDue(t)
	row := e.sentTo(t, num, dave)
	verp, err := e.g.verpAddress(ctx, row.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.ingest(t, "", verp, dsn(1, dave, "5.1.1", row.MessageID), store.OutcomeBounce)

	// The scheduler closes what was resolved over an hour ago, with its
	// surveys; the contact accepts the resolution, rates the case, then
	// writes into the closed case.
	e.clock.Advance(2 * time.Hour)
	if n, err := e.g.AutoClose(ctx); err != nil || n == 0 {
		t.Fatalf("auto-close: %d %v", n, err)
	}
	e.ingest(t, carol, "support@support.test", mail(carol, "", "Re: ["+num+"] resolved", "accept"), store.OutcomeReply)
	e.ingest(t, carol, "support@support.test", mail(carol, "", "Re: ["+num+"] survey", "5 quick, thanks"), store.OutcomeReply)
	e.ingest(t, carol, "support@support.test", mail(carol, "", "Re: ["+num+"] VPN", "It is back."), store.OutcomeNewCase)
	e.sendDue(t)
	if _, err := e.st.MarkInterrupted(ctx, e.g.InstanceID()); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	e.g.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if _, ok := e.g.Health(ctx); !ok { // what /healthz reads (package web)
		t.Fatal("health: database unavailable")
	}
}

// The detector sees a scan where there is one: the duplicate check as it
// was written before (a condition on the parameter keeps SQLite from the
// partial index on message_id) scans, and as it is written now it does not.
func TestFullScanDetector(t *testing.T) {
	qp := newQueryPlanEnv(t, &statementLog{}, 10)
	check := func(q string, want bool) {
		t.Helper()
		plan, err := qp.st.QueryPlan(context.Background(), q, "a@b", "a@b")
		if err != nil {
			t.Fatal(err)
		}
		got := false
		for _, p := range plan {
			got = got || isFullScan(p.Detail)
		}
		if got != want {
			t.Errorf("full scan = %v, want %v: %+v\n  %s", got, want, plan, q)
		}
	}
	check(`SELECT id FROM messages WHERE message_id = ? AND ? <> ''`, true)
	check(`SELECT id FROM messages WHERE message_id = ? AND message_id <> ''`, false)
	check(`SELECT count(*) FROM outbox WHERE recipient = ? AND ? <> ''`, true)
	check(`SELECT EXISTS (SELECT 1 FROM bounces WHERE outbox_id = ? AND ? <> '')`, false)
}
