package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/imappoll/dovecottest"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/store/pgtest"
)

// Two real `casegate serve` processes share one PostgreSQL database and
// one relay, as two machines behind two MX records would.

const instancesDBEnv = "CASEGATE_TEST_INSTANCES_DB"

// instanceConfig writes the configuration of one of the instances: its
// own data_dir and SMTP port, the shared database and relay, a short
// lease so that a killed instance's work passes on quickly, and extra
// lines.
func instanceConfig(t *testing.T, smtpAddr, relay, extra string) string {
	t.Helper()
	return writeConfig(t, t.TempDir(), fmt.Sprintf(`data_dir: data
instance_lease: 2s
database:
  driver: postgres
  url_env: %s
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
%s`, instancesDBEnv, smtpAddr, relay, extra))
}

// sendToBoth sends one mail to both instances at the same moment, as an
// MTA retrying at the other MX before the first answered. It reports how
// many of them answered 250, and whether both refused it with an SMTP
// reply (neither may have stored it).
func sendToBoth(addrs [2]string, n, seq int, id string) (acked int, refused bool) {
	var wg sync.WaitGroup
	errs := make([]error, len(addrs))
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = sendOnce(addr, n, seq, id)
		}()
	}
	wg.Wait()
	replies := 0
	for _, err := range errs {
		var se *smtp.SMTPError
		switch {
		case err == nil:
			acked++
		case errors.As(err, &se):
			replies++
		}
	}
	return acked, replies == len(addrs)
}

// bothClient sends fresh mails to both instances at once until stop is
// closed, each again until one instance acknowledged it.
func bothClient(addrs [2]string, n int, stop <-chan struct{}, l *crashLedger, twice *int) {
	for seq := 0; ; seq++ {
		id := fmt.Sprintf("both.%d.%d@customer.example", n, seq)
		for {
			select {
			case <-stop:
				return
			default:
			}
			acked, refused := sendToBoth(addrs, n, seq, id)
			l.mu.Lock()
			l.attempts += 2
			switch {
			case acked > 0:
				l.acked[id] = true
				if acked == 2 {
					*twice++
				}
			case refused:
				l.refused[id] = 451
			default:
				l.unknown++
			}
			l.mu.Unlock()
			if acked > 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Two instances take SMTP load over both listeners, some of it the same
// mails sent to both at once; one instance is killed with SIGKILL in the
// middle and started again. Every mail that got a 250 is exactly one
// case, no refused mail is stored, every confirmation reaches the relay,
// and a confirmation reaches it twice only where the instance sending it
// died during the attempt.
func TestTwoInstancesOnePostgresKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two real binaries on PostgreSQL")
	}
	url := pgtest.Database(t)
	t.Setenv(instancesDBEnv, url)
	bin := casegateBinary(t)
	relay := gatewaytest.StartRelay(t)
	addrs := [2]string{freePort(t), freePort(t)}
	// The first instance takes a new random id at each start; the second
	// has a fixed one.
	configs := [2]string{instanceConfig(t, addrs[0], relay.Addr, ""), instanceConfig(t, addrs[1], relay.Addr, "instance_id: b\n")}
	var logs [2]bytes.Buffer
	var procs [2]*exec.Cmd
	for i := range procs {
		procs[i] = startServe(t, bin, configs[i], addrs[i], &logs[i])
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
			p.Wait()
		}
	})

	ledger := &crashLedger{acked: map[string]bool{}, refused: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for n := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			crashClient(addrs[n%2], n, stop, ledger)
		}()
	}
	var twice [2]int
	for n := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bothClient(addrs, 100+n, stop, ledger, &twice[n])
		}()
	}

	time.Sleep(1500 * time.Millisecond)
	if err := procs[0].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	procs[0].Wait()
	t.Log("instance 0 killed under load")
	time.Sleep(300 * time.Millisecond)
	var restarted bytes.Buffer
	procs[0] = startServe(t, bin, configs[0], addrs[0], &restarted)
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	wg.Wait()

	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitOutboxDrained(t, db)
	checkCrashLedger(t, db, ledger)
	checkConfirmationsRelayed(t, db, relay, 1)
	checkDuplicatesExplained(t, db, relay)
	var b int
	if err := db.QueryRow(`SELECT count(*) FROM outbox_attempts WHERE instance = 'b' AND result = 'sent'`).Scan(&b); err != nil {
		t.Fatal(err)
	}
	var all int
	if err := db.QueryRow(`SELECT count(*) FROM outbox_attempts WHERE result = 'sent'`).Scan(&all); err != nil {
		t.Fatal(err)
	}
	t.Logf("the same mail to both instances: acknowledged by both %d times, stored once each; mails sent by instance b: %d of %d",
		twice[0]+twice[1], b, all)
	if b == 0 || b == all {
		t.Errorf("instance b sent %d of %d mails: the instances did not share the outbox", b, all)
	}
}

// checkDuplicatesExplained fails the test unless every mail the relay got
// more than once was tried by an instance that died (or lost its claim)
// during an attempt: one delivery per interrupted attempt at most, besides
// the one that counted. The surviving instance b never died.
func checkDuplicatesExplained(t *testing.T, db *sql.DB, relay *gatewaytest.Relay) {
	t.Helper()
	got := map[string]int{}
	for _, m := range relay.Mails() {
		got[strings.Trim(m.Header.Get("Message-Id"), "<>")]++
	}
	twice := 0
	for id, n := range got {
		if n < 2 {
			continue
		}
		twice++
		var interrupted, byB int
		err := db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE a.instance = 'b') FROM outbox_attempts a
			JOIN outbox o ON o.id = a.outbox_id WHERE o.message_id = $1 AND a.result = 'interrupted'`, id).Scan(&interrupted, &byB)
		if err != nil {
			t.Fatal(err)
		}
		if n-1 > interrupted-byB {
			t.Errorf("%s reached the relay %d times with %d attempts of a killed instance interrupted", id, n, interrupted-byB)
		}
	}
	t.Logf("%d mails reached the relay twice, each sent by the killed instance and again after it died", twice)
}

// Two instances on one PostgreSQL poll one Dovecot mailbox: the first
// takes its lease and drains a backlog while the second waits, the first
// is killed with SIGKILL mid-batch, and the second takes the mailbox over
// within the lease and finishes the backlog from the saved position.
// Every mail is exactly one case and in Processed exactly once; INBOX is
// empty.
func TestTwoInstancesShareDovecotMailbox(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two real binaries on PostgreSQL")
	}
	url := pgtest.Database(t)
	dv := dovecottest.Start(t)
	tc := dv.Client(t)
	const total = 300
	want := appendCustomerMails(tc, "INBOX", "shared", 0, total)
	bin := casegateBinary(t)
	mb := dovecotMailbox(dv, "INBOX", "move:Processed")
	const lease = 3 * time.Second
	var configs [2]string
	for i := range configs {
		configs[i] = writeConfig(t, t.TempDir(), fmt.Sprintf(`data_dir: data
instance_id: instance-%d
instance_lease: %s
database:
  driver: postgres
  url_env: %s
smtp:
  listen: %s
http:
  listen: 127.0.0.1:0
imap:
  - {name: %s, address: %s, tls: %s, username: %s, password_env: %s, folder: %s, after: "%s"}
`, i, lease, instancesDBEnv, dovecottest.FreeAddr(t), mb.Name, mb.Address, mb.TLS, mb.Username, mb.PasswordEnv, mb.Folder, mb.After))
	}
	env := []string{instancesDBEnv + "=" + url, dovecotPasswordEnv + "=" + dv.Password}

	first := startCasegate(t, bin, configs[0], env...)
	first.waitStored(t, 10)
	second := startCasegate(t, bin, configs[1], env...)
	waitUntil(t, 20*time.Second, "the second instance to wait for the mailbox", func() bool {
		return strings.Contains(second.log(), "imap mailbox polled by another instance")
	})
	first.waitStored(t, 110)
	if n := len(second.stored); n != 0 {
		t.Fatalf("the second instance stored %d mails while the first held the mailbox", n)
	}
	first.kill(t)
	killed := time.Now()
	waitUntil(t, lease+10*time.Second, "the second instance to take the mailbox over", func() bool {
		return strings.Contains(second.log(), "imap mailbox lease taken")
	})
	took := time.Since(killed)
	t.Logf("the second instance took the mailbox over %v after the first was killed (lease %v)", took.Round(10*time.Millisecond), lease)
	if took > lease+5*time.Second {
		t.Errorf("took over after %v, want within the lease (%v) and a few seconds", took, lease)
	}
	waitUntil(t, 60*time.Second, "the backlog drained", func() bool {
		return tc.Count("INBOX") == 0 && tc.Count("Processed") == total
	})
	second.stop(t)

	st := openPostgres(t, url)
	checkOneCaseEach(t, st, want)
	checkHoldsOnce(t, tc, "Processed", want)
	t.Logf("the second instance handled %d mails (duplicates of the first's last batch included)", len(second.stored))
}

// openPostgres opens the store at url, closed when the test ends.
func openPostgres(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
