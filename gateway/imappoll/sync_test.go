package imappoll

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// TestFailedDeliveryIsRetriedNotSkipped: a temporary failure stops the
// mailbox at that message; nothing after it is delivered, flagged or
// counted as done, and it is retried until it succeeds.
func TestFailedDeliveryIsRetriedNotSkipped(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "retry", 0, 6)
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
	if n := tc.Count("INBOX"); n != 4 {
		t.Errorf("inbox holds %d while UID 3 fails, want 4 (1 and 2 moved only)", n)
	}

	close(down)
	waitFor(t, 5*time.Second, "all delivered", func() bool { _, n, _ := d.counts(); return n == 6 })
	waitFor(t, 5*time.Second, "inbox emptied", func() bool { return tc.Count("INBOX") == 0 })
}

// TestRestartResumes: a second poller with the same State delivers only
// what arrived in between, even with "seen", which leaves mail in place.
func TestRestartResumes(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "first", 0, 5)
	log, _ := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")
	cfg := testConfig(ms.addr, "seen")

	stop := start(t, newTestPoller(t, cfg, d, st, log))
	waitFor(t, 5*time.Second, "first run", func() bool { _, n, _ := d.counts(); return n == 5 })
	waitFor(t, 5*time.Second, "position", func() bool { _, last := st.get("helpdesk"); return last == 5 })
	stop()

	appendMails(tc, "INBOX", "second", 0, 3)
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
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	tc.Create("Support")
	appendMails(tc, "Support", "reset", 0, 5)
	log, rec := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")
	cfg := testConfig(ms.addr, "seen")
	cfg.Folder = "Support"

	stop := start(t, newTestPoller(t, cfg, d, st, log))
	waitFor(t, 5*time.Second, "first pass", func() bool { _, last := st.get("helpdesk"); return last == 5 })
	stop()
	oldValidity, _ := st.get("helpdesk")

	tc.Delete("Support")
	tc.Create("Support")
	appendMails(tc, "Support", "reset", 0, 5)
	start(t, newTestPoller(t, cfg, d, st, log))
	waitFor(t, 5*time.Second, "second pass", func() bool {
		v, last := st.get("helpdesk")
		return v != oldValidity && last == 5
	})
	if calls, stored, dups := d.counts(); calls != 10 || stored != 5 || dups != 5 {
		t.Errorf("calls %d stored %d dups %d: want 10, 5, 5", calls, stored, dups)
	}
	for uid, flags := range tc.Flags("Support") {
		if !hasFlag(flags, imap.FlagSeen) {
			t.Errorf("UID %d not \\Seen after the reset", uid)
		}
	}
	if rec.count(slogWarn, "uidvalidity changed") != 1 {
		t.Errorf("the UIDVALIDITY change was not logged once")
	}
}

// refusingSession answers NO to any FETCH of a body that includes UID
// refuse, as a server does for a message file it cannot read.
type refusingSession struct {
	imapserver.Session
	refuse imap.UID
}

func (s refusingSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if set, ok := numSet.(imap.UIDSet); ok && set.Contains(s.refuse) && len(options.BodySection) > 0 {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug, Text: "Internal error"}
	}
	return s.Session.Fetch(w, numSet, options)
}

// TestUnreadableMessageIsSkipped: a message the server keeps refusing to
// return is given up after a few attempts, loudly, and the mail after it
// still arrives.
func TestUnreadableMessageIsSkipped(t *testing.T) {
	ms := startMemServerWith(t, "127.0.0.1:0", capsPlain, func(s imapserver.Session) imapserver.Session {
		return refusingSession{Session: s, refuse: 2}
	})
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "unreadable", 0, 3)
	log, rec := newLogRecorder(t)
	d, st := newFakeDeliverer(t, ""), newMemState(t, "")
	start(t, newTestPoller(t, testConfig(ms.addr, "seen"), d, st, log))

	waitFor(t, 5*time.Second, "position past the unreadable message", func() bool {
		_, last := st.get("helpdesk")
		return last == 3
	})
	if _, stored, _ := d.counts(); stored != 2 {
		t.Errorf("stored %d, want the two readable messages", stored)
	}
	if n := rec.count(slogWarn, "fetch uid 2"); n != maxFetchRefusals-1 {
		t.Errorf("%d retries logged, want %d", n, maxFetchRefusals-1)
	}
	if n := rec.count(slogError, "keeps refusing"); n != 1 {
		t.Errorf("the skip was logged %d times, want once", n)
	}
}
