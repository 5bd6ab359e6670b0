package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
)

// dirSyncs counts the syncs of a Maildir's new/ and how many mails it
// held at each; err, when set, makes them fail.
type dirSyncs struct {
	mu   sync.Mutex
	seen []int
	err  error
}

func (d *dirSyncs) sync(dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	d.seen = append(d.seen, len(entries))
	return nil
}

func (d *dirSyncs) counts() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]int(nil), d.seen...)
}

func newMaildir(t *testing.T) (*outbound.MaildirSender, string, *dirSyncs) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "maildir")
	s, err := outbound.NewMaildirSender(dir, "support.test")
	if err != nil {
		t.Fatal(err)
	}
	syncs := &dirSyncs{}
	outbound.SetSyncDir(s, syncs.sync)
	return s, dir, syncs
}

// Maildir delivery syncs new/ once per batch, not once per mail: one
// batch of 16 mails over 2 workers is at most 2 syncs, and a mail is
// reported sent only after a sync that saw it.
func TestMaildirSyncsOncePerBatch(t *testing.T) {
	e := newEnv(t)
	s, dir, syncs := newMaildir(t)
	for i := range 15 {
		e.queue(t, fmt.Sprintf("r%d@customer.example", i), 1)
	}
	p := e.pool(t, outbound.Config{Concurrency: 2, Batch: 16}, s, nil)
	if n, err := p.SendDue(context.Background()); err != nil || n != 16 {
		t.Fatalf("send due: %d, %v", n, err)
	}
	files, _ := os.ReadDir(filepath.Join(dir, "new"))
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(files) != 16 || len(tmp) != 0 {
		t.Fatalf("new/ has %d files, tmp/ %d; want 16 and none", len(files), len(tmp))
	}
	got := syncs.counts()
	if len(got) == 0 || len(got) > 2 || got[len(got)-1] != 16 {
		t.Fatalf("syncs of new/ saw %v mails; want at most 2 syncs, the last seeing all 16", got)
	}
	c, _ := e.st.CountOutbox(context.Background())
	if c[store.OutboxSent] != 16 {
		t.Fatalf("outbox %v, want 16 sent", c)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "new", files[0].Name()))
	msg, err := mail.ReadMessage(strings.NewReader(string(b)))
	if err != nil || !strings.HasPrefix(msg.Header.Get("Return-Path"), "<bounces+") || msg.Header.Get("Delivered-To") == "" {
		t.Fatalf("a delivered file is not a mail with its envelope: %v\n%s", err, b)
	}
}

// Through Run, every mail is delivered and synced before it counts as
// sent, with fewer syncs than mails.
func TestMaildirRun(t *testing.T) {
	e := newEnv(t)
	s, dir, syncs := newMaildir(t)
	for i := range 39 {
		e.queue(t, fmt.Sprintf("r%d@customer.example", i), 1)
	}
	start(t, e.pool(t, outbound.Config{Concurrency: 2}, s, nil))
	e.waitSent(t, 40)
	files, _ := os.ReadDir(filepath.Join(dir, "new"))
	got := syncs.counts()
	if len(files) != 40 || len(got) == 0 || got[len(got)-1] != 40 {
		t.Fatalf("%d files in new/, syncs saw %v; want 40 files, the last sync seeing them all", len(files), got)
	}
	if len(got) >= 40 {
		t.Errorf("%d syncs for 40 mails: not batched", len(got))
	}
}

// A failed sync of new/ makes every mail of its batch a temporary failure:
// none counts as delivered.
func TestMaildirFailedSyncIsTemporary(t *testing.T) {
	e := newEnv(t)
	s, _, syncs := newMaildir(t)
	syncs.err = errors.New("injected: input/output error")
	ids := e.queue(t, "r@customer.example", 1)
	ids = append(ids, e.queue(t, "s@customer.example", 1)...)
	p := e.pool(t, outbound.Config{Concurrency: 1}, s, nil)
	if n, err := p.SendDue(context.Background()); err != nil || n != 3 {
		t.Fatalf("send due: %d, %v", n, err)
	}
	for _, id := range ids {
		if m := e.outbox(t, id); m.Status != store.OutboxPending || !strings.Contains(m.LastError, "input/output error") {
			t.Fatalf("after a failed sync: %s, %q; want pending", m.Status, m.LastError)
		}
	}
}
