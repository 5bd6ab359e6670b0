package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/casegate/casegate/gateway/gatewaytest"
)

// A message up to Above stays in memory, more goes through a file; either
// way the message comes back whole, in a buffer of its size, and the file
// is gone once closed.
func TestSpoolData(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 100, Above, Above + 1, 3 << 20} {
		data := bytes.Repeat([]byte("0123456789abcdef\r\n"), size/18+1)[:size]
		sp, n, err := Read(bytes.NewReader(data), dir)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		_, inMemory := sp.InMemory()
		if inMemory != (size <= Above) || sp.Size() != int64(size) || n != int64(size) {
			t.Errorf("%d bytes: in memory %v, size %d", size, inMemory, sp.Size())
		}
		got, err := sp.Whole()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %d bytes (%v)", size, len(got), err)
		}
		if size > Above && cap(got) != size {
			t.Errorf("%d bytes read back into a buffer of %d", size, cap(got))
		}
		sec := make([]byte, size)
		if _, err := sp.Section().ReadAt(sec, 0); size > 0 && err != nil || !bytes.Equal(sec, data) {
			t.Errorf("%d bytes: the section reads %v", size, err)
		}
		head, err := sp.Head(100)
		if err != nil || !bytes.Equal(head, data[:min(100, size)]) {
			t.Errorf("%d bytes: head %q (%v)", size, head, err)
		}
		sp.Close()
		if left := gatewaytest.DirEntries(t, dir); len(left) != 0 {
			t.Errorf("%d bytes: %v left in the spool", size, left)
		}
	}
}

// failAfter yields n bytes, then fails as a lost connection does.
type failAfter struct{ n int }

var errLost = errors.New("connection reset")

func (r *failAfter) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errLost
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.n -= n
	return n, nil
}

// A transfer that breaks off leaves nothing behind and says why; a spool
// that cannot be written is a failure of ours (*Error).
func TestSpoolDataFailures(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{10, 2 << 20} {
		if _, _, err := Read(&failAfter{n: n}, dir); !errors.Is(err, errLost) {
			t.Errorf("lost after %d bytes: %v, want the reader's error", n, err)
		}
		if left := gatewaytest.DirEntries(t, dir); len(left) != 0 {
			t.Errorf("lost after %d bytes: %v left in the spool", n, left)
		}
	}
	var se *Error
	blocked := filepath.Join(dir, "blocked")
	if err := os.WriteFile(blocked, []byte("a file where the spool should be"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(strings.NewReader(strings.Repeat("x", Above+1)), blocked); !errors.As(err, &se) {
		t.Errorf("no spool directory: %v, want a spool error", err)
	}
	if sp, _, err := Read(strings.NewReader(strings.Repeat("x", Above+1)), filepath.Join(dir, "new")); err != nil {
		t.Errorf("a missing spool directory is created: %v", err)
	} else {
		sp.Close()
	}
	if sp, _, err := Read(strings.NewReader("small"), blocked); err != nil || sp.Size() != 5 {
		t.Errorf("a small message needs no spool: %v", err)
	}
}

// Prepare removes what a stopped process left in the spool, and nothing
// else.
func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"casegate-data-1.eml", "casegate-data-2.eml", "keep.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := Prepare(dir); err != nil {
		t.Fatal(err)
	}
	if left := gatewaytest.DirEntries(t, dir); len(left) != 1 || left[0] != "keep.txt" {
		t.Errorf("left %v", left)
	}
	if err := Prepare(filepath.Join(dir, "new", "spool")); err != nil {
		t.Errorf("a missing spool directory is created: %v", err)
	}
}
