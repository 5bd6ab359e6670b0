package imappoll

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestBacklogThenNewMail: a backlog larger than a batch is delivered once,
// oldest first, then mail arriving while the poller idles.
func TestBacklogThenNewMail(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dialTestClient(t, ms.addr, testUser, testPass)
	tc.appendMails("INBOX", "backlog", 0, 120)

	log, _ := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")
	cfg := testConfig(ms.addr, "seen")
	cfg.BatchSize = 50
	start(t, newTestPoller(t, cfg, d, st, log))

	waitFor(t, 10*time.Second, "the backlog", func() bool { _, n, _ := d.counts(); return n == 120 })
	tc.append("INBOX", testMail("live", 1))
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
		for _, flags := range tc.messages("INBOX") {
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

// TestAfterActions: each after action, with and without MOVE and UIDPLUS.
func TestAfterActions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		caps  imap.CapSet
		after string
	}{
		{"move", capsMove, "move:Processed"},
		{"copy_uidplus", capsCopy, "move:Processed"},
		{"copy_expunge", capsPlain, "move:Done/Cases"},
		{"delete_uidplus", capsMove, "delete"},
		{"delete_expunge", capsPlain, "delete"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ms := startMemServer(t, tt.caps)
			tc := dialTestClient(t, ms.addr, testUser, testPass)
			tc.appendMails("INBOX", tt.name, 0, 7)
			log, _ := newLogRecorder(t)
			d := newFakeDeliverer(t, "")
			start(t, newTestPoller(t, testConfig(ms.addr, tt.after), d, newMemState(t, ""), log))

			waitFor(t, 5*time.Second, "the inbox emptied", func() bool { return tc.count("INBOX") == 0 })
			if _, stored, _ := d.counts(); stored != 7 {
				t.Fatalf("stored %d, want 7", stored)
			}
			if folder, ok := cutPrefix(tt.after, "move:"); ok {
				if n := tc.count(folder); n != 7 {
					t.Errorf("%s holds %d messages, want 7", folder, n)
				}
			}
		})
	}
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

// TestMoveIntoExistingFolder: ALREADYEXISTS from CREATE is fine.
func TestMoveIntoExistingFolder(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dialTestClient(t, ms.addr, testUser, testPass)
	tc.create("Processed")
	tc.append("Processed", testMail("old", 0))
	tc.appendMails("INBOX", "new", 0, 3)
	log, _ := newLogRecorder(t)
	start(t, newTestPoller(t, testConfig(ms.addr, "move:Processed"), newFakeDeliverer(t, ""), newMemState(t, ""), log))
	waitFor(t, 5*time.Second, "moved", func() bool { return tc.count("Processed") == 4 })
}

// TestFailedDeliveryIsRetriedNotSkipped: a temporary failure stops the
// mailbox at that message; nothing after it is delivered, flagged or
// counted as done, and it is retried until it succeeds.
func TestFailedDeliveryIsRetriedNotSkipped(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dialTestClient(t, ms.addr, testUser, testPass)
	tc.appendMails("INBOX", "retry", 0, 6)
	log, _ := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")

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

	waitFor(t, 5*time.Second, "three failed attempts", func() bool { return failures.Load() >= 3 })
	d.mu.Lock()
	stored := len(d.stored)
	for _, dl := range d.stored {
		if dl.src.UID >= 3 {
			t.Errorf("UID %d delivered while UID 3 fails", dl.src.UID)
		}
	}
	d.mu.Unlock()
	if stored != 2 {
		t.Errorf("stored %d while UID 3 fails, want 2", stored)
	}
	if _, last := st.get("helpdesk"); last != 2 {
		t.Errorf("position %d while UID 3 fails, want 2", last)
	}
	if n := tc.count("INBOX"); n != 4 {
		t.Errorf("inbox holds %d while UID 3 fails, want 4 (1 and 2 moved only)", n)
	}

	close(down)
	waitFor(t, 5*time.Second, "all delivered", func() bool { _, n, _ := d.counts(); return n == 6 })
	waitFor(t, 5*time.Second, "inbox emptied", func() bool { return tc.count("INBOX") == 0 })
}

// TestRestartResumes: a second poller with the same State delivers only
// what arrived in between, even with "seen", which leaves mail in place.
func TestRestartResumes(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dialTestClient(t, ms.addr, testUser, testPass)
	tc.appendMails("INBOX", "first", 0, 5)
	log, _ := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")
	cfg := testConfig(ms.addr, "seen")

	stop := start(t, newTestPoller(t, cfg, d, st, log))
	waitFor(t, 5*time.Second, "first run", func() bool { _, n, _ := d.counts(); return n == 5 })
	waitFor(t, 5*time.Second, "position", func() bool { _, last := st.get("helpdesk"); return last == 5 })
	stop()

	tc.appendMails("INBOX", "second", 0, 3)
	start(t, newTestPoller(t, cfg, d, st, log))
	waitFor(t, 5*time.Second, "second run", func() bool { _, n, _ := d.counts(); return n == 8 })
	if calls, _, dups := d.counts(); calls != 8 || dups != 0 {
		t.Errorf("calls %d dups %d: the restart offered handled mail again", calls, dups)
	}
}

// TestUIDValidityReset: the folder is deleted and recreated with the same
// mail; everything is offered again under the new UIDVALIDITY, the
// Deliverer drops it all as duplicate, and the after action still runs.
func TestUIDValidityReset(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dialTestClient(t, ms.addr, testUser, testPass)
	tc.create("Support")
	tc.appendMails("Support", "reset", 0, 5)
	log, rec := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")
	cfg := testConfig(ms.addr, "seen")
	cfg.Folder = "Support"

	stop := start(t, newTestPoller(t, cfg, d, st, log))
	waitFor(t, 5*time.Second, "first pass", func() bool { _, last := st.get("helpdesk"); return last == 5 })
	stop()
	oldValidity, _ := st.get("helpdesk")

	tc.delete("Support")
	tc.create("Support")
	tc.appendMails("Support", "reset", 0, 5)
	start(t, newTestPoller(t, cfg, d, st, log))
	waitFor(t, 5*time.Second, "second pass", func() bool {
		v, last := st.get("helpdesk")
		return v != oldValidity && last == 5
	})
	if calls, stored, dups := d.counts(); calls != 10 || stored != 5 || dups != 5 {
		t.Errorf("calls %d stored %d dups %d: want 10, 5, 5", calls, stored, dups)
	}
	for uid, flags := range tc.messages("Support") {
		if !hasFlag(flags, imap.FlagSeen) {
			t.Errorf("UID %d not \\Seen after the reset", uid)
		}
	}
	if rec.count(slogWarn, "uidvalidity changed") != 1 {
		t.Errorf("the UIDVALIDITY change was not logged once")
	}
}

// TestShutdownFinishesMessageInHand: cancelling Run while a delivery is
// under way lets it commit, applies the after action, saves the position,
// and only then returns; the next message is left for the next start.
func TestShutdownFinishesMessageInHand(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dialTestClient(t, ms.addr, testUser, testPass)
	tc.appendMails("INBOX", "hand", 0, 2)
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
	if n := tc.count("Processed"); n != 1 {
		t.Errorf("Processed holds %d, want the message in hand", n)
	}
}

// TestShutdownGraceExpires: a delivery that outlasts the grace period is
// cancelled; nothing is flagged or saved and Run returns.
func TestShutdownGraceExpires(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dialTestClient(t, ms.addr, testUser, testPass)
	tc.appendMails("INBOX", "stuck", 0, 1)
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
	if n := tc.count("INBOX"); n != 1 {
		t.Errorf("inbox holds %d, want the undelivered message kept", n)
	}
}

// TestDelivererPanic: a panicking Deliverer does not take the process
// down; the panic is logged and the message retried.
func TestDelivererPanic(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dialTestClient(t, ms.addr, testUser, testPass)
	tc.appendMails("INBOX", "panic", 0, 2)
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
