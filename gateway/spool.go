package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sync/semaphore"
)

// Reading a message's DATA costs memory in proportion to what is in hand,
// not to what a client could send:
//
//   - The first spoolAbove bytes (256 KiB) are read into memory; a
//     message that is larger is written to a file in the spool directory
//     while it arrives, so a slow or large transfer holds a file, not
//     memory.
//   - Once the whole message is in, it takes its size from the memory
//     budget (memBudget) before it is read back, in one buffer of exactly
//     its size (no doubling growth), for parsing and storing. The budget
//     bounds the bytes of mail being parsed and stored at once; a message
//     waits for room, at most until its ingestion deadline.

// spoolAbove is the size above which DATA goes to a spool file; below
// it, the buffer that grows to hold a message stays small.
const spoolAbove = 256 << 10

// spoolPattern names the spool files.
const spoolPattern = "casegate-data-*.eml"

// PrepareSpool creates the spool directory and removes the files a
// stopped process left in it: their messages were never answered 250, so
// their senders send them again.
func PrepareSpool(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, spoolPattern))
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, name := range old {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return nil
}

// spooled is one message's DATA as received: in memory, or in a file.
type spooled struct {
	mem  []byte
	file *os.File // nil when in memory
	size int64
}

// spoolData reads r (DATA) to its end into memory or, past spoolAbove,
// into a file in dir ("" = the system's temporary directory). On error
// nothing is left behind: a failure of the file is a *spoolError, the
// error of r (go-smtp's size limit, a lost connection) is returned as it
// is.
func spoolData(r io.Reader, dir string) (*spooled, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, spoolAbove+1))
	if err != nil {
		return &spooled{size: n}, err
	}
	if n <= spoolAbove {
		return &spooled{mem: buf.Bytes(), size: n}, nil
	}
	f, err := os.CreateTemp(dir, spoolPattern)
	if err != nil {
		return &spooled{size: n}, &spoolError{err}
	}
	s := &spooled{file: f}
	if _, err := f.Write(buf.Bytes()); err != nil {
		s.Close()
		return &spooled{size: n}, &spoolError{err}
	}
	m, err := io.Copy(spoolWriter{f}, r)
	s.size = n + m
	if err != nil {
		s.Close()
		return &spooled{size: s.size}, err
	}
	return s, nil
}

// spoolError is a failure of the spool file (a full disk, say), told
// apart from the reader's errors, which spoolData returns as they are.
type spoolError struct{ err error }

func (e *spoolError) Error() string { return "spool: " + e.err.Error() }
func (e *spoolError) Unwrap() error { return e.err }

// spoolWriter marks the spool file's errors, which io.Copy returns as
// they are.
type spoolWriter struct{ f *os.File }

func (w spoolWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = &spoolError{err}
	}
	return n, err
}

// Bytes returns the whole message in one buffer of its size.
func (s *spooled) Bytes() ([]byte, error) {
	if s.file == nil {
		return s.mem, nil
	}
	raw := make([]byte, s.size)
	if _, err := s.file.ReadAt(raw, 0); err != nil {
		return nil, &spoolError{fmt.Errorf("read back: %w", err)}
	}
	return raw, nil
}

// Close removes the spool file, if any.
func (s *spooled) Close() {
	if s.file != nil {
		name := s.file.Name()
		s.file.Close()
		os.Remove(name)
		s.file = nil
	}
}

// memBudget bounds the bytes of messages held in memory at once.
type memBudget struct {
	sem   *semaphore.Weighted
	limit int64
}

func newMemBudget(limit int64) *memBudget {
	return &memBudget{sem: semaphore.NewWeighted(limit), limit: limit}
}

// acquire takes n bytes (at most the whole budget) and returns the
// function that gives them back; it fails when ctx ends first.
func (b *memBudget) acquire(ctx context.Context, n int64) (func(), error) {
	n = min(max(n, 1), b.limit)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, &TemporaryError{Err: fmt.Errorf("waiting for memory for a message of %d bytes: %w", n, err)}
	}
	return func() { b.sem.Release(n) }, nil
}
