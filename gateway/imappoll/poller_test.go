package imappoll

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// TestBacklogThenNewMail: a backlog larger than a batch is delivered once,
// oldest first, then mail arriving while the poller idles.
func TestBacklogThenNewMail(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "backlog", 0, 120)

	log, _ := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")
	cfg := testConfig(ms.addr, "seen")
	cfg.BatchSize = 50
	start(t, newTestPoller(t, cfg, d, st, log))

	waitFor(t, 10*time.Second, "the backlog", func() bool { _, n, _ := d.counts(); return n == 120 })
	tc.Append("INBOX", testMail("live", 1))
	waitFor(t, 5*time.Second, "the new mail", func() bool { _, n, _ := d.counts(); return n == 121 })

	var prev uint32
	for i, dl := range d.deliveries() {
		if dl.src.UID <= prev {
			t.Fatalf("delivery %d has UID %d after %d: not oldest first", i, dl.src.UID, prev)
		}
		prev = dl.src.UID
		if dl.src.Mailbox != "helpdesk" || dl.src.Folder != "INBOX" || dl.src.Kind != "case" ||
			dl.src.UIDValidity == 0 || dl.src.Size != int64(len(dl.raw)) || dl.src.Truncated {
			t.Fatalf("delivery %d: bad source %+v (len %d)", i, dl.src, len(dl.raw))
		}
	}
	waitFor(t, 5*time.Second, "position saved", func() bool { _, last := st.get("helpdesk"); return last == prev })
	waitFor(t, 5*time.Second, "all flagged \\Seen", func() bool {
		for _, flags := range tc.Flags("INBOX") {
			if !hasFlag(flags, imap.FlagSeen) {
				return false
			}
		}
		return true
	})
	if calls, stored, dups := d.counts(); calls != 121 || dups != 0 {
		t.Errorf("calls %d, stored %d, dups %d: want 121 calls and no duplicate", calls, stored, dups)
	}
}

// TestShutdownFinishesMessageInHand: cancelling Run while a delivery is
// under way lets it commit, applies the after action, saves the position,
// and only then returns; the next message is left for the next start.
func TestShutdownFinishesMessageInHand(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "hand", 0, 2)
	log, _ := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")
	inHand, release := make(chan struct{}), make(chan struct{})
	d.setFail(func(ctx context.Context, call int, src Source) error {
		if call == 1 {
			close(inHand)
			<-release
		}
		return ctx.Err()
	})
	stop := start(t, newTestPoller(t, testConfig(ms.addr, "move:Processed"), d, st, log))

	<-inHand
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Run returned with a message in hand")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped

	if calls, stored, _ := d.counts(); calls != 1 || stored != 1 {
		t.Errorf("calls %d stored %d: want the one message in hand only", calls, stored)
	}
	if _, last := st.get("helpdesk"); last != 1 {
		t.Errorf("position %d, want 1", last)
	}
	if n := tc.Count("Processed"); n != 1 {
		t.Errorf("Processed holds %d, want the message in hand", n)
	}
}

// TestShutdownGraceExpires: a delivery that outlasts the grace period is
// cancelled; nothing is flagged or saved and Run returns.
func TestShutdownGraceExpires(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "stuck", 0, 1)
	log, _ := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")
	inHand := make(chan struct{})
	d.setFail(func(ctx context.Context, call int, src Source) error {
		close(inHand)
		<-ctx.Done()
		return ctx.Err()
	})
	p := newTestPoller(t, testConfig(ms.addr, "delete"), d, st, log)
	p.grace = 20 * time.Millisecond
	stop := start(t, p)
	<-inHand
	stop()
	if _, last := st.get("helpdesk"); last != 0 {
		t.Errorf("position %d saved for a cancelled delivery", last)
	}
	if n := tc.Count("INBOX"); n != 1 {
		t.Errorf("inbox holds %d, want the undelivered message kept", n)
	}
}

// TestDelivererPanic: a panicking Deliverer does not take the process
// down; the panic is logged and the message retried.
func TestDelivererPanic(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "panic", 0, 2)
	log, rec := newLogRecorder(t)
	rec.allowPanic = true
	d := newFakeDeliverer(t, "")
	d.setFail(func(ctx context.Context, call int, src Source) error {
		if call == 1 {
			panic("nil map in the deliverer")
		}
		return nil
	})
	start(t, newTestPoller(t, testConfig(ms.addr, "seen"), d, newMemState(t, ""), log))
	waitFor(t, 5*time.Second, "both delivered", func() bool { _, n, _ := d.counts(); return n == 2 })
	if rec.count(slogError, "imap poller panic") != 1 {
		t.Error("the panic was not logged once at ERROR")
	}
}
