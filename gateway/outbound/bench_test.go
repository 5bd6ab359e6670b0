package outbound_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
)

// BenchmarkPool sends b.N queued mails, each to its own recipient, through
// the pool to an in-process go-smtp relay, with 1 and with 8 workers. The
// time runs from the start of Run until every row is recorded sent.
//
//	go test -run '^$' -bench Pool -benchtime 2000x ./gateway/outbound/
func BenchmarkPool(b *testing.B) {
	for _, c := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) {
			e := newEnv(b)
			ctx := context.Background()
			err := e.st.Write(ctx, func(tx *store.Tx) error {
				for i := range b.N {
					m := e.row
					m.Recipient = fmt.Sprintf("r%d@customer.example", i)
					m.MessageID = fmt.Sprintf("bench.%d@support.test", i)
					if _, err := tx.Enqueue(ctx, m, time.Hour); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			relay := gatewaytest.StartRelay(b)
			p := e.pool(b, outbound.Config{Concurrency: c}, relaySender(b, relay), nil)
			b.ResetTimer()
			began := time.Now()
			stop := start(b, p)
			e.waitSent(b, b.N+1)
			elapsed := time.Since(began)
			b.StopTimer()
			stop()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "mails/s")
		})
	}
}
