// Package spool holds a message as it is received, whatever its size, at
// a cost in memory that does not grow with it: the first Above bytes
// (256 KiB) are read into memory; a message that is larger is written to
// a file in the spool directory while it arrives, and is read back from
// there in pieces (ReaderAt), never whole unless a caller asks for it.
//
// Every transport uses it: SMTP DATA, a pipe's standard input, a message
// fetched by IMAP. Ingestion then hashes, parses, verifies and stores a
// spooled message from its file (mailparse.ParseFrom; the store writes
// the raw bytes in pieces), so a large mail is never held whole.
package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Above is the size above which a message goes to a spool file; below
// it, the buffer that grows to hold a message stays small.
const Above = 256 << 10

// pattern names the spool files.
const pattern = "casegate-data-*.eml"

// Prepare creates the spool directory and removes the files a stopped
// process left in it: their messages were never acknowledged (no 250, no
// exit 0, no IMAP flag), so they come again.
func Prepare(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, pattern))
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

// Message is one message's bytes: in memory, or in a spool file. Close
// removes the file. A Message may be read by several goroutines at once;
// Close must come after the last read.
type Message struct {
	mem  []byte
	file *os.File // nil when in memory
	size int64
}

// Bytes is the message b, held in memory as it is (no copy).
func Bytes(b []byte) *Message { return &Message{mem: b, size: int64(len(b))} }

// Read reads r to its end into memory or, past Above bytes, into a file
// in dir ("" = the system's temporary directory), which it creates if
// need be. On error nothing is
// left behind and the size read so far is returned: a failure of the
// file is an *Error, the error of r (a size limit, a lost connection) is
// returned as it is.
func Read(r io.Reader, dir string) (*Message, int64, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, Above+1))
	if err != nil {
		return nil, n, err
	}
	if n <= Above {
		return &Message{mem: buf.Bytes(), size: n}, n, nil
	}
	if dir != "" {
		// Created when first needed: a process that never receives a
		// large message needs no spool directory.
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, n, &Error{err}
		}
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, n, &Error{err}
	}
	m := &Message{file: f}
	if _, err := f.Write(buf.Bytes()); err != nil {
		m.Close()
		return nil, n, &Error{err}
	}
	more, err := io.Copy(fileWriter{f}, r)
	if err != nil {
		m.Close()
		return nil, n + more, err
	}
	m.size = n + more
	return m, m.size, nil
}

// Error is a failure of the spool file (a full disk, say), told apart
// from the reader's errors, which Read returns as they are.
type Error struct{ Err error }

func (e *Error) Error() string { return "spool: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// fileWriter marks the spool file's errors, which io.Copy returns as
// they are.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = &Error{err}
	}
	return n, err
}

// Size is the message's size in bytes.
func (m *Message) Size() int64 { return m.size }

// InMemory returns the message's bytes when it is held in memory.
func (m *Message) InMemory() ([]byte, bool) { return m.mem, m.file == nil }

// ReaderAt reads the message from memory or from its file; its errors
// are *Error.
func (m *Message) ReaderAt() io.ReaderAt {
	if m.file == nil {
		return bytes.NewReader(m.mem)
	}
	return fileReader{m.file}
}

// Section is the message as an io.SectionReader.
func (m *Message) Section() *io.SectionReader {
	return io.NewSectionReader(m.ReaderAt(), 0, m.size)
}

// fileReader marks the spool file's errors.
type fileReader struct{ f *os.File }

func (r fileReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.f.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &Error{err}
	}
	return n, err
}

// Head returns the first n bytes of the message (all of it when it is
// shorter): from memory without a copy.
func (m *Message) Head(n int) ([]byte, error) {
	n = int(min(int64(n), m.size))
	if m.file == nil {
		return m.mem[:n], nil
	}
	b := make([]byte, n)
	if _, err := m.file.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, &Error{fmt.Errorf("read back: %w", err)}
	}
	return b, nil
}

// Whole returns the whole message in one buffer of its size. Nothing in
// the ingestion path needs a message whole; tests compare with it.
func (m *Message) Whole() ([]byte, error) {
	if m.file == nil {
		return m.mem, nil
	}
	return m.Head(int(m.size))
}

// Close removes the spool file, if any.
func (m *Message) Close() {
	if m != nil && m.file != nil {
		name := m.file.Name()
		m.file.Close()
		os.Remove(name)
		m.file = nil
	}
}
