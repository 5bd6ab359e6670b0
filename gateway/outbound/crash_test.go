package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/gateway/outbound"
	"github.com/casegate/casegate/store"
)

// dyingQueue records results normally until after records outcomes, then
// behaves as a process that died: nothing more reaches the database.
type dyingQueue struct {
	outbound.Queue
	after int

	mu       sync.Mutex
	recorded int
	dead     bool
	died     chan struct{}
}

func (q *dyingQueue) Claim(ctx context.Context, limit int, exclude []int64) ([]store.ClaimedMail, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return nil, errors.New("the process is dead")
	}
	return q.Queue.Claim(ctx, limit, exclude)
}

func (q *dyingQueue) Renew(ctx context.Context, ids []int64) ([]int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return nil, errors.New("the process is dead")
	}
	return q.Queue.Renew(ctx, ids)
}

func (q *dyingQueue) FinishAttempts(ctx context.Context, outcomes []store.AttemptOutcome) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.dead && q.recorded >= q.after {
		q.dead = true
		close(q.died)
	}
	if q.dead {
		return errors.New("the process is dead")
	}
	q.recorded += len(outcomes)
	return q.Queue.FinishAttempts(ctx, outcomes)
}

// A crash between batches loses nothing: the results recorded before it
// stand (those mails are not sent again), the attempts started after the
// last recorded batch are found "started" and marked interrupted at the
// next start, and their mails go again with the same Message-ID.
func TestCrashBetweenBatchesLosesNothing(t *testing.T) {
	e := newEnv(t)
	relay := gatewaytest.StartRelay(t)
	const n = 24
	for i := range n {
		e.queue(t, fmt.Sprintf("r%d@customer.example", i), 1)
	}
	q := &dyingQueue{Queue: e.box, after: 6, died: make(chan struct{})}
	stop := start(t, e.pool(t, outbound.Config{Concurrency: 2, Batch: 4}, relaySender(t, relay), q))
	<-q.died
	stop()
	e.st.Close()

	first := messageIDs(relay.Mails())
	e.open(t) // the next process
	rows, err := e.st.ListOutbox(context.Background(), "", 0)
	if err != nil || len(rows) != n+1 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	var sentBefore, open int
	for _, m := range rows {
		a := e.attempts(t, m.ID)
		relayed := first["<"+m.MessageID+">"] > 0
		switch {
		case m.Status == store.OutboxSent:
			sentBefore++
		case len(a) > 0 && a[len(a)-1].Result == store.AttemptStarted:
			open++
		case relayed:
			t.Fatalf("row %d reached the relay with no attempt recorded before: %+v", m.ID, a)
		}
	}
	if sentBefore < 6 || open == 0 {
		t.Fatalf("before the restart: %d recorded sent, %d attempts left open; want at least 6 and some", sentBefore, open)
	}

	start(t, e.pool(t, outbound.Config{Concurrency: 2, Batch: 4}, relaySender(t, relay), nil))
	e.waitSent(t, n+1)
	if !strings.Contains(e.logs.String(), "outbox attempts interrupted by the last stop") {
		t.Errorf("the interrupted attempts were not logged")
	}
	all := messageIDs(relay.Mails())
	for _, m := range rows {
		id := "<" + m.MessageID + ">"
		a := e.attempts(t, m.ID)
		switch {
		case all[id] == 0:
			t.Errorf("row %d never reached the relay", m.ID)
		case m.Status == store.OutboxSent && all[id] != 1:
			t.Errorf("row %d was recorded sent before the crash but went %d times", m.ID, all[id])
		case len(a) > 0 && a[0].Result == store.AttemptInterrupted && a[len(a)-1].Result != store.AttemptSent:
			t.Errorf("row %d: attempts %+v, want interrupted then sent", m.ID, a)
		}
		if got := e.outbox(t, m.ID); got.Status != store.OutboxSent || got.MessageID != m.MessageID {
			t.Errorf("row %d after the restart: %s, Message-ID %s", m.ID, got.Status, got.MessageID)
		}
	}
}
