package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRebind(t *testing.T) {
	check := func(in, want string) {
		t.Helper()
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
	check(`SELECT 1`, `SELECT 1`)
	check(`a = ? AND b = ?`, `a = $1 AND b = $2`)
	check(`x = ?2 OR y = ?1`, `x = $2 OR y = $1`)
	check(`a = '?' AND b = ?`, `a = '?' AND b = $1`)
	check(`a LIKE ? ESCAPE '\' OR b LIKE ? ESCAPE '\'`, `a LIKE $1 ESCAPE '\' OR b LIKE $2 ESCAPE '\'`)
	check("-- what? nothing\na = ?", "-- what? nothing\na = $1")
	check(`"odd?name" = ?`, `"odd?name" = $1`)
	check(`'unterminated ?`, `'unterminated ?`)
}

func insertTestMessage(ctx context.Context, tx *Tx, caseID int64, messageID, sha string) (int64, error) {
	return tx.InsertMessage(ctx, InboundMessage{CaseID: caseID, Source: "smtp", MessageID: messageID,
		ContentSHA256: sha, Outcome: OutcomeNewCase, Raw: []byte("raw " + sha)})
}

// The duplicate keys are unique in the database: an insert that lost the
// race against another transaction gets ErrDuplicate.
func TestDuplicateKeys(t *testing.T) { eachBackend(t, testDuplicateKeys) }

func testDuplicateKeys(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "a@x.example")
	write := func(messageID, sha string) error {
		return st.Write(ctx, func(tx *Tx) error {
			_, err := insertTestMessage(ctx, tx, c.ID, messageID, sha)
			return err
		})
	}
	if err := write("m1@x", "sha1"); err != nil {
		t.Fatal(err)
	}
	if err := write("m2@x", "sha1"); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("same content: %v, want ErrDuplicate", err)
	}
	if err := write("", "sha2"); err != nil {
		t.Fatalf("no Message-ID: %v", err)
	}
	if err := write("", "sha3"); err != nil {
		t.Fatalf("a second message without Message-ID: %v", err)
	}
	// SQLite's single writer checks Message-IDs before inserting; on
	// PostgreSQL the key itself is unique.
	if err := write("m1@x", "sha4"); b.name == BackendPostgres && !errors.Is(err, ErrDuplicate) {
		t.Fatalf("same Message-ID: %v, want ErrDuplicate", err)
	}
	err := st.Write(ctx, func(tx *Tx) error {
		_, err := tx.FindDuplicate(ctx, "m1@x", "other")
		return err
	})
	if err != nil {
		t.Fatalf("FindDuplicate by Message-ID: %v", err)
	}
}

// The same mail taken in by many writers at once is stored once: each
// writer checks, then inserts; the losers hear ErrDuplicate or find the
// winner's row.
func TestConcurrentDuplicateIsStoredOnce(t *testing.T) { eachBackend(t, testConcurrentDuplicate) }

func testConcurrentDuplicate(t *testing.T, b backend) {
	loc := b.newDB(t)
	ctx := context.Background()
	stores := []*Store{b.openAt(t, loc, Options{}), b.openAt(t, loc, Options{})}
	const writers = 8
	stored, found, dup := 0, 0, 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := stores[i%2]
			var was bool
			err := st.Write(ctx, func(tx *Tx) error {
				if _, err := tx.FindDuplicate(ctx, "same@x", "same-sha"); err == nil {
					was = true
					return nil
				}
				_, err := insertTestMessage(ctx, tx, 0, "same@x", "same-sha")
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrDuplicate):
				dup++
			case err != nil:
				t.Errorf("writer %d: %v", i, err)
			case was:
				found++
			default:
				stored++
			}
		}()
	}
	wg.Wait()
	if stored != 1 || found+dup != writers-1 {
		t.Fatalf("stored %d, found %d, duplicate errors %d", stored, found, dup)
	}
	if n, err := stores[0].CountMessages(ctx, ""); err != nil || n != 1 {
		t.Fatalf("%d messages stored, %v", n, err)
	}
}

// Addresses compare case-insensitively on both backends.
func TestAddressesIgnoreCase(t *testing.T) { eachBackend(t, testAddressesIgnoreCase) }

func testAddressesIgnoreCase(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "Carol@Customer.Example")
	err := st.Write(ctx, func(tx *Tx) error {
		p, err := tx.UpsertContact(ctx, "carol@customer.example", "Carol", "Customer Inc")
		if err != nil {
			return err
		}
		if p.ID != c.Contact.ID || p.Name != "Carol" || p.Email != "Carol@Customer.Example" {
			t.Errorf("contact = %+v, want the first one (id %d) with the name filled in", p, c.Contact.ID)
		}
		if added, err := tx.AddWatcher(ctx, c.ID, "Dave@X.example", "", ""); err != nil || !added {
			return fmt.Errorf("first watcher: %v %v", added, err)
		}
		if added, err := tx.AddWatcher(ctx, c.ID, "dave@x.EXAMPLE", "", ""); err != nil || added {
			return fmt.Errorf("same watcher again: %v %v", added, err)
		}
		if _, err := tx.Enqueue(ctx, OutboxMail{CaseID: c.ID, Template: "t", Recipient: "DAVE@x.example", MessageID: "q1@h"}, time.Hour); err != nil {
			return err
		}
		for _, b := range []struct {
			budget Budget
			want   string
		}{
			{Budget{Recipient: "dave@X.example", CaseID: c.ID, PerRecipient: 2, PerCase: 2}, LimitNone},
			{Budget{Recipient: "dave@X.example", CaseID: c.ID, PerRecipient: 1, PerCase: 2}, LimitRecipient},
			{Budget{Recipient: "erin@X.example", CaseID: c.ID, PerRecipient: 1, PerCase: 1}, LimitCase},
			{Budget{Recipient: "erin@X.example", PerRecipient: 1, PerCase: 1}, LimitNone},
			{Budget{Recipient: "erin@X.example", Source: "ip:192.0.2.1", PerRecipient: 1, PerSource: 1}, LimitNone},
		} {
			b.budget.Since = testClock.Add(-time.Hour)
			if got, err := tx.SendAllowance(ctx, b.budget); err != nil || got != b.want {
				return fmt.Errorf("send allowance %+v: %q %v, want %q", b.budget, got, err, b.want)
			}
		}
		_, _, err = tx.RecordBounce(ctx, Bounce{Recipient: "CAROL@customer.example", Status: "5.1.1", Permanent: true, Counts: true}, 1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := st.AddressStatus(ctx, "carol@CUSTOMER.example"); err != nil || !a.Undeliverable || a.HardBounces != 1 {
		t.Fatalf("address status = %+v, %v", a, err)
	}
	got, err := st.ListCases(ctx, CaseFilter{Contact: "CAROL@customer.example"})
	if err != nil || len(got) != 1 || !got[0].Contact.Undeliverable {
		t.Fatalf("cases of the contact = %+v, %v", got, err)
	}
	if only, err := st.ListAddresses(ctx, true); err != nil || len(only) != 1 {
		t.Fatalf("undeliverable addresses = %+v, %v", only, err)
	}
	if err := st.ClearAddress(ctx, "Carol@customer.example", "op"); err != nil {
		t.Fatal(err)
	}
	if only, _ := st.ListAddresses(ctx, true); len(only) != 0 {
		t.Fatalf("still undeliverable after clear: %+v", only)
	}
	if all, _ := st.ListAddresses(ctx, false); len(all) != 1 {
		t.Fatalf("addresses = %+v", all)
	}
}

// Text that PostgreSQL's text type refuses (NUL, invalid UTF-8) is still
// stored, and the raw bytes come back exactly.
func TestOddBytesInText(t *testing.T) { eachBackend(t, testOddBytes) }

func testOddBytes(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	raw := []byte("Subject: caf\xe9\x00\r\n\r\nbody \x00\xff\xfe")
	var id int64
	err := st.Write(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.InsertMessage(ctx, InboundMessage{Source: "smtp", ContentSHA256: "odd", Outcome: OutcomeIgnored,
			Raw: raw, Subject: "caf\xe9\x00", FullText: "body \x00\xff\xfe", From: "a\x00@x"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Message(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Raw, raw) {
		t.Fatalf("raw = %q, want %q", m.Raw, raw)
	}
	if m.Subject == "" || m.FullText == "" {
		t.Fatalf("text lost: %+v", m)
	}
}

// Instances starting together agree on one secret.
func TestSecretSharedByInstances(t *testing.T) { eachBackend(t, testSecretShared) }

func testSecretShared(t *testing.T, b backend) {
	loc := b.newDB(t)
	ctx := context.Background()
	b.openAt(t, loc, Options{}) // migrated before the race
	const n = 4
	keys := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		st := b.openAt(t, loc, Options{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := st.Secret(ctx, "links")
			if err != nil {
				t.Errorf("secret %d: %v", i, err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for i := range keys {
		if len(keys[i]) != 32 || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("instance %d has key %x, instance 0 %x", i, keys[i], keys[0])
		}
	}
}

func TestSearchCases(t *testing.T) { eachBackend(t, testSearchCases) }

func testSearchCases(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	for i, subject := range []string{"VPN drops", "Printer 100% broken", "vpn slow", "under_score"} {
		c := newCase(t, st, fmt.Sprintf("u%d@x.example", i))
		if err := st.Exec(ctx, `UPDATE cases SET subject = ? WHERE id = ?`, subject, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	check := func(q string, want int) {
		t.Helper()
		got, err := st.SearchCases(ctx, CaseSearch{Query: q})
		if err != nil || len(got) != want {
			t.Errorf("search %q: %d cases, %v; want %d", q, len(got), err, want)
		}
	}
	check("vpn", 2)
	check("VPN", 2)
	check("100%", 1)
	check("%", 1)
	check("_", 1)
	check("cs0000003", 1)
	check("", 4)
	if got, _ := st.SearchCases(ctx, CaseSearch{CaseFilter: CaseFilter{Limit: 2}}); len(got) != 2 || got[0].Number != "CS0000004" {
		t.Errorf("limit 2 = %+v", got)
	}
}

// A failing function leaves nothing; a later function of a batch sees an
// earlier one's work; a panic reaches the caller.
func TestWriteAndBatch(t *testing.T) { eachBackend(t, testWriteAndBatch) }

func testWriteAndBatch(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "a@x.example")
	boom := errors.New("boom")
	errs := st.WriteBatch(ctx, []func(*Tx) error{
		func(tx *Tx) error { _, err := insertTestMessage(ctx, tx, c.ID, "b1@x", "b1"); return err },
		func(tx *Tx) error {
			if _, err := insertTestMessage(ctx, tx, c.ID, "b2@x", "b2"); err != nil {
				return err
			}
			return boom
		},
		func(tx *Tx) error {
			if _, err := tx.FindDuplicate(ctx, "b1@x", ""); err != nil {
				return fmt.Errorf("the first function's message is not visible: %w", err)
			}
			_, err := insertTestMessage(ctx, tx, c.ID, "b3@x", "b3")
			return err
		},
	})
	if errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil {
		t.Fatalf("errs = %v", errs)
	}
	if n, _ := st.CountMessages(ctx, ""); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
	func() {
		defer func() {
			if v := recover(); v != "oops" {
				t.Errorf("recovered %v, want the panic", v)
			}
		}()
		st.Write(ctx, func(tx *Tx) error {
			insertTestMessage(ctx, tx, c.ID, "p@x", "p")
			panic("oops")
		})
	}()
	if n, _ := st.CountMessages(ctx, ""); n != 2 {
		t.Fatalf("%d messages after a panic, want 2", n)
	}
}

func TestQuarantineAndIMAPState(t *testing.T) { eachBackend(t, testQuarantineAndIMAPState) }

func testQuarantineAndIMAPState(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	var ids [2]int64
	for i := range ids {
		err := st.Write(ctx, func(tx *Tx) error {
			var err error
			ids[i], err = tx.Quarantine(ctx, Quarantined{Source: "smtp", Reason: "too_big", ContentSHA256: "q", Raw: []byte("raw\x00")})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if ids[0] != ids[1] {
		t.Fatalf("the same bytes quarantined twice: %v", ids)
	}
	q, err := st.QuarantinedByID(ctx, ids[0])
	if err != nil || q.Size != 4 {
		t.Fatalf("quarantined = %+v, %v", q, err)
	}
	var raw bytes.Buffer
	if err := st.WriteQuarantinedRaw(ctx, ids[0], &raw); err != nil || raw.String() != "raw\x00" {
		t.Fatalf("quarantined bytes %q, %v", raw.String(), err)
	}
	if l, _ := st.ListQuarantine(ctx, 0); len(l) != 1 || l[0].Size != 4 {
		t.Fatalf("list = %+v", l)
	}
	if err := st.MarkReplayed(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.CountQuarantine(ctx); n != 0 {
		t.Fatalf("%d quarantined after replay", n)
	}
	if err := st.SaveIMAPState(ctx, "box", 4000000000, 7); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveIMAPState(ctx, "box", 4000000000, 9); err != nil {
		t.Fatal(err)
	}
	if v, u, err := st.IMAPState(ctx, "box"); err != nil || v != 4000000000 || u != 9 {
		t.Fatalf("imap state = %d %d %v", v, u, err)
	}
	counts, err := st.Backlog(ctx)
	if err != nil || counts.Quarantined != 0 || counts.ActiveCases[StateNew] != 0 {
		t.Fatalf("counts = %+v, %v", counts, err)
	}
}

// Instances started together on a new PostgreSQL database migrate it
// once.
func TestConcurrentMigrations(t *testing.T) {
	b := backends[1]
	loc := b.newDB(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := OpenPostgres(context.Background(), loc, Options{})
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
				return
			}
			stores[i] = st
		}()
	}
	wg.Wait()
	for _, st := range stores {
		if st != nil {
			st.Close()
		}
	}
	st := b.openAt(t, loc, Options{})
	var n, files int
	if err := st.r.QueryRowContext(context.Background(), `SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&n, &files); err != nil {
		t.Fatal(err)
	}
	if n != files || n < 3 {
		t.Fatalf("%d migration rows for %d names", n, files)
	}
}

// A panic in one function of a batch is raised after the others ran.
func TestWriteBatchPanicAfterAll(t *testing.T) { eachBackend(t, testWriteBatchPanic) }

func testWriteBatchPanic(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "a@x.example")
	func() {
		defer func() {
			if v := recover(); v != "first" {
				t.Errorf("recovered %v, want the panic", v)
			}
		}()
		st.WriteBatch(ctx, []func(*Tx) error{
			func(tx *Tx) error { panic("first") },
			func(tx *Tx) error { _, err := insertTestMessage(ctx, tx, c.ID, "after@x", "after"); return err },
		})
	}()
	if n, _ := st.CountMessages(ctx, ""); n != 1 {
		t.Fatalf("%d messages: the function after the panic did not run", n)
	}
}

// A known contact is written only when it gains a name or an account it
// lacked; otherwise the upsert leaves its row as it is and reads it.
func TestUpsertContactWritesOnlyChanges(t *testing.T) { eachBackend(t, testUpsertContactWrites) }

func testUpsertContactWrites(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	// version is what changes whenever the row is written: PostgreSQL's
	// row version (its place, new at every write), SQLite's count of rows changed by the connection.
	version := func(tx *Tx, id int64) string {
		var v string
		q := `SELECT CAST(total_changes() AS TEXT)`
		if b.name == BackendPostgres {
			q = `SELECT ctid::text FROM contacts WHERE id = ?`
		}
		args := []any{}
		if b.name == BackendPostgres {
			args = append(args, id)
		}
		if err := tx.tx.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	err := st.Write(ctx, func(tx *Tx) error {
		first, err := tx.UpsertContact(ctx, "Erin@Customer.Example", "", "")
		if err != nil {
			return err
		}
		before := version(tx, first.ID)
		for _, name := range []string{"", ""} {
			p, err := tx.UpsertContact(ctx, "erin@customer.example", name, "")
			if err != nil {
				return err
			}
			if p.ID != first.ID || p.Email != "Erin@Customer.Example" || p.Name != "" || !p.CreatedAt.Equal(first.CreatedAt) {
				t.Errorf("unchanged contact read back as %+v, want %+v", p, first)
			}
		}
		if v := version(tx, first.ID); v != before {
			t.Errorf("a contact with nothing new was written (version %s, was %s)", v, before)
		}
		p, err := tx.UpsertContact(ctx, "erin@customer.example", "Erin", "Customer Inc")
		if err != nil {
			return err
		}
		if p.ID != first.ID || p.Name != "Erin" || p.Account != "Customer Inc" {
			t.Errorf("contact gaining a name and account = %+v", p)
		}
		if v := version(tx, first.ID); v == before {
			t.Error("the name and account were not written")
		}
		p, err = tx.UpsertContact(ctx, "erin@customer.example", "Someone Else", "Other Ltd")
		if err != nil {
			return err
		}
		if p.Name != "Erin" || p.Account != "Customer Inc" {
			t.Errorf("a later mail changed the contact's name or account: %+v", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A quarantined mail over 1 MiB is kept in pieces, from a file or from
// memory, and read back, listed, erased and redacted as a whole.
func TestQuarantineInPieces(t *testing.T) { eachBackend(t, testQuarantineInPieces) }

func testQuarantineInPieces(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	body := strings.Repeat("0123456789abcdef", (chunkSize*5/2)/16)
	// The address straddles the first two pieces.
	cut := chunkSize - 12
	mail := func(from string) []byte {
		head := "From: " + from + "\r\nSubject: big\r\n\r\n"
		b := []byte(head + body[:cut-len(head)] + "\r\nCc: <dave@customer.example>\r\n" + body[cut:] + "\r\n")
		return b
	}
	keep := func(q Quarantined) int64 {
		var id int64
		err := st.Write(ctx, func(tx *Tx) error {
			var err error
			id, err = tx.Quarantine(ctx, q)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	fromFile := mail("carol@customer.example")
	path := filepath.Join(t.TempDir(), "mail")
	if err := os.WriteFile(path, fromFile, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := keep(Quarantined{Source: "imap", Reason: "too_big", ContentSHA256: "a", RawFrom: io.NewSectionReader(f, 0, int64(len(fromFile)))})
	fromMemory := mail("erin@customer.example")
	bID := keep(Quarantined{Source: "smtp", Reason: "unparseable", ContentSHA256: "b", EnvelopeFrom: "erin@customer.example", Raw: fromMemory})
	read := func(id int64) []byte {
		var buf bytes.Buffer
		if err := st.WriteQuarantinedRaw(ctx, id, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for id, want := range map[int64][]byte{a: fromFile, bID: fromMemory} {
		var pieces, inRow int
		if err := st.r.QueryRowContext(ctx, `SELECT count(*) FROM quarantine_chunks WHERE quarantine_id = ?`, id).Scan(&pieces); err != nil {
			t.Fatal(err)
		}
		if err := st.r.QueryRowContext(ctx, `SELECT length(raw) FROM quarantine WHERE id = ?`, id).Scan(&inRow); err != nil {
			t.Fatal(err)
		}
		if pieces != 3 || inRow != 0 {
			t.Errorf("quarantine %d: %d pieces, %d bytes in the row; want 3 and 0", id, pieces, inRow)
		}
		if got := read(id); !bytes.Equal(got, want) {
			t.Errorf("quarantine %d: read back %d bytes, want the %d stored", id, len(got), len(want))
		}
		if q, err := st.QuarantinedByID(ctx, id); err != nil || q.Size != len(want) {
			t.Errorf("quarantine %d: size %d, %v; want %d", id, q.Size, err, len(want))
		}
	}
	if l, _ := st.ListQuarantine(ctx, 0); len(l) != 2 || l[0].Size != len(fromMemory) || l[1].Size != len(fromFile) {
		t.Errorf("list = %+v", l)
	}
	// Erasing dave (named inside the first mail, across two pieces)
	// redacts that mail in place; erasing erin removes hers, pieces and
	// all.
	for _, email := range []string{"dave@customer.example", "erin@customer.example"} {
		err := st.Write(ctx, func(tx *Tx) error {
			_, err := tx.Forget(ctx, Erasure{Email: email, Tombstone: "erased@invalid", Hash: func(kind, v string) string { return kind + ":" + v }})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := read(a)
	if bytes.Contains(got, []byte("dave@customer.example")) || !bytes.Contains(got, []byte("erased@invalid")) ||
		!bytes.HasPrefix(got, []byte("From: carol@customer.example")) {
		t.Errorf("the redacted mail still names dave, or lost its start (%d bytes)", len(got))
	}
	if _, err := st.QuarantinedByID(ctx, bID); !errors.Is(err, ErrNotFound) {
		t.Errorf("erin's quarantined mail after her erasure: %v", err)
	}
	var left int
	if err := st.r.QueryRowContext(ctx, `SELECT count(*) FROM quarantine_chunks WHERE quarantine_id = ?`, bID).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d pieces of the erased mail left, %v", left, err)
	}
}

// An attachment over 1 MiB is kept in pieces of 1 MiB, whatever the
// pieces its source hands over, read back whole, and its pieces go when
// its case's mail is purged.
func TestAttachmentInPieces(t *testing.T) { eachBackend(t, testAttachmentInPieces) }

func testAttachmentInPieces(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	c := newCase(t, st, "carol@customer.example")
	content := make([]byte, chunkSize*5/2)
	for i := range content {
		content[i] = byte(i % 253)
	}
	var big, small int64
	err := st.Write(ctx, func(tx *Tx) error {
		msgID, err := insertTestMessage(ctx, tx, c.ID, "m@x", "sha")
		if err != nil {
			return err
		}
		big, err = tx.InsertAttachment(ctx, c.ID, Attachment{MessageID: msgID, Filename: "big.bin", ContentType: "application/octet-stream",
			Size: int64(len(content)), SHA256: "h", ContentFrom: func(put func([]byte) error) error {
				for rest := content; len(rest) > 0; {
					n := min(len(rest), 100_000)
					if err := put(rest[:n]); err != nil {
						return err
					}
					rest = rest[n:]
				}
				return nil
			}})
		if err != nil {
			return err
		}
		small, err = tx.InsertAttachment(ctx, c.ID, Attachment{MessageID: msgID, Filename: "small.txt", ContentType: "text/plain",
			Size: 5, SHA256: "s", Content: []byte("hello")})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pieces := func(id int64) []int {
		rows, err := st.r.QueryContext(ctx, `SELECT length(data) FROM attachment_chunks WHERE attachment_id = ? ORDER BY seq`, id)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var sizes []int
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
		return sizes
	}
	if got := fmt.Sprint(pieces(big)); got != fmt.Sprint([]int{chunkSize, chunkSize, chunkSize / 2}) {
		t.Errorf("pieces %s", got)
	}
	if got := pieces(small); len(got) != 0 {
		t.Errorf("a small attachment in pieces: %v", got)
	}
	read := func(id int64) []byte {
		var buf bytes.Buffer
		if err := st.WriteAttachmentContent(ctx, id, &buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if got := read(big); !bytes.Equal(got, content) {
		t.Errorf("read back %d bytes, want the %d stored", len(got), len(content))
	}
	if got := read(small); string(got) != "hello" {
		t.Errorf("small attachment %q", got)
	}
	if a, err := st.AttachmentByID(ctx, big); err != nil || a.Size != int64(len(content)) || a.Filename != "big.bin" {
		t.Errorf("attachment %+v, %v", a, err)
	}
	if err := st.Exec(ctx, `UPDATE cases SET state = 'closed', closed_at = 0 WHERE id = ?`, c.ID); err != nil {
		t.Fatal(err)
	}
	var stats PurgeStats
	err = st.Write(ctx, func(tx *Tx) error {
		var err error
		stats, err = tx.PurgeCaseMail(ctx, c.ID, tx.Now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Attachments != 2 || stats.Bytes < int64(len(content))+5 {
		t.Errorf("purged %+v", stats)
	}
	if got := read(big); len(got) != 0 || len(pieces(big)) != 0 {
		t.Errorf("after the purge: %d bytes, %d pieces", len(got), len(pieces(big)))
	}
}

// AfterCommit functions run once the caller's work is committed, in the
// caller's goroutine, and never for work rolled back.
func TestAfterCommit(t *testing.T) { eachBackend(t, testAfterCommit) }

func testAfterCommit(t *testing.T, b backend) {
	st := b.open(t)
	ctx := context.Background()
	var ran []string
	visible := func(email string) bool {
		var n int
		if err := st.r.QueryRowContext(ctx, `SELECT count(*) FROM contacts WHERE email = ?`, email).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	write := func(email string, fail error) func(*Tx) error {
		return func(tx *Tx) error {
			if _, err := tx.UpsertContact(ctx, email, "", ""); err != nil {
				return err
			}
			tx.AfterCommit(func() {
				if !visible(email) {
					t.Errorf("%s: AfterCommit ran before its work was visible", email)
				}
				ran = append(ran, email)
			})
			return fail
		}
	}
	boom := errors.New("boom")
	if err := st.Write(ctx, write("a@x.example", nil)); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(ctx, write("b@x.example", boom)); !errors.Is(err, boom) {
		t.Fatalf("failing write: %v", err)
	}
	errs := st.WriteBatch(ctx, []func(*Tx) error{write("c@x.example", nil), write("d@x.example", boom), write("e@x.example", nil)})
	if errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil {
		t.Fatalf("batch: %v", errs)
	}
	if got := strings.Join(ran, " "); got != "a@x.example c@x.example e@x.example" {
		t.Errorf("AfterCommit ran for %q, want the committed writes only, in order", got)
	}
}
