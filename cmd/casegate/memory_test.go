package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// plainMail is a plain-text mail of exactly size bytes (header included),
// of ordinary lines of text.
func plainMail(id string, size int) io.Reader {
	head := fmt.Sprintf("From: Big Sender <big.%s@customer.example>\r\nTo: support@localhost\r\n"+
		"Subject: A large plain mail %s\r\nMessage-ID: <%s@customer.example>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", id, id, id)
	return io.MultiReader(strings.NewReader(head), &textLines{left: size - len(head)})
}

// bigAttachmentMail is a mail with a short text and content as a base64
// attachment, big.bin.
func bigAttachmentMail(content []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: Big Sender <big.att@customer.example>\r\nTo: support@localhost\r\nSubject: The log file\r\n" +
		"Message-ID: <att@customer.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n" +
		"--BB\r\nContent-Type: text/plain\r\n\r\nThe log is attached.\r\n--BB\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(content)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--BB--\r\n")
	return b.Bytes()
}

// textLines yields lines of text until left bytes are out.
type textLines struct {
	left, n int
	buf     []byte
}

func (r *textLines) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if len(r.buf) == 0 {
		r.n++
		r.buf = fmt.Appendf(nil, "Line %07d of the log the customer pasted: nothing unusual happened here.\r\n", r.n)
	}
	n := copy(p, r.buf[:min(len(r.buf), r.left)])
	r.buf, r.left = r.buf[n:], r.left-n
	return n, nil
}

// vmHWM is the peak resident set size of a process in bytes
// (/proc/PID/status), or 0 where there is no /proc.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	return 0
}

// checkpointedSize checkpoints the WAL of the database at path into the
// file and returns the file's size.
func checkpointedSize(t *testing.T, path string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var busy, logged, done int
		if err := db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &done); err != nil {
			t.Fatal(err)
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the WAL checkpoint stayed busy")
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// memServe is a `casegate serve` of its own for one memory figure.
type memServe struct {
	cmd    *exec.Cmd
	pid    int
	smtp   string
	db     string
	logs   *bytes.Buffer
	before int64 // VmHWM once warmed up
}

// startMemServe starts the binary on the default configuration (its own
// data directory and ports) and warms it up with one small mail.
func startMemServe(t *testing.T) *memServe {
	t.Helper()
	dir := t.TempDir()
	smtpAddr := freePort(t)
	config := writeConfig(t, dir, fmt.Sprintf("data_dir: data\nsmtp:\n  listen: %s\nhttp:\n  listen: 127.0.0.1:0\n", smtpAddr))
	logs := &bytes.Buffer{}
	cmd := startServe(t, casegateBinary(t), config, smtpAddr, logs)
	s := &memServe{cmd: cmd, pid: cmd.Process.Pid, smtp: smtpAddr, db: filepath.Join(dir, "data", "casegate.db"), logs: logs}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	if err := s.send("warm-up", 2000); err != nil {
		t.Fatalf("warm-up mail: %v\n%s", err, logs)
	}
	s.drained(t)
	s.before = vmHWM(t, s.pid)
	return s
}

// drained waits until the outbox has delivered every confirmation (into
// the Maildir), so that the figures include sending them.
func (s *memServe) drained(t *testing.T) {
	t.Helper()
	db, err := sql.Open("sqlite", s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitOutboxDrained(t, db)
}

func (s *memServe) send(id string, size int) error {
	return s.sendRaw("big."+id+"@customer.example", plainMail(id, size))
}

// sendRaw sends the mail r reads to support@localhost over SMTP.
func (s *memServe) sendRaw(from string, r io.Reader) error {
	c, err := smtp.Dial(s.smtp)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, []string{"support@localhost"}, r); err != nil {
		return err
	}
	return c.Quit()
}

const mib = 1 << 20

// The resident memory a large mail costs the real binary, and what it
// adds to the database. It logs the figures: the peak resident set size
// (VmHWM) before and after one 25 MB mail and after four concurrent 20 MB
// mails, each on a fresh process, and the database's growth for the 25 MB
// mail after a WAL checkpoint. A 25 MB mail that is quarantined (it has no
// header) is kept from its spool file in pieces: the peak rises by about
// half its size, where holding it whole and storing it as one value raised
// it by 3.3 times; the assertion is three quarters. A mail with an 18 MiB
// attachment raises it by about half the mail (2.6 times when the
// attachment was decoded whole and stored as one value); the assertion
// is the mail's size. The database growth is asserted: the raw
// mail and its decoded text once each, no further copies. The product's
// goals are at most twice the mail's size for one and 250 MB for four
// (measured: about 1.8 times and 133 MiB, the mail parsed and stored from
// its spool file); the assertions keep a margin above them (2.5 times,
// 300 MiB), since the figures depend on the machine and the garbage
// collector: see the log for the figures.
//
//	go test -run TestLargeMailMemory -v ./cmd/casegate/
func TestLargeMailMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and sends 155 MB through it")
	}
	t.Run("one 25 MB mail", func(t *testing.T) {
		const size = 25_000_000
		s := startMemServe(t)
		dbBefore := checkpointedSize(t, s.db)
		if err := s.send("one", size); err != nil {
			t.Fatalf("send: %v\n%s", err, s.logs)
		}
		s.drained(t)
		peak := vmHWM(t, s.pid)
		growth := checkpointedSize(t, s.db) - dbBefore
		t.Logf("one 25 MB mail: peak RSS %.0f MiB -> %.0f MiB (+%.0f MiB, %.2f× the mail); database +%.1f MiB (%.2f× the mail)",
			float64(s.before)/mib, float64(peak)/mib, float64(peak-s.before)/mib, float64(peak-s.before)/size,
			float64(growth)/mib, float64(growth)/size)
		if peak-s.before > 5*size/2 {
			t.Errorf("a 25 MB mail raised the peak RSS by %.0f MiB, more than 2.5 times its size", float64(peak-s.before)/mib)
		}
		// The raw bytes and the decoded text (here about as large), and
		// room for pages and indexes.
		if limit := int64(2*size + 2*mib); growth > limit {
			t.Errorf("the database grew %d bytes for a %d-byte mail, more than the raw mail and its text (%d)", growth, size, limit)
		}
	})
	t.Run("one 25 MB mail with an attachment", func(t *testing.T) {
		// An 18 MiB file, base64-encoded: its size and digest are taken in
		// one pass over the spool file, and it is decoded again from there
		// into the database in pieces, never held whole.
		s := startMemServe(t)
		content := make([]byte, 18<<20)
		for i := range content {
			content[i] = byte(i*7 + i/251)
		}
		mail := bigAttachmentMail(content)
		if err := s.sendRaw("big.att@customer.example", bytes.NewReader(mail)); err != nil {
			t.Fatalf("send: %v\n%s", err, s.logs)
		}
		s.drained(t)
		peak := vmHWM(t, s.pid)
		db, err := sql.Open("sqlite", s.db)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var size, pieces int
		if err := db.QueryRow(`SELECT size, (SELECT count(*) FROM attachment_chunks c WHERE c.attachment_id = a.id) FROM attachments a
			WHERE filename = 'big.bin'`).Scan(&size, &pieces); err != nil || size != len(content) || pieces != 18 {
			t.Fatalf("stored attachment: %d bytes in %d pieces, %v\n%s", size, pieces, err, s.logs)
		}
		t.Logf("one %.0f MB mail with an 18 MiB attachment: peak RSS %.0f MiB -> %.0f MiB (+%.0f MiB, %.2f× the mail)",
			float64(len(mail))/1e6, float64(s.before)/mib, float64(peak)/mib, float64(peak-s.before)/mib, float64(peak-s.before)/float64(len(mail)))
		if peak-s.before > int64(len(mail)) {
			t.Errorf("a mail with an 18 MiB attachment raised the peak RSS by %.0f MiB, more than the mail's size", float64(peak-s.before)/mib)
		}
	})
	t.Run("one 25 MB mail quarantined", func(t *testing.T) {
		// No header section: quarantined as no_header, stored from the
		// spool file in pieces, never read whole.
		const size = 25_000_000
		s := startMemServe(t)
		line := "no header here, only text\r\n"
		if err := s.sendRaw("big.q@customer.example", strings.NewReader("\r\n"+strings.Repeat(line, size/len(line)))); err != nil {
			t.Fatalf("send: %v\n%s", err, s.logs)
		}
		peak := vmHWM(t, s.pid)
		db, err := sql.Open("sqlite", s.db)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n, pieces int
		if err := db.QueryRow(`SELECT count(*), (SELECT count(*) FROM quarantine_chunks) FROM quarantine WHERE reason = 'no_header'`).Scan(&n, &pieces); err != nil || n != 1 || pieces < 20 {
			t.Fatalf("quarantined %d, in %d pieces: %v\n%s", n, pieces, err, s.logs)
		}
		t.Logf("one 25 MB mail quarantined: peak RSS %.0f MiB -> %.0f MiB (+%.0f MiB, %.2f× the mail)",
			float64(s.before)/mib, float64(peak)/mib, float64(peak-s.before)/mib, float64(peak-s.before)/size)
		// Held whole it rose by 1.4 times the mail (3.3 times stored as
		// one value); streamed, by about half of it (the SMTP spool's
		// buffers, the pieces).
		if peak-s.before > 3*size/4 {
			t.Errorf("quarantining a 25 MB mail raised the peak RSS by %.0f MiB: it was held whole", float64(peak-s.before)/mib)
		}
	})
	t.Run("four concurrent 20 MB mails", func(t *testing.T) {
		const size = 20_000_000
		s := startMemServe(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.send(fmt.Sprintf("four-%d", i), size)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("send %d: %v\n%s", i, err, s.logs)
			}
		}
		s.drained(t)
		peak := vmHWM(t, s.pid)
		t.Logf("four concurrent 20 MB mails: peak RSS %.0f MiB -> %.0f MiB", float64(s.before)/mib, float64(peak)/mib)
		if peak > 300*mib {
			t.Errorf("peak RSS %.0f MiB for four concurrent 20 MB mails, more than 300 MiB", float64(peak)/mib)
		}
	})
}
