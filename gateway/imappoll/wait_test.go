package imappoll

import (
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// TestPollingWithoutIdle: where IDLE is not used the poller finds new mail
// by polling at PollInterval.
func TestPollingWithoutIdle(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	log, _ := newLogRecorder(t)
	d := newFakeDeliverer(t, "")
	cfg := testConfig(ms.addr, "seen")
	cfg.PollInterval = 20 * time.Millisecond
	p := newTestPoller(t, cfg, d, newMemState(t, ""), log)
	p.disableIdle = true
	start(t, p)
	for i := range 3 {
		tc.Append("INBOX", testMail("poll", i))
		waitFor(t, 5*time.Second, "polled delivery", func() bool { _, n, _ := d.counts(); return n == i+1 })
	}
}

// TestIdleRestart: IDLE is ended and re-issued on schedule and mail keeps
// arriving across the restarts.
func TestIdleRestart(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	log, _ := newLogRecorder(t)
	d := newFakeDeliverer(t, "")
	p := newTestPoller(t, testConfig(ms.addr, "seen"), d, newMemState(t, ""), log)
	p.idleRestart = 10 * time.Millisecond
	start(t, p)
	for i := range 3 {
		time.Sleep(30 * time.Millisecond) // let a few restarts happen
		tc.Append("INBOX", testMail("restart", i))
		waitFor(t, 5*time.Second, "delivery", func() bool { _, n, _ := d.counts(); return n == i+1 })
	}
}
