package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// What a write transaction's memo answers (the new case, its watchers,
// its References, the case's updated_at) is what reading the database
// gives, on both backends, including after watchers are removed, a
// Message-ID is known twice, and the thread outgrows the References.
func TestTxMemo(t *testing.T) { eachBackend(t, testTxMemo) }

func testTxMemo(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	linked := newCase(t, st, "old@customer.example")
	const max = 4
	var c Case
	var refs [][]string
	var ws []Watcher
	err := st.Write(ctx, func(tx *Tx) error {
		p, err := tx.UpsertContact(ctx, "carol@customer.example", "Carol", "ACME")
		if err != nil {
			return err
		}
		c, err = tx.CreateCase(ctx, NewCase{Prefix: "CS", Kind: "case", ContactID: p.ID, Contact: p, Account: p.Account,
			Subject: "VPN \xff down", Description: "d", LinkedTo: linked.ID, LinkedNumber: linked.Number})
		if err != nil {
			return err
		}
		for _, w := range []string{"dave@customer.example", "erin@customer.example", "DAVE@customer.example", "frank@customer.example"} {
			if _, err := tx.AddWatcher(ctx, c.ID, w, "W", p.Email); err != nil {
				return err
			}
		}
		if _, err := tx.RemoveWatcher(ctx, c.ID, "ERIN@customer.example"); err != nil {
			return err
		}
		if ws, err = tx.Watchers(ctx, c.ID); err != nil {
			return err
		}
		for i := range 7 {
			id := fmt.Sprintf("m%d@customer.example", i)
			if err := tx.AddThreadID(ctx, id, c.ID, "in"); err != nil {
				return err
			}
			if i == 3 { // known already: adds nothing
				if err := tx.AddThreadID(ctx, "m0@customer.example", c.ID, "in"); err != nil {
					return err
				}
			}
			r, err := tx.ThreadRefs(ctx, c.ID, max)
			if err != nil {
				return err
			}
			refs = append(refs, r)
		}
		return tx.Touch(ctx, c.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	var read Case
	var readWs []Watcher
	var readRefs []string
	err = st.Write(ctx, func(tx *Tx) error {
		var err error
		if read, err = tx.CaseByID(ctx, c.ID); err != nil {
			return err
		}
		if readWs, err = tx.Watchers(ctx, c.ID); err != nil {
			return err
		}
		readRefs, err = tx.ThreadRefs(ctx, c.ID, max)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, read) {
		t.Errorf("CreateCase returned\n%+v\nthe database has\n%+v", c, read)
	}
	if !reflect.DeepEqual(ws, readWs) || len(ws) != 2 {
		t.Errorf("watchers in the transaction %+v, in the database %+v", ws, readWs)
	}
	want := []string{"m0@customer.example", "m4@customer.example", "m5@customer.example", "m6@customer.example"}
	if got := refs[len(refs)-1]; !reflect.DeepEqual(got, want) || !reflect.DeepEqual(readRefs, want) {
		t.Errorf("References in the transaction %v, in the database %v, want %v", got, readRefs, want)
	}
	if got := refs[2]; !reflect.DeepEqual(got, []string{"m0@customer.example", "m1@customer.example", "m2@customer.example"}) {
		t.Errorf("References after three ids %v", got)
	}
	if !read.UpdatedAt.Equal(testClock.Truncate(time.Millisecond)) {
		t.Errorf("updated_at %v", read.UpdatedAt)
	}
}
