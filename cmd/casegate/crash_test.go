package main

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest/freeport"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway/gatewaytest"
)

// crashLedger is what the SMTP clients saw for each Message-ID.
type crashLedger struct {
	mu       sync.Mutex
	acked    map[string]bool // got 250 after DATA
	refused  map[string]int  // got an explicit 4xx/5xx, never a 250
	unknown  int             // the connection died: stored or not, both allowed
	attempts int
}

// crashClient sends fresh mails until stop is closed; a mail whose fate
// is unknown or refused is sent again, as a real MTA would.
func crashClient(addr string, n int, stop <-chan struct{}, l *crashLedger) {
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		id := fmt.Sprintf("crash.%d.%d@customer.example", n, seq)
		for tries := 0; ; tries++ {
			select {
			case <-stop:
				return
			default:
			}
			err := sendOnce(addr, n, seq, id)
			l.mu.Lock()
			l.attempts++
			var se *smtp.SMTPError
			switch {
			case err == nil:
				l.acked[id] = true
			case errors.As(err, &se):
				l.refused[id] = se.Code
			default:
				l.unknown++
			}
			l.mu.Unlock()
			if err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func sendOnce(addr string, n, seq int, id string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	from := fmt.Sprintf("user%d.%d@customer.example", n, seq)
	raw := fmt.Sprintf("From: %s\r\nTo: support@localhost\r\nSubject: crash test %d/%d\r\nMessage-ID: <%s>\r\n\r\nBody %d/%d.\r\n",
		from, n, seq, id, n, seq)
	if err := c.SendMail(from, []string{"support@localhost"}, strings.NewReader(raw)); err != nil {
		return err
	}
	_ = c.Quit()
	return nil
}

func freePort(t *testing.T) string {
	t.Helper()
	return freeport.For(t)
}

// startServe starts `casegate serve` and waits until SMTP answers.
func startServe(t *testing.T, bin, config, smtpAddr string, logs *bytes.Buffer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", config)
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", smtpAddr); err == nil {
			c.Close()
			return cmd
		}
	}
	cmd.Process.Kill()
	t.Fatalf("casegate serve did not listen on %s\n%s", smtpAddr, logs)
	return nil
}

// The real binary is killed with SIGKILL at random moments while several
// clients send mail, and restarted. Every acknowledged mail must be stored
// exactly once, no refused mail stored, and every confirmation handed to
// the relay at least once. CASEGATE_CRASH_KILLS sets the number of kills
// (default 5).
func TestCrashSafetyUnderSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the real binary")
	}
	kills := 5
	if v := os.Getenv("CASEGATE_CRASH_KILLS"); v != "" {
		kills, _ = strconv.Atoi(v)
	}
	bin := casegateBinary(t)
	relay := gatewaytest.StartRelay(t)
	dir := t.TempDir()
	smtpAddr := freePort(t)
	// A fixed instance_id: each restart takes back at once the mail the
	// killed process was sending.
	config := writeConfig(t, dir, fmt.Sprintf(`data_dir: data
instance_id: crash-test
smtp:
  listen: %s
  max_connections_per_ip_per_minute: 100000
http:
  listen: 127.0.0.1:0
outbound:
  relay: %s
  tls: none
  retry_first: 1s
  retry_max: 2s
  circuit_breaker: 100000
  budget_per_source_per_hour: 100000
`, smtpAddr, relay.Addr))

	ledger := &crashLedger{acked: map[string]bool{}, refused: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for n := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			crashClient(smtpAddr, n, stop, ledger)
		}()
	}
	var logs bytes.Buffer
	for i := range kills {
		cmd := startServe(t, bin, config, smtpAddr, &logs)
		time.Sleep(time.Duration(100+rand.IntN(500)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		t.Logf("kill %d after the gateway ran a while", i+1)
	}
	cmd := startServe(t, bin, config, smtpAddr, &logs)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()

	db, err := sql.Open("sqlite", filepath.Join(dir, "data", "casegate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitOutboxDrained(t, db)
	checkCrashLedger(t, db, ledger)
	checkConfirmationsRelayed(t, db, relay, kills)
}

func waitOutboxDrained(t *testing.T, db *sql.DB) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var pending int
		if err := db.QueryRow(`SELECT count(*) FROM outbox WHERE status <> 'sent'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d outbox rows still not sent", pending)
		}
	}
}

func checkCrashLedger(t *testing.T, db *sql.DB, l *crashLedger) {
	t.Helper()
	stored := map[string]int{}
	rows, err := db.Query(`SELECT message_id, count(*) FROM messages GROUP BY message_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		stored[id] = n
	}
	for id := range l.acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged %s stored %d times, want exactly once", id, stored[id])
		}
	}
	for id, code := range l.refused {
		if !l.acked[id] && stored[id] != 0 {
			t.Errorf("%s was refused with %d but is stored", id, code)
		}
	}
	codes := map[int]int{}
	for _, code := range l.refused {
		codes[code]++
	}
	unacked := 0
	for id := range stored {
		if !l.acked[id] {
			unacked++ // committed, the 250 lost with the process
		}
	}
	t.Logf("%d sends: %d acknowledged, %d refused (codes %v), %d cut off; %d stored (%d stored but not acknowledged)",
		l.attempts, len(l.acked), len(l.refused), codes, l.unknown, len(stored), unacked)
	if len(l.acked) == 0 {
		t.Fatal("no mail was acknowledged at all")
	}
}

func checkConfirmationsRelayed(t *testing.T, db *sql.DB, relay *gatewaytest.Relay, kills int) {
	t.Helper()
	got := map[string]int{}
	for _, m := range relay.Mails() {
		got[strings.Trim(m.Header.Get("Message-Id"), "<>")]++
	}
	rows, err := db.Query(`SELECT message_id FROM outbox WHERE template = 'case_created'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	confirmations, duplicates := 0, 0
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		confirmations++
		if got[id] == 0 {
			t.Errorf("confirmation %s never reached the relay", id)
		}
		duplicates += max(got[id]-1, 0)
	}
	var cases int
	if err := db.QueryRow(`SELECT count(*) FROM cases`).Scan(&cases); err != nil {
		t.Fatal(err)
	}
	if confirmations != cases {
		t.Errorf("%d confirmations for %d cases", confirmations, cases)
	}
	t.Logf("%d kills; %d confirmations, each relayed at least once; %d duplicates delivered", kills, confirmations, duplicates)
}
