package imappoll

import (
	"bytes"
	"fmt"
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
	check := func(in string, max int64, want string, cut bool) {
		t.Helper()
		b, c, err := readAtMost(strings.NewReader(in), max)
		if err != nil || string(b) != want || c != cut {
			t.Errorf("readAtMost(%q, %d) = %q, %v, %v; want %q, %v", in, max, b, c, err, want, cut)
		}
	}
	check("", 3, "", false)
	check("abc", 3, "abc", false)
	check("abcd", 3, "abc", true)
}
