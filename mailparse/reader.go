package mailparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// Reading a large mail from a file. ParseFrom takes the mail as an
// io.ReaderAt and gives the same Message as Parse of its bytes, without
// holding the mail whole in memory:
//
//   - An entity (the message, a body part) of at most memBelow bytes is
//     read into memory and parsed as Parse does; only larger ones are
//     read in pieces.
//   - A large entity's header is read from its start (at most
//     MaxHeaderBytes and a little more); a large multipart is cut into its
//     parts by one pass over it (splitAt), each part a section of the
//     file.
//   - A large body text is decoded in two passes over its section: the
//     first learns its size and whether it is UTF-8 (or ASCII), which
//     decides how it is read, the second writes the text once into a
//     buffer of its size. Other large leaves (an attachment) are decoded
//     in one pass into a buffer of their decoded size: the encoded form
//     is never held.
//
// So a 25 MB plain mail costs its decoded text, not the mail and its
// text.

// memBelow is the size up to which ParseFrom reads an entity into memory.
const memBelow = 1 << 20

// ReadError is a failure to read the mail from ParseFrom's reader: the
// mail itself may be fine, and reading it again may succeed.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "mailparse: read: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// ParseFrom is Parse of the size bytes of r, read in pieces as the
// comment above says. Its errors are Parse's, or a *ReadError when r
// fails.
func ParseFrom(r io.ReaderAt, size int64, opts Options) (msg *Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			msg = nil
			err = &Error{Reason: "internal", Err: fmt.Errorf("panic: %v\n%s", v, debug.Stack())}
		}
	}()
	lim := opts.Limits.withDefaults()
	parts := 0
	if size <= opts.memBelow() {
		raw := make([]byte, size)
		if err := readAt(r, raw, 0); err != nil {
			return nil, err
		}
		return parseDepth(raw, opts, lim, 0, &parts)
	}
	m := &Message{}
	w := newWalker(m, opts, lim, parts)
	sec := io.NewSectionReader(r, 0, size)
	head, err := headAt(sec, lim)
	if err != nil {
		return nil, err
	}
	h, body, err := readHeader(head, lim, m.warn)
	if err != nil {
		return nil, err
	}
	off := int64(len(head) - len(body))
	top, err := w.newPartAt(h, io.NewSectionReader(sec, off, size-off), "text/plain")
	if err != nil {
		return nil, err
	}
	return w.message(m, h, top, 0, &parts, bytes.HasPrefix(head, []byte("From ")))
}

// memBelow is memBelow, or the smaller size a test sets so that small
// mails take the paths of large ones.
func (o Options) memBelow() int64 {
	if o.testMemBelow > 0 {
		return o.testMemBelow
	}
	return memBelow
}

// chunk is streamChunk, or the smaller size a test sets.
func (o Options) chunk() int {
	if o.testChunk > 0 {
		return o.testChunk
	}
	return streamChunk
}

// headSlack is read beyond the header limit, so that a header section
// that breaks the limit is seen to break it.
const headSlack = 4 << 10

// headAt reads the start of sec that readHeader needs to find the same
// fields and body start as in the whole of sec: more than an mbox "From "
// line and MaxHeaderBytes beyond it (a header section that does not end
// there is too large, whatever follows), or all of sec.
func headAt(sec *io.SectionReader, lim Limits) ([]byte, error) {
	n := int64(lim.MaxHeaderBytes + headSlack)
	for {
		n = min(n, sec.Size())
		head := make([]byte, n)
		if err := readAt(sec, head, 0); err != nil {
			return nil, err
		}
		if n == sec.Size() {
			return head, nil
		}
		base := 0
		if bytes.HasPrefix(head, []byte("From ")) {
			_, rest := cutLine(head)
			base = len(head) - len(rest)
		}
		if int64(base+lim.MaxHeaderBytes) < n {
			return head, nil
		}
		// Past a long "From " line, or one not read to its end yet.
		n = int64(base + lim.MaxHeaderBytes + headSlack)
	}
}

// readAt fills p from r at off.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &ReadError{Err: err}
}

// newPartAt is newPart for a body that is a section: read into memory
// when it is small, kept as the section otherwise.
func (w *walker) newPartAt(h header, body *io.SectionReader, defType string) (*part, error) {
	if body.Size() <= w.opts.memBelow() {
		b := make([]byte, body.Size())
		if err := readAt(body, b, 0); err != nil {
			return nil, err
		}
		return w.newPart(h, b, defType), nil
	}
	p := w.newPart(h, nil, defType)
	p.sec = body
	return p, nil
}

// readPartHeaderAt is readPartHeader of a large body part.
func (w *walker) readPartHeaderAt(sec *io.SectionReader) (header, *io.SectionReader, error) {
	var start [2]byte
	n, _ := sec.ReadAt(start[:], 0)
	switch {
	case n >= 1 && start[0] == '\n':
		return nil, io.NewSectionReader(sec, 1, sec.Size()-1), nil
	case n == 2 && start[0] == '\r' && start[1] == '\n':
		return nil, io.NewSectionReader(sec, 2, sec.Size()-2), nil
	}
	head, err := headAt(sec, w.lim)
	if err != nil {
		return nil, nil, err
	}
	h, body, err := readHeader(head, w.lim, w.warn)
	if e, ok := IsError(err); ok && e.Reason == "no_header" {
		return nil, sec, nil
	}
	if err != nil {
		return nil, nil, err
	}
	off := int64(len(head) - len(body))
	return h, io.NewSectionReader(sec, off, sec.Size()-off), nil
}

// piece is one body part of a multipart as splitting found it: its bytes,
// or its section of a large multipart.
type piece struct {
	b   []byte
	sec *io.SectionReader
}

// splitParts cuts the body of multipart p into its parts: splitMultipart
// in memory, splitAt for a section.
func (w *walker) splitParts(p *part, boundary string) ([]piece, bool, error) {
	if p.sec == nil {
		raws, closed := splitMultipart(p.body, boundary)
		out := make([]piece, len(raws))
		for i, b := range raws {
			out[i].b = b
		}
		return out, closed, nil
	}
	secs, closed, err := splitAt(p.sec, boundary, w.opts.chunk())
	if err != nil {
		return nil, false, err
	}
	out := make([]piece, len(secs))
	for i, s := range secs {
		if s.Size() > w.opts.memBelow() {
			out[i].sec = s
			continue
		}
		out[i].b = make([]byte, s.Size())
		if err := readAt(s, out[i].b, 0); err != nil {
			return nil, false, err
		}
	}
	return out, closed, nil
}

// partOf reads the header of a piece and makes it a part.
func (w *walker) partOf(pc piece, defType string) (*part, error) {
	if pc.sec == nil {
		h, body, err := readPartHeader(pc.b, w.lim, w.warn)
		if err != nil {
			return nil, err
		}
		return w.newPart(h, body, defType), nil
	}
	h, body, err := w.readPartHeaderAt(pc.sec)
	if err != nil {
		return nil, err
	}
	return w.newPartAt(h, body, defType)
}
