package imappoll

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// batchDeliverer is a fakeDeliverer that takes batches, recording the
// size of each, and stores each message of a batch on its own as the
// gateway does (a failure does not stop the messages after it).
type batchDeliverer struct {
	*fakeDeliverer
	mu     sync.Mutex
	groups []int
}

func (b *batchDeliverer) DeliverBatch(ctx context.Context, msgs []Message) []error {
	b.mu.Lock()
	b.groups = append(b.groups, len(msgs))
	b.mu.Unlock()
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		errs[i] = b.Deliver(ctx, m.Mail, m.Src)
	}
	return errs
}

// TestBacklogInBatches: a Deliverer that takes batches gets the backlog
// a batch at a time, oldest first, every message once.
func TestBacklogInBatches(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "backlog", 0, 120)
	log, _ := newLogRecorder(t)
	d := &batchDeliverer{fakeDeliverer: newFakeDeliverer(t, "")}
	st := newMemState(t, "")
	cfg := testConfig(ms.addr, "move:Processed")
	cfg.BatchSize = 50
	start(t, newTestPoller(t, cfg, d, st, log))

	waitFor(t, 10*time.Second, "the backlog", func() bool { _, n, _ := d.counts(); return n == 120 })
	waitFor(t, 5*time.Second, "inbox emptied", func() bool { return tc.Count("INBOX") == 0 })
	var prev uint32
	for i, dl := range d.deliveries() {
		if dl.src.UID <= prev {
			t.Fatalf("delivery %d has UID %d after %d: not oldest first", i, dl.src.UID, prev)
		}
		prev = dl.src.UID
	}
	d.mu.Lock()
	groups := append([]int(nil), d.groups...)
	d.mu.Unlock()
	if len(groups) != 3 || groups[0] != 50 || groups[1] != 50 || groups[2] != 20 {
		t.Errorf("groups handed over = %v, want [50 50 20]", groups)
	}
	if calls, _, dups := d.counts(); calls != 120 || dups != 0 {
		t.Errorf("calls %d, dups %d", calls, dups)
	}
}

// TestBatchFailureHoldsThePosition: a message that fails in the middle of
// a batch keeps the position before it, so it is offered again; messages
// after it that were stored are not stored twice.
func TestBatchFailureHoldsThePosition(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "retry", 0, 6)
	log, _ := newLogRecorder(t)
	d := &batchDeliverer{fakeDeliverer: newFakeDeliverer(t, "")}
	st := newMemState(t, "")
	down := make(chan struct{})
	var failures atomic.Int32
	d.setFail(func(ctx context.Context, call int, src Source) error {
		if src.UID != 3 {
			return nil
		}
		select {
		case <-down:
			return nil
		default:
			failures.Add(1)
			return errors.New("database is locked")
		}
	})
	start(t, newTestPoller(t, testConfig(ms.addr, "move:Processed"), d, st, log))
	waitFor(t, 5*time.Second, "two failed attempts", func() bool { return failures.Load() >= 2 })
	if _, last := st.get("helpdesk"); last != 2 {
		t.Errorf("position %d while UID 3 fails, want 2", last)
	}
	for _, dl := range d.deliveries() {
		if dl.src.UID == 3 {
			t.Error("UID 3 stored while it fails")
		}
	}
	close(down)
	waitFor(t, 5*time.Second, "all delivered", func() bool { _, n, _ := d.counts(); return n == 6 })
	waitFor(t, 5*time.Second, "inbox emptied", func() bool { return tc.Count("INBOX") == 0 })
	waitFor(t, 5*time.Second, "position saved", func() bool { _, last := st.get("helpdesk"); return last == 6 })
}
