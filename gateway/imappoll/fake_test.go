package imappoll

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/casegate/casegate/gateway/spool"
)

// delivery is one message a fakeDeliverer stored.
type delivery struct {
	raw []byte
	src Source
	key string
}

// fakeDeliverer stands in for the gateway's store. It deduplicates as the
// real one must (SPEC §3 step 1: by Message-ID, without one by SHA-256 of
// the raw bytes), counts calls, and fails on demand in the manner of maddy's
// unreliableTarget. With dir set it keeps each stored message in a file, so
// a second process sees what the first one committed.
type fakeDeliverer struct {
	dir string // optional persistence

	mu     sync.Mutex
	seen   map[string]bool
	stored []delivery
	calls  int
	dups   int
	// fail, if set, runs before the commit; a non-nil result is returned
	// and nothing is stored. It may block.
	fail func(ctx context.Context, call int, src Source) error
	// committed, if set, runs after the commit, before Deliver returns.
	committed func(d delivery)
	notify    chan delivery
}

func newFakeDeliverer(t testing.TB, dir string) *fakeDeliverer {
	f := &fakeDeliverer{dir: dir, seen: make(map[string]bool), notify: make(chan delivery, 10000)}
	if dir == "" {
		return f
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f.seen[dedupKey(raw)] = true
	}
	return f
}

func (f *fakeDeliverer) Deliver(ctx context.Context, mail *spool.Message, src Source) error {
	raw, err := mail.Whole()
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.calls++
	call, fail, committed := f.calls, f.fail, f.committed
	f.mu.Unlock()
	if fail != nil {
		if err := fail(ctx, call, src); err != nil {
			return err
		}
	}
	d := delivery{raw: bytes.Clone(raw), src: src, key: dedupKey(raw)}
	f.mu.Lock()
	if f.seen[d.key] {
		f.dups++
		f.mu.Unlock()
		return nil
	}
	if err := f.persist(d); err != nil {
		f.mu.Unlock()
		return err
	}
	f.seen[d.key] = true
	f.stored = append(f.stored, d)
	f.mu.Unlock()
	f.notify <- d
	if committed != nil {
		committed(d)
	}
	return nil
}

func (f *fakeDeliverer) persist(d delivery) error {
	if f.dir == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(d.key))
	name := filepath.Join(f.dir, hex.EncodeToString(sum[:8])+".eml")
	return writeFileSync(name, d.raw)
}

// dedupKey is the Message-ID, or the SHA-256 of raw without one.
func dedupKey(raw []byte) string {
	if m, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if id := strings.TrimSpace(m.Header.Get("Message-Id")); id != "" {
			return "id:" + id
		}
	}
	sum := sha256.Sum256(raw)
	return "sha:" + hex.EncodeToString(sum[:])
}

// counts returns the calls, the distinct messages stored and the
// duplicates dropped.
func (f *fakeDeliverer) counts() (calls, stored, dups int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, len(f.stored), f.dups
}

func (f *fakeDeliverer) deliveries() []delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]delivery(nil), f.stored...)
}

func (f *fakeDeliverer) setFail(fn func(ctx context.Context, call int, src Source) error) {
	f.mu.Lock()
	f.fail = fn
	f.mu.Unlock()
}

// memState is a State in memory; with file set it is kept in a JSON file.
type memState struct {
	file string

	mu    sync.Mutex
	pos   map[string][2]uint32
	saves int
}

func newMemState(t testing.TB, file string) *memState {
	s := &memState{file: file, pos: make(map[string][2]uint32)}
	if file == "" {
		return s
	}
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return s
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s.pos); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *memState) Load(ctx context.Context, mailbox string) (uint32, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pos[mailbox]
	return p[0], p[1], nil
}

func (s *memState) Save(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pos[mailbox] = [2]uint32{uidValidity, lastUID}
	s.saves++
	if s.file == "" {
		return nil
	}
	b, err := json.Marshal(s.pos)
	if err != nil {
		return err
	}
	tmp := s.file + ".tmp"
	if err := writeFileSync(tmp, b); err != nil {
		return err
	}
	return os.Rename(tmp, s.file)
}

func (s *memState) get(mailbox string) (uidValidity, lastUID uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pos[mailbox]
	return p[0], p[1]
}

func writeFileSync(name string, b []byte) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// testMail returns a small message with a Message-ID unique to tag and i.
func testMail(tag string, i int) []byte {
	return []byte(fmt.Sprintf("From: Customer %[2]d <customer%[2]d@customer.example>\r\n"+
		"To: support@localhost\r\n"+
		"Subject: Printer %[2]d is on fire\r\n"+
		"Message-ID: <%[2]d.%[1]s@customer.example>\r\n"+
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"+
		"\r\n"+
		"Hello, printer %[2]d of %[1]s is on fire again.\r\n", tag, i))
}
