package imappoll

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// TestAfterActions: each after action, with and without MOVE and UIDPLUS.
func TestAfterActions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		caps  imap.CapSet
		after string
	}{
		{"move", capsMove, "move:Processed"},
		{"copy_uidplus", capsCopy, "move:Processed"},
		{"copy_expunge", capsPlain, "move:Done/Cases"},
		{"delete_uidplus", capsMove, "delete"},
		{"delete_expunge", capsPlain, "delete"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ms := startMemServer(t, tt.caps)
			tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
			appendMails(tc, "INBOX", tt.name, 0, 7)
			log, _ := newLogRecorder(t)
			d := newFakeDeliverer(t, "")
			start(t, newTestPoller(t, testConfig(ms.addr, tt.after), d, newMemState(t, ""), log))

			waitFor(t, 5*time.Second, "the inbox emptied", func() bool { return tc.Count("INBOX") == 0 })
			if _, stored, _ := d.counts(); stored != 7 {
				t.Fatalf("stored %d, want 7", stored)
			}
			if folder, ok := strings.CutPrefix(tt.after, "move:"); ok {
				if n := tc.Count(folder); n != 7 {
					t.Errorf("%s holds %d messages, want 7", folder, n)
				}
			}
		})
	}
}

// TestMoveIntoExistingFolder: ALREADYEXISTS from CREATE is fine.
func TestMoveIntoExistingFolder(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	tc.Create("Processed")
	tc.Append("Processed", testMail("old", 0))
	appendMails(tc, "INBOX", "new", 0, 3)
	log, _ := newLogRecorder(t)
	start(t, newTestPoller(t, testConfig(ms.addr, "move:Processed"), newFakeDeliverer(t, ""), newMemState(t, ""), log))
	waitFor(t, 5*time.Second, "moved", func() bool { return tc.Count("Processed") == 4 })
}
