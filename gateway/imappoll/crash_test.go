package imappoll

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
)

// crashHelperEnv carries a crashSpec to the helper process.
const crashHelperEnv = "CASEGATE_IMAPPOLL_CRASH_HELPER"

// crashSpec tells the helper process what to poll and where to commit.
type crashSpec struct {
	Addr, Folder, After, Dir string
}

// TestHelperCrashingGateway is not a test of its own: it is the gateway
// process that testCrashBetweenCommitAndAfter kills. It polls with a
// file-backed Deliverer and State, and after the first commit announces it
// on stdout and hangs before the after action, waiting for SIGKILL.
func TestHelperCrashingGateway(t *testing.T) {
	raw := os.Getenv(crashHelperEnv)
	if raw == "" {
		t.Skip("helper process of the crash tests")
	}
	var spec crashSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	d := newFakeDeliverer(t, filepath.Join(spec.Dir, "store"))
	d.committed = func(dl delivery) {
		fmt.Printf("COMMITTED %d\n", dl.src.UID)
		time.Sleep(time.Hour)
	}
	cfg := testConfig(spec.Addr, spec.After)
	cfg.Folder = spec.Folder
	p := newTestPoller(t, cfg, d, newMemState(t, filepath.Join(spec.Dir, "state.json")), nil)
	p.Run(context.Background())
}

// testCrashBetweenCommitAndAfter appends three mails to folder, runs the
// gateway in a child process and kills it (SIGKILL) right after the first
// mail is committed, before its after action. A restarted poller must offer
// that mail again, which the Deliverer drops as a duplicate, apply the after
// action it missed, and deliver the other two once.
func testCrashBetweenCommitAndAfter(t *testing.T, addr, folder, after string, tc *dovecottest.Client, applied func() bool) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendMails(tc, folder, "crash", 0, 3)

	spec, _ := json.Marshal(crashSpec{Addr: addr, Folder: folder, After: after, Dir: dir})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashingGateway$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+string(spec))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	committed := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "COMMITTED") {
				committed <- sc.Text()
			}
		}
		close(committed)
	}()
	select {
	case line, ok := <-committed:
		if !ok {
			cmd.Wait()
			t.Fatalf("the gateway process ended before committing:\n%s", stderr.String())
		}
		t.Logf("child: %s; killing it", line)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the gateway process committed nothing:\n%s", stderr.String())
	}
	cmd.Process.Kill()
	cmd.Wait()

	d := newFakeDeliverer(t, filepath.Join(dir, "store"))
	st := newMemState(t, filepath.Join(dir, "state.json"))
	if len(d.seen) != 1 {
		t.Fatalf("%d messages committed before the kill, want 1", len(d.seen))
	}
	if _, last := st.get("helpdesk"); last != 0 {
		t.Fatalf("position %d saved before the after action", last)
	}
	msgs := tc.Flags(folder)
	for uid, flags := range msgs {
		if hasFlag(flags, imap.FlagSeen) || hasFlag(flags, imap.FlagDeleted) {
			t.Fatalf("UID %d flagged %v before the kill", uid, flags)
		}
	}
	if len(msgs) != 3 {
		t.Fatalf("%s holds %d messages after the kill, want all 3 untouched", folder, len(msgs))
	}

	log, _ := newLogRecorder(t)
	cfg := testConfig(addr, after)
	cfg.Folder = folder
	stop := start(t, newTestPoller(t, cfg, d, st, log))
	waitFor(t, 10*time.Second, "the after action on every mail", applied)
	stop()
	if calls, stored, dups := d.counts(); calls != 3 || stored != 2 || dups != 1 {
		t.Errorf("after the restart: calls %d, stored %d, dups %d; want 3, 2, 1", calls, stored, dups)
	}
}

func TestCrashBetweenCommitAndAfter(t *testing.T) {
	ms := startMemServer(t, capsMove)
	tc := dovecottest.DialClient(t, ms.addr, testUser, testPass)
	testCrashBetweenCommitAndAfter(t, ms.addr, "INBOX", "move:Processed", tc, func() bool {
		return tc.Count("INBOX") == 0 && tc.Count("Processed") == 3
	})
}
