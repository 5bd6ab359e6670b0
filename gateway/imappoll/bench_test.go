package imappoll

import (
	"fmt"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// Measurements against a real Dovecot; run with
//
//	go test -run '^$' -bench Dovecot -benchtime 3x ./gateway/imappoll/
//
// BenchmarkDovecotBacklog drains a backlog of 500 mails and reports
// mails/s; BenchmarkDovecotIdleLatency appends one mail per iteration to
// an idling poller and reports the time from APPEND to delivery.

const backlogSize = 500

func BenchmarkDovecotBacklog(b *testing.B) {
	dv := dovecottest.Start(b)
	tc := dovecottest.DialClient(b, dv.Addr, testUser, testPass)
	round := 0 // folder names stay unique across b.Run's calibration runs
	for _, after := range []string{"seen", "move:Processed", "delete"} {
		b.Run(after, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				round++
				folder := fmt.Sprintf("Backlog%d", round)
				tc.Create(folder)
				appendMails(tc, folder, folder, 0, backlogSize)
				d := newFakeDeliverer(b, "")
				cfg := testConfig(dv.Addr, after)
				cfg.Name, cfg.Folder = folder, folder
				p := newTestPoller(b, cfg, d, newMemState(b, ""), nil)
				b.StartTimer()

				began := time.Now()
				stop := start(b, p)
				for range backlogSize {
					<-d.notify
				}
				total += time.Since(began)
				b.StopTimer()
				stop()
			}
			b.ReportMetric(float64(b.N*backlogSize)/total.Seconds(), "mails/s")
		})
	}
}

func BenchmarkDovecotIdleLatency(b *testing.B) {
	dv := dovecottest.Start(b)
	tc := dovecottest.DialClient(b, dv.Addr, testUser, testPass)
	tc.Create("Latency")
	d := newFakeDeliverer(b, "")
	cfg := testConfig(dv.Addr, "move:Processed")
	cfg.Folder = "Latency"
	p := newTestPoller(b, cfg, d, newMemState(b, ""), nil)
	p.idleRestart = idleRestartInterval
	start(b, p)
	time.Sleep(200 * time.Millisecond) // let it enter IDLE

	var worst time.Duration
	b.ResetTimer()
	for i := range b.N {
		began := time.Now()
		tc.Append("Latency", testMail("latency", i))
		<-d.notify
		worst = max(worst, time.Since(began))
	}
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
}
