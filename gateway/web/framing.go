package web

import (
	"bytes"
	"strconv"
	"strings"
)

// framer follows the HTTP/1.1 requests on one connection just far enough
// to see each header section whole (RFC 9112 §2.1, §6): it holds a header
// section back until its blank line, then lets it through, and skips the
// body by its length or its chunks. A section with both Content-Length and
// Transfer-Encoding gets a malformed line inserted after its request line,
// so net/http itself answers 400 Bad Request and closes the connection
// before anyone reads a body whose length is in dispute. Anything the
// framer does not follow (a header section over maxHold, a
// Transfer-Encoding other than chunked, a length that does not parse) it
// passes through unchecked from there on: net/http refuses such requests
// and closes the connection itself.
type framer struct {
	maxHold int

	state  int
	held   []byte // the header section so far
	line   []byte // the chunk-size or trailer line so far
	remain int64  // body or chunk bytes to pass
	cl, te bool
	teOK   bool // the Transfer-Encoding ends with chunked
	clBad  bool
	clVal  int64
}

const (
	frHeader = iota
	frBody
	frChunkSize
	frChunkData
	frChunkEnd
	frTrailer
	frOff
)

// refusedLine is what the framer inserts into a header section it refuses.
const refusedLine = "Content-Length and Transfer-Encoding together\r\n"

// feed checks data and appends what may go to net/http to out.
func (f *framer) feed(out, data []byte) []byte {
	for len(data) > 0 {
		switch f.state {
		case frOff:
			return append(out, data...)
		case frBody, frChunkData:
			n := min(int64(len(data)), f.remain)
			out, data = append(out, data[:n]...), data[n:]
			if f.remain -= n; f.remain == 0 {
				next := frHeader
				if f.state == frChunkData {
					next = frChunkEnd
				}
				f.state = next
			}
		case frHeader:
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				f.held, data = append(f.held, data...), nil
			} else {
				f.held, data = append(f.held, data[:i+1]...), data[i+1:]
				out = f.headerLine(out)
			}
			if len(f.held) > f.maxHold {
				out, f.held, f.state = append(out, f.held...), nil, frOff
			}
		default:
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				f.line, data = append(f.line, data...), nil
				if len(f.line) > 4096 {
					f.state = frOff
				}
				break
			}
			f.line, data = append(f.line, data[:i+1]...), data[i+1:]
			out = append(out, f.line...)
			f.chunkLine(strings.TrimRight(string(f.line), "\r\n"))
			f.line = f.line[:0]
		}
	}
	return out
}

// flush gives back what is held when the client has stopped sending.
func (f *framer) flush() []byte {
	out := append(f.held, f.line...)
	f.held, f.line = nil, nil
	return out
}

// headerLine looks at the last complete line of the held header section
// and, at its end, decides the request's framing and lets it through.
func (f *framer) headerLine(out []byte) []byte {
	start := bytes.LastIndexByte(f.held[:len(f.held)-1], '\n') + 1
	line := strings.TrimRight(string(f.held[start:]), "\r\n")
	if line != "" {
		name, value, ok := strings.Cut(line, ":")
		if ok && start > 0 {
			f.headerField(strings.ToLower(name), strings.TrimSpace(value))
		}
		return out
	}
	section := f.held
	f.held = nil
	if start == 0 {
		return append(out, section...) // a blank line before a request line (RFC 9112 §2.2)
	}
	switch {
	case f.cl && f.te:
		end := bytes.IndexByte(section, '\n') + 1
		out = append(append(append(out, section[:end]...), refusedLine...), section[end:]...)
		f.state = frOff
	case f.te && f.teOK:
		out, f.state = append(out, section...), frChunkSize
	case f.te || f.clBad:
		out, f.state = append(out, section...), frOff
	case f.cl && f.clVal > 0:
		out, f.state, f.remain = append(out, section...), frBody, f.clVal
	default:
		out = append(out, section...)
	}
	f.cl, f.te, f.teOK, f.clBad, f.clVal = false, false, false, false, 0
	return out
}

func (f *framer) headerField(name, value string) {
	switch name {
	case "content-length":
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < 0 || (f.cl && n != f.clVal) {
			f.clBad = true
		}
		f.cl, f.clVal = true, n
	case "transfer-encoding":
		f.te = true
		codings := strings.Split(value, ",")
		f.teOK = strings.EqualFold(strings.TrimSpace(codings[len(codings)-1]), "chunked")
	}
}

// chunkLine follows a chunked body: sizes, data, trailers (RFC 9112 §7.1).
func (f *framer) chunkLine(line string) {
	switch f.state {
	case frChunkSize:
		size, _, _ := strings.Cut(line, ";")
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		switch {
		case err != nil || n < 0:
			f.state = frOff
		case n == 0:
			f.state = frTrailer
		default:
			f.state, f.remain = frChunkData, n
		}
	case frChunkEnd:
		f.state = frChunkSize
		if line != "" {
			f.state = frOff
		}
	case frTrailer:
		if line == "" {
			f.state = frHeader
		}
	}
}
