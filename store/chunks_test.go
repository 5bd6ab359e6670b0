package store

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// storedForm is how a message's parts sit in the database.
type storedForm struct {
	chunked       int
	visibleInline bool  // messages.visible is not NULL
	rawInline     int64 // bytes in messages.raw
	chunks        int
}

func readStoredForm(t *testing.T, st *Store, id int64) storedForm {
	t.Helper()
	ctx := context.Background()
	var f storedForm
	if err := st.r.QueryRowContext(ctx, `SELECT chunked, visible IS NOT NULL, length(raw) FROM messages WHERE id = ?`, id).
		Scan(&f.chunked, &f.visibleInline, &f.rawInline); err != nil {
		t.Fatal(err)
	}
	if err := st.r.QueryRowContext(ctx, `SELECT count(*) FROM message_chunks WHERE message_id = ?`, id).Scan(&f.chunks); err != nil {
		t.Fatal(err)
	}
	return f
}

// Each text of a message is stored once: the visible reply only when it
// differs from the full text, an inbound entry of the thread without a
// copy, and a part over chunkSize in pieces; every reader gets the same
// texts and bytes back.
func TestMessageTextsStoredOnce(t *testing.T) { eachBackend(t, testMessageTextsStoredOnce) }

func testMessageTextsStoredOnce(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "a@x.example")
	// Multi-byte characters fall across the pieces' boundaries.
	big := strings.Repeat("Zeile mit Umlauten äöü, € und 日本語.\n", 80_000)
	bigRaw := append([]byte("Subject: big\r\n\r\n\x00\xff"), big...)
	pieces := func(n int) int { return (n + chunkSize - 1) / chunkSize }
	for _, tc := range []struct {
		name          string
		raw           []byte
		text, visible string
		want          storedForm
		fromReader    bool // the raw bytes are read from a file (RawFrom), not given
	}{
		{"small, visible is the text", []byte("raw 1"), "Hello.", "Hello.", storedForm{rawInline: 5}, false},
		{"small, visible differs", []byte("raw 2\x00\xff"), "Hello.\n> quoted", "Hello.",
			storedForm{visibleInline: true, rawInline: 7}, false},
		{"large, visible is the text", bigRaw, big, big,
			storedForm{chunked: chunkedRaw | chunkedText, chunks: pieces(len(bigRaw)) + pieces(len(big))}, false},
		{"large, visible differs", append(bigRaw, '!'), big + "-- \nJane", big,
			storedForm{chunked: chunkedRaw | chunkedText | chunkedVisible,
				chunks: pieces(len(bigRaw)+1) + pieces(len(big)+9) + pieces(len(big))}, false},
		{"large text, small visible", []byte("raw 5"), big, "Short.",
			storedForm{chunked: chunkedText, visibleInline: true, rawInline: 5, chunks: pieces(len(big))}, false},
		{"large, raw from a reader", append(bigRaw, "from a file"...), "Hello.", "Hello.",
			storedForm{chunked: chunkedRaw, chunks: pieces(len(bigRaw) + 11)}, true},
		{"small, raw from a reader", []byte("raw 7 from a file"), "Hello.", "Hello.",
			storedForm{rawInline: 17}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var id int64
			err := st.Write(ctx, func(tx *Tx) error {
				var err error
				m := InboundMessage{CaseID: c.ID, Source: "smtp", ContentSHA256: tc.name,
					Outcome: OutcomeReply, Raw: tc.raw, FullText: tc.text, Visible: tc.visible}
				if tc.fromReader {
					m.Raw, m.RawFrom = nil, io.NewSectionReader(bytes.NewReader(tc.raw), 0, int64(len(tc.raw)))
				}
				id, err = tx.InsertMessage(ctx, m)
				if err != nil {
					return err
				}
				_, err = tx.AddActivity(ctx, c.ID, Activity{Kind: "inbound", Public: true, MessageID: id})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := readStoredForm(t, st, id); got != tc.want {
				t.Errorf("stored as %+v, want %+v", got, tc.want)
			}
			m, err := st.Message(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Raw, tc.raw) || m.FullText != tc.text || m.Visible != tc.visible {
				t.Errorf("Message: raw %d bytes (equal %v), text %d bytes (equal %v), visible %d bytes (equal %v)",
					len(m.Raw), bytes.Equal(m.Raw, tc.raw), len(m.FullText), m.FullText == tc.text,
					len(m.Visible), m.Visible == tc.visible)
			}
			msgs, err := st.CaseMessages(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			last := msgs[len(msgs)-1]
			if last.ID != id || last.FullText != tc.text || last.Visible != tc.visible {
				t.Errorf("CaseMessages: message %d, texts equal %v %v", last.ID, last.FullText == tc.text, last.Visible == tc.visible)
			}
			acts, err := st.Activities(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a := acts[len(acts)-1]; a.MessageID != id || a.Body != tc.visible {
				t.Errorf("the inbound entry of message %d reads %d bytes, want its visible reply (%d bytes)",
					a.MessageID, len(a.Body), len(tc.visible))
			}
			var body string
			if err := st.r.QueryRowContext(ctx, `SELECT body FROM activities WHERE message_id = ?`, id).Scan(&body); err != nil || body != "" {
				t.Errorf("the inbound entry keeps %d bytes of its own (%v), want none", len(body), err)
			}
		})
	}
}

// A message's pieces go when it goes.
func TestMessageChunksGoWithTheirMessage(t *testing.T) { eachBackend(t, testMessageChunksGo) }

func testMessageChunksGo(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	big := strings.Repeat("x", chunkSize+1)
	var id int64
	err := st.Write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.InsertMessage(ctx, InboundMessage{Source: "smtp", ContentSHA256: "big",
			Outcome: OutcomeIgnored, Raw: []byte(big), FullText: big, Visible: big})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if f := readStoredForm(t, st, id); f.chunks != 4 {
		t.Fatalf("stored as %+v, want 4 pieces", f)
	}
	if err := st.Exec(ctx, `DELETE FROM messages WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := st.r.QueryRowContext(ctx, `SELECT count(*) FROM message_chunks WHERE message_id = ?`, id).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d pieces of a deleted message are left (%v)", left, err)
	}
}

// 0015_single_copy turns the copies an older database keeps into the
// single form: a visible reply equal to the full text becomes NULL, an
// inbound entry's body goes, and everything reads as before.
func TestMigrationKeepsTextsOnce(t *testing.T) { eachBackend(t, testMigrationKeepsTextsOnce) }

func testMigrationKeepsTextsOnce(t *testing.T, b backend) {
	ctx := context.Background()
	loc := b.newDB(t)
	now := func() time.Time { return testClock }
	old := b.openAt(t, loc, Options{Now: now, migrateBefore: "0015"})
	c := newCase(t, old, "a@x.example")
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO messages (id, case_id, source, content_sha256, outcome, raw, full_text, visible, received_at)
			VALUES (1, ?, 'smtp', 'one', 'new_case', ?, 'Same text.', 'Same text.', 0)`, []any{c.ID, []byte("raw")}},
		{`INSERT INTO messages (id, case_id, source, content_sha256, outcome, raw, full_text, visible, received_at)
			VALUES (2, ?, 'smtp', 'two', 'reply', ?, ?, 'Answer.', 0)`, []any{c.ID, []byte("raw"), "Answer.\n> quote"}},
		{`INSERT INTO activities (case_id, kind, actor, public, body, message_id, created_at) VALUES
			(?1, 'inbound', 'a@x.example', ?2, 'Same text.', 1, 0),
			(?1, 'inbound', 'a@x.example', ?2, 'Answer.', 2, 0),
			(?1, 'comment', 'agent@x.example', ?2, 'A comment.', NULL, 0)`, []any{c.ID, true}},
	} {
		if err := old.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	st := b.openAt(t, loc, Options{Now: now})
	if f := readStoredForm(t, st, 1); f.visibleInline {
		t.Error("a visible reply equal to the full text is still kept")
	}
	if f := readStoredForm(t, st, 2); !f.visibleInline {
		t.Error("a visible reply that differs from the full text is gone")
	}
	var bodies int
	if err := st.r.QueryRowContext(ctx, `SELECT count(*) FROM activities WHERE kind = 'inbound' AND body <> ''`).Scan(&bodies); err != nil || bodies != 0 {
		t.Errorf("%d inbound entries keep a copy of their text (%v)", bodies, err)
	}
	acts, err := st.Activities(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		got = append(got, a.Body)
	}
	if want := []string{"Same text.", "Answer.", "A comment."}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("thread after the migration %q, want %q", got, want)
	}
	m, err := st.Message(ctx, 2)
	if err != nil || m.Visible != "Answer." || m.FullText != "Answer.\n> quote" {
		t.Errorf("message 2 after the migration: %q %q %v", m.FullText, m.Visible, err)
	}
}

// Retention and erasure reach the pieces: an erased mail loses all of
// them, the address is replaced in the pieces of other people's mail
// (where it straddles two pieces too), and a purge drops the raw bytes'
// pieces, counts them and keeps the text.
func TestPurgeAndErasureReachThePieces(t *testing.T) { eachBackend(t, testPurgeAndErasure) }

func testPurgeAndErasure(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	const alice = "alice@customer.example"
	c := newCase(t, st, alice)
	pad := strings.Repeat("x", chunkSize-10)
	own := pad + " from " + alice + " " + pad
	other := pad + " cc " + alice + " and more " + pad // the address straddles the first boundary
	var ownID, otherID int64
	err := st.Write(ctx, func(tx *Tx) error {
		var err error
		if ownID, err = tx.InsertMessage(ctx, InboundMessage{CaseID: c.ID, Source: "smtp", ContentSHA256: "own", From: alice,
			Outcome: OutcomeNewCase, Raw: []byte(own), FullText: own, Visible: own}); err != nil {
			return err
		}
		if otherID, err = tx.InsertMessage(ctx, InboundMessage{CaseID: c.ID, Source: "smtp", ContentSHA256: "other",
			From: "bob@customer.example", Outcome: OutcomeReply, Raw: []byte(other), FullText: other, Visible: other}); err != nil {
			return err
		}
		return tx.SetState(ctx, c.ID, StateClosed)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Write(ctx, func(tx *Tx) error {
		_, err := tx.Forget(ctx, Erasure{Email: alice, Tombstone: "erased-1@invalid",
			Hash: func(kind, v string) string { return kind + ":" + v }, Note: "erased"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if f := readStoredForm(t, st, ownID); f.chunks != 0 || f.chunked != 0 {
		t.Errorf("the erased mail keeps %d pieces (chunked %d)", f.chunks, f.chunked)
	}
	m, err := st.Message(ctx, otherID)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"raw": string(m.Raw), "text": m.FullText, "visible": m.Visible} {
		if strings.Contains(v, alice) || !strings.Contains(v, " cc erased-1@invalid and more ") {
			t.Errorf("the address is not replaced in the %s of another person's mail", name)
		}
	}

	var stats PurgeStats
	err = st.Write(ctx, func(tx *Tx) error {
		var err error
		stats, err = tx.PurgeCaseMail(ctx, c.ID, testClock)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Messages != 1 || stats.Bytes != int64(len(m.Raw)) {
		t.Errorf("purge counted %+v, want 1 message of %d bytes", stats, len(m.Raw))
	}
	f := readStoredForm(t, st, otherID)
	if want := (len(m.FullText) + chunkSize - 1) / chunkSize; f.chunked != chunkedText || f.chunks != want {
		t.Errorf("after the purge stored as %+v, want only the text's %d pieces", f, want)
	}
	after, err := st.Message(ctx, otherID)
	if err != nil || len(after.Raw) != 0 || after.FullText != m.FullText {
		t.Errorf("after the purge: %d raw bytes, text kept %v (%v)", len(after.Raw), after.FullText == m.FullText, err)
	}
}

// funcWriter is an io.Writer made of a function.
type funcWriter func([]byte) (int, error)

func (f funcWriter) Write(p []byte) (int, error) { return f(p) }

// A download streamed to a slow client holds no read snapshot while it
// waits on the client: writes go on and the WAL can still be checkpointed
// to its end and truncated.
func TestPiecesHoldNoSnapshotWhileWriting(t *testing.T) {
	st := openBatchTest(t, Options{})
	ctx := context.Background()
	c := newCase(t, st, "carol@customer.example")
	content := bytes.Repeat([]byte("0123456789"), chunkSize*3/10)
	var id int64
	err := st.Write(ctx, func(tx *Tx) error {
		msgID, err := insertTestMessage(ctx, tx, c.ID, "m@x", "sha")
		if err != nil {
			return err
		}
		id, err = tx.InsertAttachment(ctx, c.ID, Attachment{MessageID: msgID, Filename: "big.bin", Size: int64(len(content)), Content: content})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	checked := false
	w := funcWriter(func(p []byte) (int, error) {
		if !checked {
			// The client is slow: meanwhile a mail is stored and the
			// WAL checkpointed.
			checked = true
			if err := st.Write(ctx, insertScratch(ctx, "meanwhile")); err != nil {
				t.Fatal(err)
			}
			var busy, log, done int
			if err := st.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &done); err != nil {
				t.Fatal(err)
			}
			if busy != 0 {
				t.Errorf("the WAL could not be checkpointed while a download waited on its client (busy %d, %d of %d frames)", busy, done, log)
			}
		}
		return got.Write(p)
	})
	if err := st.WriteAttachmentContent(ctx, id, w); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), content) || !checked {
		t.Fatalf("downloaded %d of %d bytes", got.Len(), len(content))
	}
}
