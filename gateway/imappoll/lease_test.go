package imappoll

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

const slogInfo = slog.LevelInfo

// leaseTable is the database's table of mailbox leases, in memory, shared
// by the instances of a test.
type leaseTable struct {
	mu     sync.Mutex
	holder map[string]string
	until  map[string]time.Time
}

func newLeaseTable() *leaseTable {
	return &leaseTable{holder: map[string]string{}, until: map[string]time.Time{}}
}

func (lt *leaseTable) acquire(mailbox, instance string, lease time.Duration) Lease {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	now := time.Now()
	if h := lt.holder[mailbox]; h == "" || h == instance || !now.Before(lt.until[mailbox]) {
		lt.holder[mailbox], lt.until[mailbox] = instance, now.Add(lease)
	}
	return Lease{Held: lt.holder[mailbox] == instance, Holder: lt.holder[mailbox], Until: lt.until[mailbox]}
}

func (lt *leaseTable) release(mailbox, instance string) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.holder[mailbox] == instance {
		delete(lt.holder, mailbox)
	}
}

func (lt *leaseTable) holderOf(mailbox string) string {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.holder[mailbox]
}

// leasedState is one instance's State with its Lock on the shared table;
// once dead, it reaches the table no more, as an instance that was
// killed.
type leasedState struct {
	*memState
	table    *leaseTable
	instance string
	lease    time.Duration

	mu   sync.Mutex
	dead bool
}

func (s *leasedState) Acquire(ctx context.Context, mailbox string) (Lease, error) {
	if s.isDead() {
		return Lease{}, errors.New("dead")
	}
	return s.table.acquire(mailbox, s.instance, s.lease), nil
}

func (s *leasedState) Release(ctx context.Context, mailbox string) error {
	if s.isDead() {
		return errors.New("dead")
	}
	s.table.release(mailbox, s.instance)
	return nil
}

func (s *leasedState) die() {
	s.mu.Lock()
	s.dead = true
	s.mu.Unlock()
}

func (s *leasedState) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// Two instances poll one mailbox: one holds its lease and drains it, the
// other waits. The holder dies without releasing the lease; once it runs
// out the other takes the mailbox over, continues from the saved
// position, and nothing is stored twice.
func TestLeaseOneInstancePollsAndAnotherTakesOver(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	appendMails(tc, "INBOX", "first", 0, 20)
	table, pos, d := newLeaseTable(), newMemState(t, ""), newFakeDeliverer(t, "")
	const lease = 400 * time.Millisecond
	log, rec := newLogRecorder(t)
	a := &leasedState{memState: pos, table: table, instance: "a", lease: lease}
	b := &leasedState{memState: pos, table: table, instance: "b", lease: lease}
	stopA := start(t, newTestPoller(t, testConfig(ms.addr, "seen"), d, a, log.With("instance", "a")))
	waitFor(t, 10*time.Second, "a's lease", func() bool { return table.holderOf("helpdesk") == "a" })
	start(t, newTestPoller(t, testConfig(ms.addr, "seen"), d, b, log.With("instance", "b")))
	waitFor(t, 10*time.Second, "the first mails", func() bool { _, n, _ := d.counts(); return n == 20 })
	waitFor(t, 10*time.Second, "b to wait for the lease", func() bool {
		return rec.count(slogInfo, "imap mailbox polled by another instance") == 1
	})

	a.die()
	stopA()
	died := time.Now()
	if table.holderOf("helpdesk") != "a" {
		t.Fatal("a dead instance released its lease")
	}
	appendMails(tc, "INBOX", "second", 0, 20)
	waitFor(t, 10*time.Second, "b to take over", func() bool { return table.holderOf("helpdesk") == "b" })
	t.Logf("b took the mailbox over %v after a died (lease %v)", time.Since(died).Round(10*time.Millisecond), lease)
	waitFor(t, 10*time.Second, "the second mails", func() bool { _, n, _ := d.counts(); return n == 40 })
	if _, _, dups := d.counts(); dups != 0 {
		t.Errorf("%d messages offered twice: b did not continue from the saved position", dups)
	}
}

// An instance that learns another took its mailbox over stops polling at
// once, and polls again when the lease comes back to it.
func TestLeaseLostStopsPolling(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	table, d := newLeaseTable(), newFakeDeliverer(t, "")
	log, rec := newLogRecorder(t)
	a := &leasedState{memState: newMemState(t, ""), table: table, instance: "a", lease: 300 * time.Millisecond}
	p := newTestPoller(t, testConfig(ms.addr, "seen"), d, a, log)
	p.leaseWait = 50 * time.Millisecond
	start(t, p)
	appendMails(tc, "INBOX", "before", 0, 3)
	waitFor(t, 10*time.Second, "the first mails", func() bool { _, n, _ := d.counts(); return n == 3 })

	// Another instance holds the mailbox (a's lease was taken from it
	// while it could not renew, say).
	table.mu.Lock()
	table.holder["helpdesk"], table.until["helpdesk"] = "thief", time.Now().Add(time.Hour)
	table.mu.Unlock()
	waitFor(t, 10*time.Second, "a to notice", func() bool {
		return rec.count(slogWarn, "imap mailbox taken over by another instance") == 1
	})
	waitFor(t, 10*time.Second, "a's poller to stop", func() bool { return rec.count(slogInfo, "polled by another instance") == 1 })
	appendMails(tc, "INBOX", "while-lost", 0, 3)
	time.Sleep(300 * time.Millisecond) // a poller would have taken them by now (it polls every 50 ms)
	if _, n, _ := d.counts(); n != 3 {
		t.Fatalf("%d mails stored while another instance held the mailbox, want the first 3", n)
	}
	table.release("helpdesk", "thief")
	waitFor(t, 10*time.Second, "a to poll again", func() bool { _, n, _ := d.counts(); return n == 6 })
}
