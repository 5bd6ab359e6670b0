package gateway

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/store/pgtest"
	"github.com/casegate/casegate/store/storetest"
)

// prefill is how many cases of history the ingestion benchmarks' database
// holds before they start (storetest.Populate), so the cost of a mail can be
// compared between an empty desk and one with a long history:
//
//	go test -run '^$' -bench IngestNewCase -count 10 ./gateway > empty.txt
//	go test -run '^$' -bench IngestNewCase -count 10 ./gateway -args -prefill 100000 > full.txt
var prefill = flag.Int("prefill", 0, "cases of history in the ingestion benchmarks' database")

// benchTemplates are populated databases built once per run, by number of
// cases; each benchmark works on a copy.
var benchTemplates struct {
	mu   sync.Mutex
	dir  string
	path map[int]string
}

// TestMain also stops the PostgreSQL cluster the backend tests started
// (pgtest).
func TestMain(m *testing.M) {
	flag.Parse()
	code := pgtest.Main(m)
	if benchTemplates.dir != "" {
		os.RemoveAll(benchTemplates.dir)
	}
	os.Exit(code)
}

// benchGateway returns a gateway on a database holding *prefill cases.
func benchGateway(b *testing.B) (*Gateway, *store.Store) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "db")
	if *prefill > 0 {
		if err := copyFile(prefillTemplate(b, *prefill), path); err != nil {
			b.Fatal(err)
		}
	}
	g, st := newTestGatewayAt(b, path)
	if *prefill > 0 {
		if _, err := st.CaseByNumber(context.Background(), store.FormatNumber("CS", int64(*prefill))); err != nil {
			b.Fatalf("the copy of the prefilled database lacks its last case: %v", err)
		}
	}
	return g, st
}

// prefillTemplate returns the path of a closed database holding n cases.
func prefillTemplate(b *testing.B, n int) string {
	b.Helper()
	t := &benchTemplates
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.path[n]; ok {
		return p
	}
	if t.dir == "" {
		dir, err := os.MkdirTemp("", "casegate-bench-")
		if err != nil {
			b.Fatal(err)
		}
		t.dir, t.path = dir, map[int]string{}
	}
	p := filepath.Join(t.dir, fmt.Sprintf("prefill-%d.db", n))
	ctx := context.Background()
	st, err := store.Open(ctx, p, store.Options{Now: func() time.Time { return testTime }})
	if err != nil {
		b.Fatal(err)
	}
	err = storetest.Populate(ctx, st, n, "CS", testTime)
	// Closing checkpoints the write-ahead log into the file copied.
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.Fatal(err)
	}
	t.path[n] = p
	return p
}

// reportCost, deferred with a call before the loop, reports per mail the
// process's CPU time (all threads) as cpu-ns/mail, split into user space
// (cpu-user-ns/mail: parsing, classifying, SQLite's own work) and the
// kernel (cpu-sys-ns/mail: the system calls, writing pages to the WAL and
// fsync among them), without the time spent waiting for the disk; and the
// pages of the database the writer read from the file system (misses of
// its page cache) and wrote: counts that timings on a busy machine cannot
// blur; and how many Write calls shared a commit. Each operation ingests
// perOp mails.
func reportCost(b *testing.B, st *store.Store, perOp int) func() {
	ctx := context.Background()
	user0, sys0 := cpuTime()
	w0 := st.WriteStats()
	pages, err := st.WriterPageCounts(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		if b.N == 0 {
			return
		}
		user1, sys1 := cpuTime()
		end, err := st.WriterPageCounts(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n := float64(b.N * perOp)
		user, sys := float64(user1-user0), float64(sys1-sys0)
		b.ReportMetric((user+sys)/n, "cpu-ns/mail")
		b.ReportMetric(user/n, "cpu-user-ns/mail")
		b.ReportMetric(sys/n, "cpu-sys-ns/mail")
		b.ReportMetric(float64(end.Misses-pages.Misses)/n, "pages-read/mail")
		b.ReportMetric(float64(end.Hits-pages.Hits)/n, "pages-hit/mail")
		b.ReportMetric(float64(end.Writes-pages.Writes)/n, "pages-written/mail")
		if w1 := st.WriteStats(); w1.Batches > w0.Batches {
			b.ReportMetric(float64(w1.Writes-w0.Writes)/float64(w1.Batches-w0.Batches), "writes/commit")
		}
	}
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	// On disk before the benchmark starts, or the first checkpoint's
	// fsync would write the whole copy within the timed loop.
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// BenchmarkIngestNewCase measures the whole ingestion of a first mail:
// parse, classify, one durable commit with the contact, the case, the
// message, a watcher and two outbox rows.
func BenchmarkIngestNewCase(b *testing.B) {
	g, st := benchGateway(b)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCost(b, st, 1)()
	for i := 0; b.Loop(); i++ {
		from := fmt.Sprintf("carol%d@customer.example", i)
		raw := fmt.Sprintf("From: Carol <%s>\r\nTo: support@support.test\r\nCc: dave@customer.example\r\n"+
			"Subject: VPN drops every hour\r\nMessage-ID: <bench.%d@customer.example>\r\n\r\nThe VPN disconnects every hour.\r\n", from, i)
		res, err := g.Ingest(ctx, []byte(raw), Envelope{Source: "smtp", From: from, To: []string{"support@support.test"}})
		if err != nil {
			b.Fatal(err)
		}
		if res.Outcome != store.OutcomeNewCase {
			b.Fatalf("outcome %s, want a new case", res.Outcome)
		}
	}
}

// BenchmarkIngestNewCaseBatched measures the same mails as
// BenchmarkIngestNewCase taken in 50 at a time, one commit for each 50,
// the way the committer groups them when many arrive at once: the cost of
// a mail without a commit (and its fsync) of its own.
func BenchmarkIngestNewCaseBatched(b *testing.B) {
	g, st := benchGateway(b)
	ctx := context.Background()
	const perBatch = 50
	b.ReportAllocs()
	defer reportCost(b, st, perBatch)()
	n := 0
	for b.Loop() {
		batch := make([]RawMessage, perBatch)
		for i := range batch {
			n++
			from := fmt.Sprintf("carol%d@customer.example", n)
			batch[i] = RawMessage{Env: Envelope{Source: "smtp", From: from, To: []string{"support@support.test"}}, Raw: []byte(fmt.Sprintf(
				"From: Carol <%s>\r\nTo: support@support.test\r\nCc: dave@customer.example\r\n"+
					"Subject: VPN drops every hour\r\nMessage-ID: <bench.%d@customer.example>\r\n\r\nThe VPN disconnects every hour.\r\n", from, n))}
		}
		results, errs := g.IngestBatch(ctx, batch)
		for i, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
			if results[i].Outcome != store.OutcomeNewCase {
				b.Fatalf("outcome %s, want a new case", results[i].Outcome)
			}
		}
	}
}

// BenchmarkIngestReply measures a threaded reply to an existing case.
func BenchmarkIngestReply(b *testing.B) {
	g, st := benchGateway(b)
	ctx := context.Background()
	const carol = "carol@customer.example"
	env := Envelope{Source: "smtp", From: carol, To: []string{"support@support.test"}}
	first := "From: carol@customer.example\r\nTo: support@support.test\r\nSubject: VPN\r\nMessage-ID: <root@customer.example>\r\n\r\nx\r\n"
	res, err := g.Ingest(ctx, []byte(first), env)
	if err != nil || res.Outcome != store.OutcomeNewCase {
		b.Fatalf("first mail: %+v %v", res, err)
	}
	b.ReportAllocs()
	defer reportCost(b, st, 1)()
	for i := 0; b.Loop(); i++ {
		raw := fmt.Sprintf("From: carol@customer.example\r\nTo: support@support.test\r\nSubject: Re: [%s] VPN\r\n"+
			"Message-ID: <reply.%d@customer.example>\r\nIn-Reply-To: <root@customer.example>\r\n\r\nStill broken.\r\n", res.Case, i)
		r, err := g.Ingest(ctx, []byte(raw), env)
		if err != nil {
			b.Fatal(err)
		}
		if r.Outcome != store.OutcomeReply {
			b.Fatalf("outcome %s, want a reply", r.Outcome)
		}
	}
}

// BenchmarkIngestNewCaseParallel measures ingestion from many concurrent
// sources, the way an SMTP listener with many sessions drives it: their
// commits are grouped.
func BenchmarkIngestNewCaseParallel(b *testing.B) {
	g, st := newTestGateway(b)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	defer reportCost(b, st, 1)()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			from := fmt.Sprintf("carol%d@customer.example", i)
			raw := fmt.Sprintf("From: Carol <%s>\r\nTo: support@support.test\r\nCc: dave@customer.example\r\n"+
				"Subject: VPN drops every hour\r\nMessage-ID: <pbench.%d@customer.example>\r\n\r\nThe VPN disconnects every hour.\r\n", from, i)
			res, err := g.Ingest(ctx, []byte(raw), Envelope{Source: "smtp", From: from, To: []string{"support@support.test"}})
			if err != nil {
				b.Error(err)
				return
			}
			if res.Outcome != store.OutcomeNewCase {
				b.Errorf("outcome %s, want a new case", res.Outcome)
				return
			}
		}
	})
}

// BenchmarkIngestLarge ingests one 20 MB plain-text mail per operation;
// B/op against the mail's size is what its parsing and storing allocate
// besides the raw bytes (profile with -memprofile):
//
//	go test -run '^$' -bench IngestLarge -benchmem -memprofile mem.out ./gateway
func BenchmarkIngestLarge(b *testing.B) {
	g, _ := newTestGateway(b)
	g.cfg.MaxMessageBytes = 25 << 20
	ctx := context.Background()
	body := make([]byte, 0, 20_000_000)
	for n := 1; len(body) < cap(body)-100; n++ {
		body = fmt.Appendf(body, "Line %07d of the log the customer pasted: nothing unusual happened here.\r\n", n)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		raw := append(fmt.Appendf(nil, "From: Carol <carol@customer.example>\r\nTo: support@support.test\r\n"+
			"Subject: Logs\r\nMessage-ID: <large.%d@customer.example>\r\n\r\n", i), body...)
		res, err := g.Ingest(ctx, raw, Envelope{Source: "smtp", From: "carol@customer.example", To: []string{"support@support.test"}})
		if err != nil || res.Outcome != store.OutcomeNewCase {
			b.Fatalf("%+v %v", res, err)
		}
	}
}
