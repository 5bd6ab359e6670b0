package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A SQLite database with every kind of row is copied into PostgreSQL
// and reads the same there; numbering continues where SQLite's stopped.
func TestCopySQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	src := backends[0].openAt(t, filepath.Join(t.TempDir(), "src.db"), Options{Now: func() time.Time { return testClock }})
	dstURL := backends[1].newDB(t)
	dst := backends[1].openAt(t, dstURL, Options{Now: func() time.Time { return testClock }})

	c1 := newCase(t, src, "Carol@customer.example")
	gone := newCase(t, src, "gone@x.example")
	c3 := newCase(t, src, "dave@x.example")
	raw := []byte("From: carol\r\nSubject: bin\r\n\r\n\x00\xff\xfe binary")
	var msgID, outID int64
	err := src.Write(ctx, func(tx *Tx) error {
		var err error
		if msgID, err = tx.InsertMessage(ctx, InboundMessage{CaseID: c1.ID, Source: "smtp", MessageID: "m1@x", ContentSHA256: "s1",
			Outcome: OutcomeNewCase, Raw: raw, Subject: "bin\x00", FullText: "text \xff"}); err != nil {
			return err
		}
		if _, err := tx.InsertAttachment(ctx, c1.ID, Attachment{MessageID: msgID, Filename: "a.bin", ContentType: "application/octet-stream",
			Inline: true, Size: 3, SHA256: "x", Content: []byte{0, 1, 2}}); err != nil {
			return err
		}
		if _, err := tx.AddActivity(ctx, c1.ID, Activity{Kind: "inbound", Public: false, Body: "hi", MessageID: msgID}); err != nil {
			return err
		}
		for _, w := range []string{"w2@x.example", "W1@x.example"} {
			if _, err := tx.AddWatcher(ctx, c1.ID, w, "", ""); err != nil {
				return err
			}
		}
		if err := tx.AddThreadID(ctx, "m1@x", c1.ID, "in"); err != nil {
			return err
		}
		if outID, err = tx.Enqueue(ctx, OutboxMail{CaseID: c1.ID, Template: "case_created", Recipient: "carol@customer.example", MessageID: "o1@h"}, time.Hour); err != nil {
			return err
		}
		if _, err := tx.Quarantine(ctx, Quarantined{Source: "pipe", Reason: "unparseable", ContentSHA256: "q", Raw: []byte("\x00garbage")}); err != nil {
			return err
		}
		if _, _, err := tx.RecordBounce(ctx, Bounce{OutboxID: outID, MessageID: msgID, Recipient: "carol@customer.example", Status: "5.1.1", Permanent: true, Counts: true}, 1); err != nil {
			return err
		}
		if err := tx.OpenSurvey(ctx, c3.ID); err != nil {
			return err
		}
		return tx.SetState(ctx, c3.ID, StateResolved)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.StartAttempt(ctx, outID); err != nil {
		t.Fatal(err)
	}
	if err := src.SaveIMAPState(ctx, "box", 7, 9); err != nil {
		t.Fatal(err)
	}
	key, err := src.Secret(ctx, "links")
	if err != nil {
		t.Fatal(err)
	}
	// The last case is deleted: its number must not come back either.
	last := newCase(t, src, "last@x.example")
	if err := src.Exec(ctx, `DELETE FROM cases WHERE id = ?`, last.ID); err != nil {
		t.Fatal(err)
	}

	tables, err := src.CopyTo(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for _, tc := range tables {
		rows[tc.Table] = tc.Rows
	}
	for table, want := range map[string]int64{"cases": 3, "contacts": 4, "messages": 1, "attachments": 1, "outbox": 1,
		"outbox_attempts": 1, "quarantine": 1, "watchers": 2, "thread_ids": 2, "addresses": 1, "bounces": 1,
		"surveys": 1, "settings": 1, "imap_state": 1, "activities": 1} {
		if rows[table] != want {
			t.Errorf("%s: %d rows copied, want %d", table, rows[table], want)
		}
	}

	got, err := dst.CaseByNumber(ctx, c3.Number)
	if err != nil || got.State != StateResolved || got.Resolutions != 1 || got.Contact.Email != "dave@x.example" {
		t.Fatalf("copied case = %+v, %v", got, err)
	}
	if _, err := dst.CaseByNumber(ctx, gone.Number); err != nil {
		t.Fatal(err)
	}
	m, err := dst.Message(ctx, msgID)
	if err != nil || !bytes.Equal(m.Raw, raw) || m.CaseID != c1.ID {
		t.Fatalf("copied message = %+v, %v", m, err)
	}
	if a, err := dst.CaseAttachments(ctx, c1.ID); err != nil || len(a) != 1 || !a[0].Inline {
		t.Fatalf("attachments = %+v, %v", a, err)
	}
	if acts, _ := dst.Activities(ctx, c1.ID); len(acts) != 1 || acts[0].Public {
		t.Fatalf("activities = %+v", acts)
	}
	if ws, _ := dst.Watchers(ctx, c1.ID); len(ws) != 2 || ws[0].Email != "w2@x.example" {
		t.Fatalf("watchers, in the order they were added: %+v", ws)
	}
	if a, _ := dst.AddressStatus(ctx, "CAROL@customer.example"); !a.Undeliverable {
		t.Fatalf("address = %+v", a)
	}
	if at, _ := dst.Attempts(ctx, outID); len(at) != 1 {
		t.Fatalf("attempts = %+v", at)
	}
	if k, err := dst.Secret(ctx, "links"); err != nil || !bytes.Equal(k, key) {
		t.Fatalf("the link key changed: %v", err)
	}
	if v, u, _ := dst.IMAPState(ctx, "box"); v != 7 || u != 9 {
		t.Fatalf("imap state %d %d", v, u)
	}
	next := newCase(t, dst, "new@x.example")
	if next.Number <= last.Number {
		t.Fatalf("new case %s after the copy; %s was already handed out", next.Number, last.Number)
	}
	err = dst.Write(ctx, func(tx *Tx) error {
		_, err := tx.Enqueue(ctx, OutboxMail{CaseID: next.ID, Template: "t", Recipient: "new@x.example", MessageID: "o2@h"}, time.Hour)
		return err
	})
	if err != nil {
		t.Fatalf("a new row after the copy: %v", err)
	}

	if _, err := src.CopyTo(ctx, dst); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("copy into a database with rows: %v, want ErrNotEmpty", err)
	}
}

// The copy's checksum ignores row order and engine types (SQLite's 0/1
// and PostgreSQL's booleans, cleaned text), and sees every changed value.
func TestRowSum(t *testing.T) {
	sum := func(rows ...[]any) string {
		var r rowSum
		for _, row := range rows {
			r.add(row)
		}
		return r.String()
	}
	a, b := []any{int64(1), "x\x00y", []byte{0}, nil}, []any{int64(2), "z", []byte{}, int64(1)}
	if sum(a, b) != sum(b, a) {
		t.Error("order changes the sum")
	}
	if sum([]any{int64(1), "xy", []byte{0}, nil}, []any{int64(2), "z", []byte{}, true}) != sum(a, b) {
		t.Error("cleaned text or a boolean changes the sum")
	}
	for _, other := range [][]any{
		{int64(3), "z", []byte{}, int64(1)}, {int64(2), "Z", []byte{}, int64(1)},
		{int64(2), "z", []byte{1}, int64(1)}, {int64(2), "z", []byte{}, nil},
	} {
		if sum(a, other) == sum(a, b) {
			t.Errorf("row %v has the sum of %v", other, b)
		}
	}
	if sum(a) == sum(a, a) {
		t.Error("a row twice has the sum of once")
	}
}
