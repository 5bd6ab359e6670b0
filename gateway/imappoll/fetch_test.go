package imappoll

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// bigMail returns a message whose text is n bytes of filler.
func bigMail(id string, n int) []byte {
	header := fmt.Sprintf("From: a@customer.example\r\nSubject: big %s\r\nMessage-ID: <%s@customer.example>\r\n\r\n", id, id)
	return []byte(header + strings.Repeat("x", n))
}

// TestOversizedMessages: over the limit a message is still delivered whole
// for quarantine; beyond four times the limit only its header and the start
// of its text are, marked truncated. The mailbox carries on either way.
func TestOversizedMessages(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	const limit = 1000
	over, absurd, small := bigMail("over", 3*limit), bigMail("absurd", 10*limit), testMail("small", 1)
	tc.Append("INBOX", over)
	tc.Append("INBOX", absurd)
	tc.Append("INBOX", small)

	log, _ := newLogRecorder(t)
	d := newFakeDeliverer(t, "")
	cfg := testConfig(ms.addr, "move:Quarantined")
	cfg.MaxMessageBytes = limit
	start(t, newTestPoller(t, cfg, d, newMemState(t, ""), log))
	waitFor(t, 5*time.Second, "three deliveries", func() bool { _, n, _ := d.counts(); return n == 3 })
	waitFor(t, 5*time.Second, "inbox emptied", func() bool { return tc.Count("INBOX") == 0 })

	got := d.deliveries()
	if !bytes.Equal(got[0].raw, over) || got[0].src.Truncated || got[0].src.Size != int64(len(over)) {
		t.Errorf("over the limit: got %d bytes truncated=%v size=%d, want all %d", len(got[0].raw),
			got[0].src.Truncated, got[0].src.Size, len(over))
	}
	header := absurd[:bytes.Index(absurd, []byte("\r\n\r\n"))+4]
	want := append(append([]byte(nil), header...), absurd[len(header):len(header)+limit]...)
	if !bytes.Equal(got[1].raw, want) || !got[1].src.Truncated || got[1].src.Size != int64(len(absurd)) {
		t.Errorf("absurd: got %d bytes truncated=%v size=%d, want header + %d bytes, truncated, size %d",
			len(got[1].raw), got[1].src.Truncated, got[1].src.Size, limit, len(absurd))
	}
	if !bytes.Equal(got[2].raw, small) || got[2].src.Truncated {
		t.Errorf("the small message after them was not delivered whole")
	}
}

func TestReadAtMost(t *testing.T) {
	dir := t.TempDir()
	check := func(in string, max int64, want string, cut bool) {
		t.Helper()
		m, c, err := readAtMost(strings.NewReader(in), max, dir)
		if err != nil {
			t.Fatalf("readAtMost(%d bytes, %d): %v", len(in), max, err)
		}
		defer m.Close()
		b, err := m.Whole()
		if err != nil || string(b) != want || c != cut {
			t.Errorf("readAtMost(%.20q, %d) = %.20q, %v, %v; want %.20q, %v", in, max, b, c, err, want, cut)
		}
	}
	check("", 3, "", false)
	check("abc", 3, "abc", false)
	check("abcd", 3, "abc", true)
	// A large message goes to a file in the spool directory, which is
	// empty again once it is closed.
	big := strings.Repeat("0123456789", 100_000)
	check(big, 2_000_000, big, false)
	check(big+"more", int64(len(big)), big, true)
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("%d files left in the spool (%v)", len(left), err)
	}
}

// TestLargeMessagesThroughSpool: messages larger than the spool's memory
// threshold are fetched into spool files and delivered byte for byte, one
// at a time and in batches, whole or truncated; the spool is empty once
// they are delivered.
func TestLargeMessagesThroughSpool(t *testing.T) {
	for _, batched := range []bool{false, true} {
		t.Run(fmt.Sprintf("batched=%v", batched), func(t *testing.T) {
			ms := startMemServer(t, capsMove)
			tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
			const limit = 300 << 10
			large, absurd := bigMail("large", limit/2), bigMail("absurd", 5*limit)
			over := bigMail("over", 2*limit)
			for _, m := range [][]byte{large, absurd, over} {
				tc.Append("INBOX", m)
			}
			log, _ := newLogRecorder(t)
			f := newFakeDeliverer(t, "")
			var d Deliverer = f
			if batched {
				d = &batchDeliverer{fakeDeliverer: f}
			}
			cfg := testConfig(ms.addr, "move:Quarantined")
			cfg.MaxMessageBytes = limit
			cfg.SpoolDir = t.TempDir()
			start(t, newTestPoller(t, cfg, d, newMemState(t, ""), log))
			waitFor(t, 10*time.Second, "three deliveries", func() bool { _, n, _ := f.counts(); return n == 3 })

			got := f.deliveries()
			header := absurd[:bytes.Index(absurd, []byte("\r\n\r\n"))+4]
			cut := append(append([]byte(nil), header...), absurd[len(header):len(header)+limit]...)
			if !bytes.Equal(got[0].raw, large) || got[0].src.Truncated {
				t.Errorf("large: %d bytes, truncated %v", len(got[0].raw), got[0].src.Truncated)
			}
			if !bytes.Equal(got[1].raw, cut) || !got[1].src.Truncated {
				t.Errorf("absurd: %d bytes, truncated %v, want %d", len(got[1].raw), got[1].src.Truncated, len(cut))
			}
			if !bytes.Equal(got[2].raw, over) || got[2].src.Truncated {
				t.Errorf("over: %d bytes, truncated %v", len(got[2].raw), got[2].src.Truncated)
			}
			waitFor(t, 5*time.Second, "an empty spool", func() bool {
				left, err := os.ReadDir(cfg.SpoolDir)
				return err == nil && len(left) == 0
			})
		})
	}
}
