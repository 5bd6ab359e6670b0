package mailparse

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// The large-entity side of reader.go: a multipart cut by one pass over
// its section, and leaves decoded in pieces. Each function here gives
// what its in-memory counterpart gives for the same bytes; the tests
// compare them on the whole corpus.

// streamChunk is the size of the pieces a section is read in.
const streamChunk = 64 << 10

// splitAt is splitMultipart of a section: the same parts, as sections.
// A delimiter is "--" boundary at the start of a line (after an LF),
// followed by nothing but blanks up to the line's end.
func splitAt(sec *io.SectionReader, boundary string, chunk int) ([]*io.SectionReader, bool, error) {
	delim := []byte("--" + boundary)
	br := bufio.NewReaderSize(io.NewSectionReader(sec, 0, sec.Size()), max(chunk, len(delim)+8))
	s := &splitter{br: br, start: -1}
	var parts []*io.SectionReader
	for {
		i, crlf := s.off, s.crlf // a line start, and whether a CRLF ended the line before
		isDelim, isClose, ended, err := s.delimiterLine(delim)
		if err != nil {
			return nil, false, err
		}
		if isDelim {
			if s.start >= 0 {
				end := i
				if end > s.start {
					end-- // the LF before the delimiter belongs to it
					if crlf && end > s.start {
						end--
					}
				}
				parts = append(parts, io.NewSectionReader(sec, s.start, end-s.start))
			}
			if isClose {
				return parts, true, nil
			}
			if ended == io.EOF {
				return parts, false, nil
			}
			s.start = s.off
			if ended == errLF {
				continue
			}
		}
		if eof, err := s.skipLine(); err != nil {
			return nil, false, err
		} else if eof {
			break
		}
	}
	if s.start >= 0 && s.start < sec.Size() {
		parts = append(parts, io.NewSectionReader(sec, s.start, sec.Size()-s.start))
	}
	return parts, false, nil
}

// splitter reads a multipart section line by line.
type splitter struct {
	br    *bufio.Reader
	off   int64 // of the next byte br gives
	start int64 // of the current part's content, -1 before the first delimiter
	crlf  bool  // the LF that began the current line followed a CR
	last  byte  // the last byte read
}

// How delimiterLine's line ended: at an LF (or CRLF), at a lone CR, or
// at the end (io.EOF).
var (
	errLF = errors.New("lf")
	errCR = errors.New("cr")
)

// delimiterLine reads, at a line start, a delimiter line if there is one:
// the delimiter, "--" for the close delimiter, and blanks up to the line
// end, which it reads too. Otherwise it reads at most up to the first
// byte that is not part of one.
func (s *splitter) delimiterLine(delim []byte) (isDelim, isClose bool, ended, err error) {
	pk, err := s.br.Peek(len(delim))
	if err != nil && !errors.Is(err, io.EOF) {
		return false, false, nil, &ReadError{Err: err}
	}
	if !bytes.Equal(pk, delim) {
		return false, false, nil, nil
	}
	s.discard(len(delim))
	if pk, _ := s.br.Peek(2); string(pk) == "--" {
		s.discard(2)
		isClose = true
	}
	for {
		c, err := s.br.ReadByte()
		if errors.Is(err, io.EOF) {
			return true, isClose, io.EOF, nil
		}
		if err != nil {
			return false, false, nil, &ReadError{Err: err}
		}
		switch c {
		case '\n':
			s.off++
			s.crlf, s.last = false, c
			return true, isClose, errLF, nil
		case '\r':
			s.off++
			s.last = c
			if pk, _ := s.br.Peek(1); len(pk) == 1 && pk[0] == '\n' {
				s.discard(1)
				s.crlf = true
				return true, isClose, errLF, nil
			}
			return true, isClose, errCR, nil
		case ' ', '\t':
			s.off++
			s.last = c
		default:
			s.br.UnreadByte()
			return false, false, nil, nil
		}
	}
}

func (s *splitter) discard(n int) {
	s.br.Discard(n) // peeked before
	s.off += int64(n)
	s.last = 0 // a delimiter's last byte is no CR
}

// skipLine reads up to and including the next LF; eof is true when there
// is none.
func (s *splitter) skipLine() (eof bool, err error) {
	for {
		sl, err := s.br.ReadSlice('\n')
		s.off += int64(len(sl))
		switch {
		case err == nil:
			prev := s.last
			if len(sl) >= 2 {
				prev = sl[len(sl)-2]
			}
			s.crlf, s.last = prev == '\r', '\n'
			return false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			s.last = sl[len(sl)-1]
		case errors.Is(err, io.EOF):
			return true, nil
		default:
			return false, &ReadError{Err: err}
		}
	}
}

// decodeAt reads the section of p, undoes its Content-Transfer-Encoding
// as decodeTransfer does, and hands the decoded bytes to out in pieces.
// An error of out ends it and is returned.
func (w *walker) decodeAt(p *part, out func([]byte) error) error {
	var d streamDecoder
	switch cte := p.h.get("Content-Transfer-Encoding"); strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary", "7-bit", "8-bit":
		d = identity{}
	case "base64":
		d = &base64Stream{clean: make([]byte, 0, (w.opts.chunk()+3)/4*4)}
	case "quoted-printable":
		d = &qpStream{}
	default:
		w.warn("unknown transfer encoding " + quoteWarn(cte))
		d = identity{}
	}
	buf := make([]byte, w.opts.chunk())
	size := p.sec.Size()
	for off := int64(0); off < size; {
		n := int(min(int64(len(buf)), size-off))
		if err := readAt(p.sec, buf[:n], off); err != nil {
			return err
		}
		off += int64(n)
		if err := d.write(buf[:n], out); err != nil {
			return err
		}
	}
	damaged, err := d.close(out)
	if damaged != "" {
		w.warn(damaged)
	}
	return err
}

// decodedSize is the likely decoded size of a section of n bytes.
func decodedSize(p *part) int64 {
	if strings.EqualFold(strings.TrimSpace(p.h.get("Content-Transfer-Encoding")), "base64") {
		return p.sec.Size()/4*3 + 3
	}
	return p.sec.Size()
}

// partTooLarge stops decoding a part past MaxPartBytes.
func partTooLarge() error { return &Error{Reason: "part_too_large"} }

// decodedAll is decodeTransfer of a large part, into a buffer of the
// decoded size; part_too_large past MaxPartBytes.
func (w *walker) decodedAll(p *part) ([]byte, error) {
	data := make([]byte, 0, min(decodedSize(p), w.lim.MaxPartBytes+1))
	err := w.decodeAt(p, func(b []byte) error {
		if int64(len(data)+len(b)) > w.lim.MaxPartBytes {
			return partTooLarge()
		}
		data = append(data, b...)
		return nil
	})
	return data, err
}

// partData is the decoded content of a leaf part, from memory or from
// its section.
func (w *walker) partData(p *part) ([]byte, error) {
	if p.sec == nil {
		data := decodeTransfer(p.body, p.h.get("Content-Transfer-Encoding"), w.warn)
		if int64(len(data)) > w.lim.MaxPartBytes {
			return nil, partTooLarge()
		}
		return data, nil
	}
	return w.decodedAll(p)
}

// hasText reports whether the body of p holds more than white space,
// as len(bytes.TrimSpace(p.body)) > 0 does.
func (w *walker) hasText(p *part) (bool, error) {
	if p.sec == nil {
		return len(bytes.TrimSpace(p.body)) > 0, nil
	}
	br := bufio.NewReaderSize(io.NewSectionReader(p.sec, 0, p.sec.Size()), w.opts.chunk())
	for {
		r, _, err := br.ReadRune()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, &ReadError{Err: err}
		}
		if !unicode.IsSpace(r) {
			return true, nil
		}
	}
}

// addTextAt is addText of a large part. A first pass over the decoded
// bytes takes their size and what decodeCharset decides by (valid UTF-8,
// pure ASCII); the second writes the text once. A charset that
// needs its own decoder is read whole, as addText reads it.
func (w *walker) addTextAt(p *part) error {
	var size int64
	check := utf8Check{valid: true}
	ascii := true
	err := w.decodeAt(p, func(b []byte) error {
		if size += int64(len(b)); size > w.lim.MaxPartBytes {
			return partTooLarge()
		}
		check.write(b)
		ascii = ascii && isASCII(b)
		return nil
	})
	if err != nil {
		return err
	}
	valid := check.end()
	name := p.params["charset"]
	asIs := true
	switch cs := normCharset(name); cs {
	case "", "utf-8", "us-ascii":
		if !valid && cs != "" {
			w.warn("invalid " + cs + " text read as windows-1252")
		}
		asIs = valid
	case "iso-8859-1", "windows-1252":
		if !ascii && valid {
			w.warn(cs + " text is really utf-8")
		}
		asIs = ascii || valid
	default:
		if !ascii || !asciiCompatible(cs) {
			data, err := w.decodedAll(p)
			if err != nil {
				return err
			}
			w.addText(p, data)
			return nil
		}
	}
	var sb strings.Builder
	lf := lfWriter{sb: &sb}
	write := lf.write
	if asIs {
		sb.Grow(int(size))
	} else {
		sb.Grow(int(size + size/8))
		var scratch []byte
		write = func(b []byte) error {
			scratch = appendCP1252(scratch[:0], b)
			return lf.write(scratch)
		}
	}
	if err := w.decodeAt(p, write); err != nil {
		return err
	}
	if w.cs == "" {
		w.cs = name
	}
	w.plain = true
	text := sb.String()
	if strings.EqualFold(p.params["format"], "flowed") {
		text = unflow(text, strings.EqualFold(p.params["delsp"], "yes"))
	}
	w.texts = append(w.texts, text)
	return nil
}

// appendCP1252 appends b read as decodeCP1252 reads it.
func appendCP1252(dst, b []byte) []byte {
	for _, c := range b {
		if c < 0x80 {
			dst = append(dst, c)
			continue
		}
		r := charmap.Windows1252.DecodeByte(c)
		if r == utf8.RuneError {
			r = rune(c)
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// lfWriter writes text with CRLF and lone CR turned into LF, as lfString
// does, across the pieces it is given.
type lfWriter struct {
	sb *strings.Builder
	cr bool // the last piece ended with a CR
}

func (w *lfWriter) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	skip := w.cr && b[0] == '\n'
	w.cr = false
	if skip {
		b = b[1:]
	}
	for i := bytes.IndexByte(b, '\r'); i >= 0; i = bytes.IndexByte(b, '\r') {
		w.sb.Write(b[:i])
		w.sb.WriteByte('\n')
		b = b[i+1:]
		if len(b) == 0 {
			w.cr = true
		} else if b[0] == '\n' {
			b = b[1:]
		}
	}
	w.sb.Write(b)
	return nil
}

// utf8Check is utf8.Valid of the bytes written, across the pieces.
type utf8Check struct {
	valid bool
	pend  [utf8.UTFMax]byte // the start of a rune cut at a piece's end
	n     int
}

func (c *utf8Check) write(p []byte) {
	for c.valid && c.n > 0 && len(p) > 0 {
		c.pend[c.n] = p[0]
		c.n++
		p = p[1:]
		if utf8.FullRune(c.pend[:c.n]) {
			c.valid = utf8.Valid(c.pend[:c.n])
			c.n = 0
		}
	}
	if !c.valid || len(p) == 0 {
		return
	}
	cut := len(p)
	for i := len(p) - 1; i >= max(0, len(p)-utf8.UTFMax); i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				cut = i
			}
			break
		}
	}
	c.valid = utf8.Valid(p[:cut])
	c.n = copy(c.pend[:], p[cut:])
}

// end reports whether everything written was valid UTF-8.
func (c *utf8Check) end() bool { return c.valid && c.n == 0 }

// streamDecoder undoes a transfer encoding piece by piece; close
// returns a warning when the input was damaged.
type streamDecoder interface {
	write(p []byte, out func([]byte) error) error
	close(out func([]byte) error) (damaged string, err error)
}

type identity struct{}

func (identity) write(p []byte, out func([]byte) error) error { return out(p) }
func (identity) close(func([]byte) error) (string, error)     { return "", nil }

// base64Stream is decodeBase64 piece by piece: whole groups of four are
// decoded as clean fills up, the rest when a block or the input ends.
type base64Stream struct {
	clean   []byte
	dst     []byte
	pad     int
	damaged bool
}

func (d *base64Stream) write(p []byte, out func([]byte) error) error {
	for _, c := range p {
		switch {
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/':
		case c == '-' || c == '_': // URL alphabet
			d.damaged = true
			if c == '-' {
				c = '+'
			} else {
				c = '/'
			}
		case c == '=':
			d.pad++
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		default:
			d.damaged = true
			continue
		}
		if d.pad > 0 { // data after padding: a new block begins
			if err := d.flush(out); err != nil {
				return err
			}
			d.damaged = true
		}
		d.clean = append(d.clean, c)
		if len(d.clean) == cap(d.clean) { // a multiple of four
			d.dst, _ = base64.RawStdEncoding.AppendDecode(d.dst[:0], d.clean) // clean holds the alphabet only
			d.clean = d.clean[:0]
			if err := out(d.dst); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush decodes the block in clean, which ended with pad "=" signs.
func (d *base64Stream) flush(out func([]byte) error) error {
	var err error
	d.dst, d.damaged = flushBase64(d.dst[:0], d.clean, d.pad, d.damaged)
	d.clean, d.pad = d.clean[:0], 0
	if len(d.dst) > 0 {
		err = out(d.dst)
	}
	return err
}

func (d *base64Stream) close(out func([]byte) error) (string, error) {
	if err := d.flush(out); err != nil {
		return "", err
	}
	if d.damaged {
		return "damaged base64", nil
	}
	return "", nil
}

// qpStream is decodeQP line by line.
type qpStream struct {
	line    []byte
	dst     []byte
	damaged bool
}

func (d *qpStream) write(p []byte, out func([]byte) error) error {
	d.dst = d.dst[:0]
	for len(p) > 0 {
		nl := bytes.IndexByte(p, '\n')
		if nl < 0 {
			d.line = append(d.line, p...)
			break
		}
		d.line = append(d.line, p[:nl]...)
		d.decodeLine(true)
		p = p[nl+1:]
	}
	if len(d.dst) == 0 {
		return nil
	}
	return out(d.dst)
}

// decodeLine decodes the line in hand as decodeQP does.
func (d *qpStream) decodeLine(hadNL bool) {
	var damaged bool
	d.dst, damaged = decodeQPLine(d.dst, d.line, hadNL)
	d.damaged = d.damaged || damaged
	d.line = d.line[:0]
}

func (d *qpStream) close(out func([]byte) error) (string, error) {
	d.dst = d.dst[:0]
	if len(d.line) > 0 {
		d.decodeLine(false)
	}
	if len(d.dst) > 0 {
		if err := out(d.dst); err != nil {
			return "", err
		}
	}
	if d.damaged {
		return "damaged quoted-printable", nil
	}
	return "", nil
}
