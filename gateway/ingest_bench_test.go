package gateway

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkIngestNewCase measures the whole ingestion of a first mail:
// parse, classify, one durable commit with the case, message, watcher and
// two outbox rows.
func BenchmarkIngestNewCase(b *testing.B) {
	g, _ := newTestGateway(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		raw := fmt.Sprintf("From: Carol <carol%d@customer.example>\r\nTo: support@support.test\r\nCc: dave@customer.example\r\n"+
			"Subject: VPN drops every hour\r\nMessage-ID: <bench.%d@customer.example>\r\n\r\nThe VPN disconnects every hour.\r\n", i, i)
		if _, err := g.Ingest(ctx, []byte(raw), Envelope{Source: "smtp", To: []string{"support@support.test"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestReply measures a threaded reply to an existing case.
func BenchmarkIngestReply(b *testing.B) {
	g, _ := newTestGateway(b)
	ctx := context.Background()
	first := "From: carol@customer.example\r\nTo: support@support.test\r\nSubject: VPN\r\nMessage-ID: <root@customer.example>\r\n\r\nx\r\n"
	if _, err := g.Ingest(ctx, []byte(first), Envelope{Source: "smtp"}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		raw := fmt.Sprintf("From: carol@customer.example\r\nTo: support@support.test\r\nSubject: Re: [CS0000001] VPN\r\n"+
			"Message-ID: <reply.%d@customer.example>\r\nIn-Reply-To: <root@customer.example>\r\n\r\nStill broken.\r\n", i)
		if _, err := g.Ingest(ctx, []byte(raw), Envelope{Source: "smtp"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestNewCaseParallel measures ingestion from many concurrent
// sources, the way an SMTP listener with many sessions drives it: their
// commits are grouped.
func BenchmarkIngestNewCaseParallel(b *testing.B) {
	g, _ := newTestGateway(b)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			raw := fmt.Sprintf("From: Carol <carol%d@customer.example>\r\nTo: support@support.test\r\nCc: dave@customer.example\r\n"+
				"Subject: VPN drops every hour\r\nMessage-ID: <pbench.%d@customer.example>\r\n\r\nThe VPN disconnects every hour.\r\n", i, i)
			if _, err := g.Ingest(ctx, []byte(raw), Envelope{Source: "smtp", To: []string{"support@support.test"}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
