package store

import (
	"context"
	"testing"
	"time"
)

func TestSendWindows(t *testing.T) { eachBackend(t, testSendWindows) }

func testSendWindows(t *testing.T, b backend) {
	now := time.Date(2026, 11, 23, 10, 5, 0, 0, time.UTC)
	s := b.openAt(t, b.newDB(t), Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	var err error
	w := 10 * time.Minute
	cur := now.Truncate(w)
	err = s.Write(ctx, func(tx *Tx) error {
		for _, c := range []struct {
			domain string
			start  time.Time
		}{{"old.example", cur.Add(-w)}, {"a.example", cur}, {"a.example", cur}, {"a.example", cur.Add(w)}, {"b.example", cur}} {
			known, err := tx.WindowCounts(ctx, c.domain, cur)
			if err != nil {
				return err
			}
			inCurrent := len(known) > 0 && known[0].Start.Equal(cur)
			if err := tx.CountInWindow(ctx, c.domain, c.start, cur, inCurrent); err != nil {
				return err
			}
		}
		got, err := tx.WindowCounts(ctx, "a.example", cur)
		if err != nil {
			return err
		}
		if len(got) != 2 || got[0].N != 2 || !got[0].Start.Equal(cur) || got[1].N != 1 || !got[1].Start.Equal(cur.Add(w)) {
			t.Errorf("a.example windows %+v", got)
		}
		old, err := tx.WindowCounts(ctx, "old.example", time.Time{})
		if err != nil || len(old) != 0 {
			t.Errorf("old.example windows %+v, %v: a window before the current one is kept", old, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	held, err := s.HeldDomains(ctx, cur, w, 10)
	if err != nil || len(held) != 1 || held[0].Domain != "a.example" || held[0].Held != 1 || !held[0].Until.Equal(cur.Add(2*w)) {
		t.Fatalf("held %+v, %v", held, err)
	}
	// The first mail of a domain in a later window forgets the windows
	// before it.
	next := cur.Add(w)
	err = s.Write(ctx, func(tx *Tx) error {
		if err := tx.CountInWindow(ctx, "c.example", next, next, false); err != nil {
			return err
		}
		for _, d := range []string{"old.example", "b.example"} {
			if got, err := tx.WindowCounts(ctx, d, time.Time{}); err != nil || len(got) != 0 {
				t.Errorf("%s windows after the prune: %+v, %v", d, got, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A bounce that does not count is recorded and changes no address.
func TestRecordBounceCounts(t *testing.T) { eachBackend(t, testRecordBounceCounts) }

func testRecordBounceCounts(t *testing.T, b backend) {
	s := b.open(t)
	ctx := context.Background()
	record := func(b Bounce) (AddressStatus, bool) {
		t.Helper()
		var st AddressStatus
		var und bool
		if err := s.Write(ctx, func(tx *Tx) error {
			var err error
			st, und, err = tx.RecordBounce(ctx, b, 2)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return st, und
	}
	record(Bounce{Recipient: "carol@customer.example", Status: "5.1.1", Permanent: true, Via: "message_id"})
	if a, _ := s.AddressStatus(ctx, "carol@customer.example"); a.HardBounces != 0 {
		t.Fatalf("a bounce that does not count counted: %+v", a)
	}
	record(Bounce{Recipient: "carol@customer.example", Status: "5.1.1", Permanent: true, Via: "verp", Counts: true})
	if _, und := record(Bounce{Recipient: "carol@customer.example", Status: "5.1.1", Permanent: true, Via: "verp", Counts: true}); !und {
		t.Fatal("two counted hard bounces with limit 2: not undeliverable")
	}
}
