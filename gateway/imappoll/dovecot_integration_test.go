package imappoll

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// TestDovecot runs the poller end to end against a real Dovecot. Each
// subtest polls a folder of its own.
func TestDovecot(t *testing.T) {
	dv := dovecottest.Start(t)
	t.Logf("dovecot %s", dv.Version)
	tc := dovecottest.DialClient(t, dv.Addr, testUser, testPass)
	config := func(folder, after string) Config {
		tc.Create(folder)
		cfg := testConfig(dv.Addr, after)
		cfg.Name, cfg.Folder = "dovecot-"+folder, folder
		return cfg
	}

	t.Run("backlog_then_idle_then_move", func(t *testing.T) {
		cfg := config("Helpdesk", "move:Processed")
		appendMails(tc, "Helpdesk", "backlog", 0, 50)
		log, _ := newLogRecorder(t)
		d := newFakeDeliverer(t, "")
		p := newTestPoller(t, cfg, d, newMemState(t, ""), log)
		p.idleRestart = idleRestartInterval // the wakeup below is IDLE's doing
		start(t, p)
		waitFor(t, 20*time.Second, "the backlog of 50", func() bool { _, n, _ := d.counts(); return n == 50 })
		waitFor(t, 5*time.Second, "Helpdesk emptied", func() bool { return tc.Count("Helpdesk") == 0 })

		// IDLE: a mail appended now arrives without waiting for a poll
		// (PollInterval is irrelevant while IDLE is in use).
		time.Sleep(100 * time.Millisecond) // let the poller enter IDLE
		appended := time.Now()
		tc.Append("Helpdesk", testMail("live", 0))
		dl := <-d.notifyAfter(50)
		latency := time.Since(appended)
		t.Logf("APPEND to delivery with IDLE: %v", latency)
		if latency > 5*time.Second {
			t.Errorf("the new mail took %v, want under 5 s", latency)
		}
		if dl.src.Folder != "Helpdesk" {
			t.Errorf("source %+v", dl.src)
		}
		waitFor(t, 5*time.Second, "all 51 in Processed", func() bool { return tc.Count("Processed") == 51 })
		if calls, stored, dups := d.counts(); calls != 51 || stored != 51 || dups != 0 {
			t.Errorf("calls %d stored %d dups %d, want 51 each and no duplicate", calls, stored, dups)
		}
	})

	t.Run("seen_and_restart", func(t *testing.T) {
		cfg := config("Seen", "seen")
		appendMails(tc, "Seen", "seen", 0, 5)
		log, _ := newLogRecorder(t)
		d, st := newFakeDeliverer(t, ""), newMemState(t, "")
		stop := start(t, newTestPoller(t, cfg, d, st, log))
		waitFor(t, 10*time.Second, "all seen", allFlagged(tc, "Seen", 5, imap.FlagSeen))
		stop()
		start(t, newTestPoller(t, cfg, d, st, log))
		tc.Append("Seen", testMail("seen", 5))
		waitFor(t, 10*time.Second, "the sixth seen", allFlagged(tc, "Seen", 6, imap.FlagSeen))
		if calls, _, _ := d.counts(); calls != 6 {
			t.Errorf("%d deliveries for 6 mails: the restart re-offered seen mail", calls)
		}
	})

	t.Run("delete", func(t *testing.T) {
		cfg := config("Delete", "delete")
		appendMails(tc, "Delete", "delete", 0, 5)
		log, _ := newLogRecorder(t)
		d := newFakeDeliverer(t, "")
		start(t, newTestPoller(t, cfg, d, newMemState(t, ""), log))
		waitFor(t, 10*time.Second, "Delete emptied", func() bool { return tc.Count("Delete") == 0 })
		if _, stored, _ := d.counts(); stored != 5 {
			t.Errorf("stored %d, want 5", stored)
		}
	})

	t.Run("killed_between_commit_and_flag", func(t *testing.T) {
		cfg := config("Crash", "seen")
		testCrashBetweenCommitAndAfter(t, cfg.Address, "Crash", "seen", tc,
			allFlagged(tc, "Crash", 3, imap.FlagSeen))
	})

	t.Run("folder_recreated", func(t *testing.T) {
		cfg := config("Reset", "seen")
		appendMails(tc, "Reset", "reset", 0, 5)
		log, rec := newLogRecorder(t)
		d, st := newFakeDeliverer(t, ""), newMemState(t, "")
		p := newTestPoller(t, cfg, d, st, log)
		// Dovecot does not tell a session that its folder was deleted;
		// the poller finds out when it selects the folder again, which it
		// does whenever it re-issues IDLE.
		p.idleRestart = 200 * time.Millisecond
		start(t, p)
		waitFor(t, 10*time.Second, "first pass", allFlagged(tc, "Reset", 5, imap.FlagSeen))
		before, _ := st.get(cfg.Name)

		// Deleted and recreated under the running poller.
		tc.Delete("Reset")
		tc.Create("Reset")
		appendMails(tc, "Reset", "reset", 0, 5)
		waitFor(t, 20*time.Second, "second pass", func() bool {
			v, last := st.get(cfg.Name)
			return v != before && last == 5 && allFlagged(tc, "Reset", 5, imap.FlagSeen)()
		})
		if calls, stored, dups := d.counts(); stored != 5 || dups != 5 || calls != 10 {
			t.Errorf("calls %d stored %d dups %d: want 10, 5, 5", calls, stored, dups)
		}
		if rec.count(slogWarn, "uidvalidity changed") != 1 {
			t.Error("the new UIDVALIDITY was not logged")
		}
	})

	t.Run("after_refused", func(t *testing.T) {
		cfg := config("Refused", "move:~bad")
		appendMails(tc, "Refused", "refused", 0, 2)
		log, rec := newLogRecorder(t)
		d, st := newFakeDeliverer(t, ""), newMemState(t, "")
		start(t, newTestPoller(t, cfg, d, st, log))
		waitFor(t, 10*time.Second, "both handled", func() bool { _, last := st.get(cfg.Name); return last == 2 })
		if n := rec.count(slogError, "refused the after action"); n != 1 {
			t.Errorf("%d refusals logged, want 1 for the batch", n)
		}
		if n := tc.Count("Refused"); n != 2 {
			t.Errorf("Refused holds %d, want both kept", n)
		}
	})

	for _, mode := range []string{TLSImplicit, TLSStartTLS} {
		t.Run("tls_"+mode, func(t *testing.T) {
			cfg := config("TLS"+mode, "seen")
			cfg.TLS, cfg.TLSConfig = mode, dv.Cert.ClientConfig()
			if mode == TLSImplicit {
				cfg.Address = dv.TLSAddr
			}
			tc.Append(cfg.Folder, testMail(mode, 0))
			log, _ := newLogRecorder(t)
			d := newFakeDeliverer(t, "")
			start(t, newTestPoller(t, cfg, d, newMemState(t, ""), log))
			waitFor(t, 10*time.Second, "delivery over "+mode, func() bool { _, n, _ := d.counts(); return n == 1 })
		})
	}
}

// allFlagged returns a condition: folder holds n messages, all with flag.
func allFlagged(tc *dovecottest.Client, folder string, n int, flag imap.Flag) func() bool {
	return func() bool {
		msgs := tc.Flags(folder)
		if len(msgs) != n {
			return false
		}
		for _, flags := range msgs {
			if !hasFlag(flags, flag) {
				return false
			}
		}
		return true
	}
}

// notifyAfter returns a channel that yields the delivery after the first
// skip ones.
func (f *fakeDeliverer) notifyAfter(skip int) <-chan delivery {
	ch := make(chan delivery, 1)
	go func() {
		for i := 0; ; i++ {
			dl := <-f.notify
			if i >= skip {
				ch <- dl
				return
			}
		}
	}()
	return ch
}
