package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/store/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// databases are where the tests of several instances run: two handles
// on one SQLite file (two processes on one machine), and PostgreSQL.
var databases = []struct {
	name string
	loc  func(t testing.TB) string
}{
	{store.BackendSQLite, func(t testing.TB) string { return filepath.Join(t.TempDir(), "casegate.db") }},
	{store.BackendPostgres, pgtest.Database},
}

// Two instances run their pools on one outbox at once: every mail
// reaches the relay exactly once, and a case's mails to one recipient
// arrive in the order they were queued, whichever instance sent them.
func TestTwoPoolsNeverSendTheSameRow(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			a := newEnvAt(t, db.loc(t), "a", 0)
			b := a.twin(t, "b", 0)
			relay := gatewaytest.StartRelay(t)
			const recipients, perRecipient = 12, 8
			var queued [][]int64 // per recipient, in queue order
			for i := range recipients {
				queued = append(queued, a.queue(t, fmt.Sprintf("r%d@customer.example", i), perRecipient))
			}
			cfg := outbound.Config{Concurrency: 3, Batch: 6, Poll: 50 * time.Millisecond}
			start(t, a.pool(t, cfg, relaySender(t, relay), nil))
			start(t, b.pool(t, cfg, relaySender(t, relay), nil))
			total := recipients*perRecipient + 1 // and the case's confirmation
			a.waitSent(t, total)

			got := relay.Mails()
			seen := messageIDs(got)
			for id, n := range seen {
				if n != 1 {
					t.Errorf("%s reached the relay %d times", id, n)
				}
			}
			if len(seen) != total {
				t.Fatalf("%d distinct mails at the relay, want %d", len(seen), total)
			}
			arrived := map[string]int{} // Message-ID -> position at the relay
			for i, m := range got {
				arrived[m.Header.Get("Message-Id")] = i
			}
			by := map[string]int{} // mails sent per instance
			for _, ids := range queued {
				last := -1
				for _, id := range ids {
					m := a.outbox(t, id)
					pos := arrived["<"+m.MessageID+">"]
					if pos < last {
						t.Errorf("row %d to %s overtook an older mail of its case", id, m.Recipient)
					}
					last = pos
					att := a.attempts(t, id)
					if len(att) != 1 || att[0].Result != store.AttemptSent {
						t.Errorf("row %d: attempts %+v, want one, sent", id, att)
						continue
					}
					by[att[0].Instance]++
				}
			}
			t.Logf("%d mails, each sent once, in order per case and recipient; sent per instance: %v", total, by)
		})
	}
}

// stuckSender accepts nothing: each Send waits until the test ends, as
// on an instance that hangs.
type stuckSender struct{ release chan struct{} }

func (s stuckSender) NewSession() outbound.Session {
	return outbound.SendFunc(func(ctx context.Context, _ *gomail.Msg) error {
		select {
		case <-s.release:
		case <-ctx.Done():
		}
		return errors.New("stuck")
	}).NewSession()
}

// silentQueue claims through Queue, then renews and records nothing: an
// instance that hangs after its claim.
type silentQueue struct {
	outbound.Queue
	once    sync.Once
	claimed chan struct{}
}

func (q *silentQueue) Claim(ctx context.Context, limit int, exclude []int64) ([]store.ClaimedMail, error) {
	got, err := q.Queue.Claim(ctx, limit, exclude)
	if len(got) > 0 {
		q.once.Do(func() { close(q.claimed) })
	}
	return got, err
}

func (q *silentQueue) Renew(context.Context, []int64) ([]int64, error) {
	return nil, errors.New("hung")
}

func (q *silentQueue) FinishAttempts(context.Context, []store.AttemptOutcome) error {
	return errors.New("hung")
}

// An instance claims a mail and then stops answering: it neither renews
// its claim nor records a result. Once the claim ran out, the other
// instance takes the mail over and sends it; the first attempt reads as
// interrupted, naming the instance whose claim ran out.
func TestExpiredClaimIsTakenOverByAnotherPool(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			const lease = 600 * time.Millisecond
			a := newEnvAt(t, db.loc(t), "a", lease)
			b := a.twin(t, "b", lease)
			relay := gatewaytest.StartRelay(t)
			stuck := stuckSender{release: make(chan struct{})}
			t.Cleanup(func() { close(stuck.release) })
			q := &silentQueue{Queue: a.box, claimed: make(chan struct{})}
			cfg := outbound.Config{Concurrency: 1, Poll: 50 * time.Millisecond, Renew: lease / 3, Grace: 50 * time.Millisecond}
			start(t, a.pool(t, cfg, stuck, q))
			row := a.row.ID
			<-q.claimed
			claimedAt := time.Now()
			start(t, b.pool(t, cfg, relaySender(t, relay), nil))
			b.waitSent(t, 1)
			t.Logf("sent by b %v after a claimed it", time.Since(claimedAt).Round(10*time.Millisecond))
			att := b.attempts(t, row)
			if len(att) != 2 || att[0].Result != store.AttemptInterrupted || att[0].Instance != "a" ||
				!strings.Contains(att[0].Error, "instance a") || att[1].Result != store.AttemptSent || att[1].Instance != "b" {
				t.Fatalf("attempts %+v, want a's interrupted, then b's sent", att)
			}
			if n := len(relay.Mails()); n != 1 {
				t.Fatalf("%d mails at the relay, want 1", n)
			}
		})
	}
}
