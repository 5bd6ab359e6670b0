package imappoll

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
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
			tc := dialTestClient(t, ms.addr, testUser, testPass)
			tc.appendMails("INBOX", tt.name, 0, 7)
			log, _ := newLogRecorder(t)
			d := newFakeDeliverer(t, "")
			start(t, newTestPoller(t, testConfig(ms.addr, tt.after), d, newMemState(t, ""), log))

			waitFor(t, 5*time.Second, "the inbox emptied", func() bool { return tc.count("INBOX") == 0 })
			if _, stored, _ := d.counts(); stored != 7 {
				t.Fatalf("stored %d, want 7", stored)
			}
			if folder, ok := strings.CutPrefix(tt.after, "move:"); ok {
				if n := tc.count(folder); n != 7 {
					t.Errorf("%s holds %d messages, want 7", folder, n)
				}
			}
		})
	}
}

// TestMoveIntoExistingFolder: ALREADYEXISTS from CREATE is fine.
func TestMoveIntoExistingFolder(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dialTestClient(t, ms.addr, testUser, testPass)
	tc.create("Processed")
	tc.append("Processed", testMail("old", 0))
	tc.appendMails("INBOX", "new", 0, 3)
	log, _ := newLogRecorder(t)
	start(t, newTestPoller(t, testConfig(ms.addr, "move:Processed"), newFakeDeliverer(t, ""), newMemState(t, ""), log))
	waitFor(t, 5*time.Second, "moved", func() bool { return tc.count("Processed") == 4 })
}
