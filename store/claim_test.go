package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// movingClock is a clock tests move by hand, shared by the stores of one
// database as the machines of several instances share the time.
type movingClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *movingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *movingClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// twoInstances opens one new database twice, as two instances would,
// both on clock.
func twoInstances(t *testing.T, b backend, clock *movingClock) (*Store, *Store) {
	t.Helper()
	loc := b.newDB(t)
	return b.openAt(t, loc, Options{Now: clock.Now}), b.openAt(t, loc, Options{Now: clock.Now})
}

func claimIDs(t *testing.T, st *Store, instance string, limit int, exclude ...int64) ([]ClaimedMail, []int64) {
	t.Helper()
	got, err := st.ClaimMail(context.Background(), instance, time.Minute, limit, exclude...)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	return got, ids
}

func finish(t *testing.T, st *Store, c ClaimedMail, result string) {
	t.Helper()
	err := st.FinishAttempts(context.Background(), []AttemptOutcome{{Outbox: c.ID, Attempt: c.Attempt,
		AttemptResult: AttemptResult{Result: result, Next: st.Now()}}})
	if err != nil {
		t.Fatal(err)
	}
}

// Two instances claim from one outbox at the same time, over and over:
// no row is ever claimed by both, every row is claimed exactly once, and a
// case's mails to one recipient are claimed in the order they were
// queued.
func TestClaimsNeverOverlap(t *testing.T) { eachBackend(t, testClaimsNeverOverlap) }

func testClaimsNeverOverlap(t *testing.T, b backend) {
	clock := &movingClock{now: testClock}
	a, bb := twoInstances(t, b, clock)
	ctx := context.Background()
	cases := []Case{newCase(t, a, "a@x.example"), newCase(t, a, "b@x.example"), newCase(t, a, "c@x.example")}
	const perRecipient = 8
	var all []int64
	for i := range perRecipient {
		for _, c := range cases {
			for _, rcpt := range []string{"r1@x.example", "r2@x.example"} {
				all = append(all, enqueue(t, a, c.ID, rcpt, fmt.Sprintf("%d.%d.%s@h", i, c.ID, rcpt)))
			}
		}
	}
	var mu sync.Mutex
	claimed := map[int64]string{} // row -> the instance that claimed it
	var order []int64             // rows in the order they were claimed
	var wg sync.WaitGroup
	for w := range 4 {
		st, instance := []*Store{a, bb}[w%2], fmt.Sprintf("instance-%d", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
				mu.Lock()
				done := len(claimed) == len(all)
				mu.Unlock()
				if done {
					return
				}
				got, err := st.ClaimMail(ctx, instance, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				for _, c := range got {
					if prev, ok := claimed[c.ID]; ok {
						t.Errorf("row %d claimed by %s and by %s", c.ID, prev, instance)
					}
					claimed[c.ID] = instance
					order = append(order, c.ID)
				}
				mu.Unlock()
				outcomes := make([]AttemptOutcome, len(got))
				for i, c := range got {
					outcomes[i] = AttemptOutcome{Outbox: c.ID, Attempt: c.Attempt, AttemptResult: AttemptResult{Result: AttemptSent}}
				}
				if err := st.FinishAttempts(ctx, outcomes); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(claimed) != len(all) {
		t.Fatalf("%d of %d rows claimed", len(claimed), len(all))
	}
	by := map[string]int{}
	for _, inst := range claimed {
		by[inst]++
	}
	t.Logf("claims per instance: %v", by)
	// Rows of one case and recipient were queued in id order: they must
	// have been claimed in that order.
	seen := map[string]int64{}
	for _, id := range order {
		m, err := a.OutboxByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprint(m.CaseID, strings.ToLower(m.Recipient))
		if seen[key] > id {
			t.Errorf("row %d claimed after row %d of the same case and recipient", id, seen[key])
		}
		seen[key] = id
		if m.Status != OutboxSent || m.Attempts != 1 {
			t.Errorf("row %d: %s after %d attempts, want sent after 1", id, m.Status, m.Attempts)
		}
	}
}

// A claim keeps a row from every other instance while it is renewed; once
// it runs out, another instance takes the row over, the attempt left open
// is closed as interrupted, and the late result of the first instance no
// longer moves the row.
func TestExpiredClaimIsTakenOver(t *testing.T) { eachBackend(t, testExpiredClaimIsTakenOver) }

func testExpiredClaimIsTakenOver(t *testing.T, b backend) {
	clock := &movingClock{now: testClock}
	a, bb := twoInstances(t, b, clock)
	ctx := context.Background()
	c := newCase(t, a, "a@x.example")
	id := enqueue(t, a, c.ID, "a@x.example", "1@h")
	later := enqueue(t, a, c.ID, "a@x.example", "2@h")
	first, ids := claimIDs(t, a, "a", 10)
	if fmt.Sprint(ids) != fmt.Sprint([]int64{id}) {
		t.Fatalf("a claimed %v, want [%d]", ids, id)
	}
	// Renewed every 40 s, the one-minute claim holds for three minutes.
	for range 4 {
		clock.Advance(40 * time.Second)
		if _, got := claimIDs(t, bb, "b", 10); len(got) != 0 {
			t.Fatalf("b claimed %v under a's live claim", got)
		}
		if lost, err := a.RenewClaims(ctx, "a", time.Minute, []int64{id}); err != nil || len(lost) != 0 {
			t.Fatalf("renew: lost %v, %v", lost, err)
		}
	}
	if _, ok, err := bb.NextDue(ctx); ok || err != nil {
		t.Fatalf("next due under a live claim: %v %v", ok, err)
	}

	clock.Advance(61 * time.Second) // a stopped renewing
	second, ids := claimIDs(t, bb, "b", 10)
	if fmt.Sprint(ids) != fmt.Sprint([]int64{id}) {
		t.Fatalf("b claimed %v after a's claim ran out, want [%d]", ids, id)
	}
	if lost, err := a.RenewClaims(ctx, "a", time.Minute, []int64{id}); err != nil || fmt.Sprint(lost) != fmt.Sprint([]int64{id}) {
		t.Fatalf("a renewing a row b took over: lost %v, %v", lost, err)
	}
	att, err := a.Attempts(ctx, id)
	if err != nil || len(att) != 2 || att[0].Result != AttemptInterrupted || !strings.Contains(att[0].Error, "instance a") ||
		att[1].Result != AttemptStarted {
		t.Fatalf("attempts after the take-over: %+v, %v", att, err)
	}

	finish(t, a, first[0], AttemptTemporary) // a's late result
	if m, _ := a.OutboxByID(ctx, id); m.Status != OutboxPending {
		t.Fatalf("a's late result moved the row: %s", m.Status)
	}
	if _, got := claimIDs(t, a, "a", 10); len(got) != 0 {
		t.Fatalf("a claimed %v while b holds the row", got)
	}
	finish(t, bb, second[0], AttemptSent)
	if m, _ := a.OutboxByID(ctx, id); m.Status != OutboxSent {
		t.Fatalf("b's result: %s", m.Status)
	}
	if _, got := claimIDs(t, a, "a", 10); fmt.Sprint(got) != fmt.Sprint([]int64{later}) {
		t.Fatalf("the next mail of the case: %v, want [%d]", got, later)
	}
}

// Start-up recovery closes this instance's open attempts and hands their
// rows back at once, and those of instances whose claims ran out; never
// the attempt of another instance whose claim is live.
func TestMarkInterruptedOnlyOwnAndExpired(t *testing.T) {
	eachBackend(t, testMarkInterruptedOnlyOwnAndExpired)
}

func testMarkInterruptedOnlyOwnAndExpired(t *testing.T, b backend) {
	clock := &movingClock{now: testClock}
	a, bb := twoInstances(t, b, clock)
	ctx := context.Background()
	c := newCase(t, a, "a@x.example")
	r1 := enqueue(t, a, c.ID, "a@x.example", "1@h")
	r2 := enqueue(t, a, c.ID, "b@x.example", "2@h")
	if _, ids := claimIDs(t, a, "a", 1); fmt.Sprint(ids) != fmt.Sprint([]int64{r1}) {
		t.Fatalf("a claimed %v", ids)
	}
	if _, ids := claimIDs(t, bb, "b", 10); fmt.Sprint(ids) != fmt.Sprint([]int64{r2}) {
		t.Fatalf("b claimed %v", ids)
	}
	// a restarts under its id while b works.
	if n, err := a.MarkInterrupted(ctx, "a"); err != nil || n != 1 {
		t.Fatalf("a's recovery marked %d, %v; want its own attempt", n, err)
	}
	if got := dueIDs(t, a); fmt.Sprint(got) != fmt.Sprint([]int64{r1}) {
		t.Fatalf("due after a's recovery: %v, want a's row at once", got)
	}
	if att, _ := a.Attempts(ctx, r2); len(att) != 1 || att[0].Result != AttemptStarted {
		t.Fatalf("b's live attempt: %+v", att)
	}
	// A new instance starts once b's claim ran out: b is gone.
	clock.Advance(2 * time.Minute)
	if n, err := a.MarkInterrupted(ctx, "c"); err != nil || n != 1 {
		t.Fatalf("c's recovery marked %d, %v; want b's expired attempt", n, err)
	}
	if att, _ := a.Attempts(ctx, r2); len(att) != 1 || att[0].Result != AttemptInterrupted {
		t.Fatalf("b's expired attempt: %+v", att)
	}
}

// A mailbox is leased by one instance at a time: renewed by its holder,
// refused to the others until it runs out or is released.
func TestMailboxLease(t *testing.T) { eachBackend(t, testMailboxLease) }

func testMailboxLease(t *testing.T, b backend) {
	clock := &movingClock{now: testClock}
	a, bb := twoInstances(t, b, clock)
	ctx := context.Background()
	lease := func(st *Store, instance, want string) MailboxLease {
		t.Helper()
		l, err := st.AcquireMailbox(ctx, "helpdesk", instance, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if l.Owner != want {
			t.Fatalf("%s asked for the mailbox: held by %s, want %s", instance, l.Owner, want)
		}
		return l
	}
	first := lease(a, "a", "a")
	if !first.Until.Equal(testClock.Add(30 * time.Second)) {
		t.Fatalf("lease until %v", first.Until)
	}
	if l := lease(bb, "b", "a"); !l.Until.Equal(first.Until) {
		t.Fatalf("b was told the lease runs until %v, want %v", l.Until, first.Until)
	}
	clock.Advance(20 * time.Second)
	lease(a, "a", "a") // renewed: now until +50 s
	clock.Advance(20 * time.Second)
	lease(bb, "b", "a")
	clock.Advance(31 * time.Second) // a stopped renewing
	lease(bb, "b", "b")
	lease(a, "a", "b")
	if err := a.ReleaseMailbox(ctx, "helpdesk", "a"); err != nil { // not a's to release
		t.Fatal(err)
	}
	lease(a, "a", "b")
	if l, err := a.MailboxLeaseOf(ctx, "helpdesk"); err != nil || l.Owner != "b" {
		t.Fatalf("lease read as %+v, %v; want b's", l, err)
	}
	if err := bb.ReleaseMailbox(ctx, "helpdesk", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.MailboxLeaseOf(ctx, "helpdesk"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("released lease read: %v, want ErrNotFound", err)
	}
	lease(a, "a", "a")
}
