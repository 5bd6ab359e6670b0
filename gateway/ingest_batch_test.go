package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/casegate/casegate/store"
)

// TestIngestBatchInOrderOneCommit: a batch of polled mails is stored in
// one commit, in order, so a reply threads to the case opened by an
// earlier mail of the same batch; a bad mail is quarantined and a
// duplicate dropped without disturbing the others.
func TestIngestBatchInOrderOneCommit(t *testing.T) {
	g, st := newTestGateway(t)
	ctx := context.Background()
	msgs := []RawMessage{
		{Raw: []byte("From: ann@customer.example\r\nTo: support@support.test\r\nSubject: Scanner jams\r\n" +
			"Message-ID: <b1@customer.example>\r\n\r\nThe scanner jams.\r\n")},
		{Raw: []byte("From: ann@customer.example\r\nTo: support@support.test\r\nSubject: Re: Scanner jams\r\n" +
			"Message-ID: <b2@customer.example>\r\nIn-Reply-To: <b1@customer.example>\r\n\r\nAlso on paper A3.\r\n")},
		{Raw: []byte("From: ann@customer.example\r\nTo: support@support.test\r\nSubject: Scanner jams\r\n" +
			"Message-ID: <b1@customer.example>\r\n\r\nThe scanner jams (sent twice).\r\n")},
		{Raw: []byte(strings.Repeat("x", 2<<20))}, // over MaxMessageBytes
		{Raw: []byte("From: ben@customer.example\r\nTo: support@support.test\r\nSubject: Badge reader\r\n" +
			"Message-ID: <b5@customer.example>\r\n\r\nMy badge is refused.\r\n")},
	}
	for i := range msgs {
		msgs[i].Env = Envelope{Source: "imap", Kind: "case"}
	}
	before := st.WriteStats()
	results, errs := g.IngestBatch(ctx, msgs)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	want := []struct{ outcome, number string }{
		{store.OutcomeNewCase, "CS0000001"},
		{store.OutcomeReply, "CS0000001"},
		{OutcomeDuplicate, ""},
		{OutcomeQuarantined, ""},
		{store.OutcomeNewCase, "CS0000002"},
	}
	for i, w := range want {
		if results[i].Outcome != w.outcome || results[i].Case != w.number {
			t.Errorf("message %d: %s %s, want %s %s", i, results[i].Outcome, results[i].Case, w.outcome, w.number)
		}
	}
	// Group commit is SQLite's; on PostgreSQL each write commits alone.
	if b := st.WriteStats().Batches - before.Batches; b != 1 && st.Backend() == store.BackendSQLite {
		t.Errorf("a batch of %d mails took %d commits, want 1", len(msgs), b)
	}
	if q, err := st.ListQuarantine(ctx, 0); err != nil || len(q) != 1 || q[0].Reason != "too_big" {
		t.Fatalf("quarantine = %+v, %v", q, err)
	}
}

// BenchmarkIngestBatch measures a mailbox backlog taken in batches of 50.
func BenchmarkIngestBatch(b *testing.B) {
	g, st := newTestGateway(b)
	ctx := context.Background()
	b.ReportAllocs()
	defer reportCost(b, st, 50)()
	n := 0
	for b.Loop() {
		batch := make([]RawMessage, 50)
		for i := range batch {
			n++
			batch[i] = RawMessage{Env: Envelope{Source: "imap", Kind: "case"}, Raw: []byte(fmt.Sprintf(
				"From: Carol <carol%d@customer.example>\r\nTo: support@support.test\r\nSubject: VPN drops every hour\r\n"+
					"Message-ID: <batch.%d@customer.example>\r\n\r\nThe VPN disconnects every hour.\r\n", n, n))}
		}
		if _, errs := g.IngestBatch(ctx, batch); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/mail")
}
