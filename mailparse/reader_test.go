package mailparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// parseFromSmall is ParseFrom with every entity above below bytes read
// from the reader in pieces of chunk bytes.
func parseFromSmall(raw []byte, below int64, chunk int) (*Message, error) {
	opts := corpusOptions
	opts.testMemBelow, opts.testChunk = below, chunk
	return ParseFrom(bytes.NewReader(raw), int64(len(raw)), opts)
}

// sameParse fails unless ParseFrom, reading in pieces, gives what Parse
// gives for raw.
func sameParse(t *testing.T, raw []byte, below int64, chunk int) {
	t.Helper()
	want, werr := Parse(raw, corpusOptions)
	got, gerr := parseFromSmall(raw, below, chunk)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) {
		t.Fatalf("below %d, chunk %d: error %v, Parse's %v", below, chunk, gerr, werr)
	}
	if werr != nil {
		return
	}
	normalizeData(want)
	normalizeData(got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("below %d, chunk %d: ParseFrom differs from Parse:\n got %s\nwant %s", below, chunk, dump(got), dump(want))
	}
}

// normalizeData makes empty attachment data nil: in memory it is a slice
// of the mail, read in pieces a buffer of its own.
func normalizeData(m *Message) {
	for i := range m.Attachments {
		a := &m.Attachments[i]
		if a.Decode != nil {
			var b bytes.Buffer
			if err := a.Decode(func(p []byte) error { b.Write(p); return nil }); err != nil {
				panic(err)
			}
			a.Data, a.Decode = b.Bytes(), nil
		}
		if len(a.Data) == 0 {
			a.Data = nil
		}
		if a.Message != nil {
			normalizeData(a.Message)
		}
	}
}

func dump(m *Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "text %q\nvisible %q\nhtml %d bytes\nwarnings %q\n", m.Text, m.Visible, len(m.HTML), m.Warnings)
	for _, a := range m.Attachments {
		fmt.Fprintf(&b, "attachment %s %s %d %s\n", a.Filename, a.ContentType, a.Size, a.SHA256)
	}
	return b.String()
}

// Every mail of the corpus reads the same from a reader, in pieces, as
// from memory: with every entity read in pieces, and pieces small enough
// to cut lines, runes, CRLFs and base64 groups.
func TestParseFromCorpus(t *testing.T) {
	for _, path := range corpusFiles(t) {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(strings.TrimSuffix(filepath.Base(path), ".eml"), func(t *testing.T) {
			for _, c := range []struct {
				below int64
				chunk int
			}{{1, 1}, {1, 3}, {1, 16}, {1, 4096}, {200, 7}, {1 << 20, 0}} {
				sameParse(t, raw, c.below, c.chunk)
			}
		})
	}
}

// The cases the corpus may miss, each read whole and in pieces.
func TestParseFromEdges(t *testing.T) {
	check := func(name, raw string) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			for _, below := range []int64{1, 40} {
				for _, chunk := range []int{1, 2, 5, 64} {
					sameParse(t, []byte(raw), below, chunk)
				}
			}
		})
	}
	mp := "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
	check("crlf split", "From: a@b.c\r\n\r\nline one\r\nline two\r\r\nthree\rfour\n\r\n")
	check("lone cr at the end", "From: a@b.c\r\n\r\nend\r")
	check("invalid utf-8", "From: a@b.c\r\nContent-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 \xe2\x82\xac \xe2\x82\r\n")
	check("cp1252", "From: a@b.c\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9 \x80 na\xefve\r\nbye\r\n")
	check("lying latin-1", "From: a@b.c\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xc3\xa9 \xe2\x82\xac\r\n")
	check("koi8-r", "From: a@b.c\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n")
	check("base64", "From: a@b.c\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8g\r\nd29ybGQh\r\nIGFnYWlu\r\n")
	check("base64 blocks", "From: a@b.c\r\nContent-Transfer-Encoding: base64\r\n\r\nSGk=\r\nSGVsbG8=\r\n-_x*y\r\nAB")
	check("quoted-printable", "From: a@b.c\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nsoft  \r\n=3D=ZZ end=\r\nlast")
	check("flowed", "From: a@b.c\r\nContent-Type: text/plain; format=flowed\r\n\r\none \r\ntwo\r\n> q \r\n> r\r\n")
	check("multipart", mp+"pre\r\n--XX\r\nContent-Type: text/plain\r\n\r\nbody\r\n--XX  \r\n\r\nno header\r\n--XXnot\r\n--XX\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--XX--\r\nepilogue")
	check("multipart lf", "From: a@b.c\nContent-Type: multipart/alternative; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n  \n--b\n"+
		"Content-Type: text/html\n\n<p>hi</p>\n--b--\n")
	check("multipart unclosed", mp+"--XX\r\n\r\none\r\n--XX\rtwo\r\n--XX\r\n\r\nthree")
	check("multipart close at the end", mp+"--XX\r\n\r\none\r\n--XX--")
	check("multipart delimiter at the end", mp+"--XX\r\n\r\none\r\n--XX")
	check("multipart empty parts", mp+"--XX\r\n--XX\n--XX\r\n\r\n--XX--\r\n")
	check("multipart without parts", mp+"just text\r\n")
	check("related", "From: a@b.c\r\nContent-Type: multipart/related; boundary=R\r\n\r\n--R\r\nContent-Type: text/html\r\n\r\n"+
		"<img src=cid:x>\r\n--R\r\nContent-ID: <x>\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBO\r\n--R--\r\n")
	check("enclosed message", mp+"--XX\r\n\r\nsee below\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\n"+
		"From: c@d.e\r\nSubject: inner\r\n\r\ninner text\r\n--XX--\r\n")
	check("mbox", "From a@b.c Mon Jan  1 00:00:00 2024\nFrom: a@b.c\n\nhi\n>From here\n")
	check("header runs into body", "From: a@b.c\r\nSubject: x\r\nbody line\r\n")
	check("header only", "From: a@b.c\r\nSubject: x")
	check("no header", "just text\r\n")
	check("unknown encoding", "From: a@b.c\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbody\r\n")
}

// A header section larger than the limit is refused the same way from a
// reader, and a reader's failure is a ReadError.
func TestParseFromLimitsAndFailures(t *testing.T) {
	long := "From: a@b.c\r\nX-Long: " + strings.Repeat("x", 300<<10) + "\r\n\r\nbody\r\n"
	for _, below := range []int64{1, 1 << 20} {
		sameParse(t, []byte(long), below, 0)
	}
	many := "From: a@b.c\r\n" + strings.Repeat("X-Field: some value here\r\n", 12000) + "\r\nbody\r\n"
	sameParse(t, []byte(many), 1, 0)
	mbox := "From " + strings.Repeat("y", 300<<10) + "\nFrom: a@b.c\n\nbody\n"
	sameParse(t, []byte(mbox), 1, 0)

	raw := []byte("From: a@b.c\r\n\r\n" + strings.Repeat("text line\r\n", 1000))
	_, err := ParseFrom(failingReader{bytes.NewReader(raw), 5000}, int64(len(raw)), Options{testMemBelow: 100})
	var re *ReadError
	if !errors.As(err, &re) {
		t.Fatalf("a failing reader: %v, want a ReadError", err)
	}
	if _, ok := IsError(err); ok {
		t.Fatalf("a reader's failure is taken for the mail's: %v", err)
	}
}

// failingReader fails every read past off.
type failingReader struct {
	r   io.ReaderAt
	off int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.off {
		return 0, errors.New("disk error")
	}
	return f.r.ReadAt(p, off)
}

// A large plain mail is held once, as its text: ParseFrom allocates
// little more than the text.
func TestParseFromHoldsTheTextOnce(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("From: a@b.c\r\nSubject: logs\r\n\r\n")
	for i := 0; b.Len() < 8<<20; i++ {
		fmt.Fprintf(&b, "Line %07d of the log the customer pasted: nothing unusual.\r\n", i)
	}
	raw := b.Bytes()
	var m *Message
	allocs := testing.AllocsPerRun(1, func() {
		var err error
		if m, err = ParseFrom(bytes.NewReader(raw), int64(len(raw)), corpusOptions); err != nil {
			t.Fatal(err)
		}
	})
	want, _ := Parse(raw, corpusOptions)
	if m.Text != want.Text {
		t.Fatal("ParseFrom's text differs from Parse's")
	}
	if allocs > 2000 {
		t.Errorf("%.0f allocations for one mail", allocs)
	}
}

// FuzzParseFrom checks that ParseFrom, reading in small pieces, gives
// what Parse gives.
func FuzzParseFrom(f *testing.F) {
	addCorpusSeeds(f, func(raw []byte) { f.Add(raw, uint8(1), uint8(3)) })
	f.Fuzz(func(t *testing.T, raw []byte, below, chunk uint8) {
		within(t, func() { sameParse(t, raw, int64(below)+1, int(chunk)+1) })
	})
}

// A large attachment of a mail read from a reader is not held: its size
// and digest are taken in one pass, and Decode gives its bytes again, in
// pieces, each time it is called. Body text, enclosed messages and small
// attachments are read as before.
func TestParseFromStreamsLargeAttachments(t *testing.T) {
	content := make([]byte, 3<<20)
	for i := range content {
		content[i] = byte(i*7 + i/251)
	}
	var b64 strings.Builder
	enc := base64.StdEncoding.EncodeToString(content)
	for len(enc) > 76 {
		b64.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b64.WriteString(enc + "\r\n")
	raw := []byte("From: a@b.c\r\nSubject: files\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nTwo files.\r\n" +
		"--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=big.pdf\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + b64.String() +
		"--XX\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=small.csv\r\n\r\na,b\r\n1,2\r\n--XX--\r\n")
	path := filepath.Join(t.TempDir(), "mail")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ParseFrom(f, int64(len(raw)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Attachments) != 2 || strings.TrimSpace(m.Text) != "Two files." {
		t.Fatalf("text %q, %d attachments", m.Text, len(m.Attachments))
	}
	big, small := m.Attachments[0], m.Attachments[1]
	sum := sha256.Sum256(content)
	if big.Data != nil || big.Decode == nil || big.Size != int64(len(content)) || big.SHA256 != hex.EncodeToString(sum[:]) ||
		big.Filename != "big.pdf" || big.ContentType != "application/pdf" {
		t.Fatalf("large attachment: %s %s size %d, data %d bytes, decode %v", big.Filename, big.ContentType, big.Size, len(big.Data), big.Decode != nil)
	}
	for range 2 {
		var got bytes.Buffer
		pieces := 0
		err := big.Decode(func(p []byte) error {
			pieces++
			got.Write(p)
			return nil
		})
		if err != nil || !bytes.Equal(got.Bytes(), content) || pieces < 2 {
			t.Fatalf("decode: %v, %d bytes in %d pieces, equal %v", err, got.Len(), pieces, bytes.Equal(got.Bytes(), content))
		}
	}
	stop := errors.New("stop")
	if err := big.Decode(func([]byte) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("an error of put: %v", err)
	}
	if small.Decode != nil || string(small.Data) != "a,b\r\n1,2" {
		t.Errorf("small attachment: %q, decode %v", small.Data, small.Decode != nil)
	}
	// The same mail from memory holds the attachment as Data.
	mm, err := Parse(raw, Options{})
	if err != nil || len(mm.Attachments) != 2 || !bytes.Equal(mm.Attachments[0].Data, content) || mm.Attachments[0].SHA256 != big.SHA256 {
		t.Fatalf("from memory: %v", err)
	}
}
