package gateway

import (
	"errors"
	"sync"
	"time"

	"github.com/casegate/casegate/store"
)

// A full disk is named for what it is on every path (store.ErrStorageFull):
//
//	SMTP       452 4.3.1 Insufficient system storage (RFC 3463), so the sender retries
//	pipe       exit 75, "4.3.1 ..." on stderr, so the MTA keeps the mail queued
//	HTTP API   503 with the stable code insufficient_storage
//	/healthz   status "degraded", storage "full" with the reason
//
// The condition is logged at ERROR at most once per storageLogEvery, with
// the count of the failures in between; it is over at the first write
// that succeeds again, or storageLogEvery after the last failure.

// storageLogEvery is the shortest interval between two ERROR lines about a
// full disk, and how long /healthz remembers one.
const storageLogEvery = time.Minute

// storageState remembers the last full-disk failure.
type storageState struct {
	mu         sync.Mutex
	lastFull   time.Time // last failure; zero when storage is fine
	lastLogged time.Time
	suppressed int // failures not logged since lastLogged
	reason     string
}

// isStorageFull reports whether err is a full disk, however deep the store
// or the file system wrapped it.
func isStorageFull(err error) bool {
	return err != nil && errors.Is(store.Classify(err), store.ErrStorageFull)
}

// noteStorage reports whether err is a full disk; if it is, it records it
// for /healthz and logs it, at most once per storageLogEvery. where names
// the operation that failed.
func (g *Gateway) noteStorage(where string, err error) bool {
	if !isStorageFull(err) {
		return false
	}
	now := g.store.Now()
	s := &g.disk
	s.mu.Lock()
	s.lastFull, s.reason = now, where+": "+store.Classify(err).Error()
	logIt := s.lastLogged.IsZero() || now.Sub(s.lastLogged) >= storageLogEvery
	suppressed := s.suppressed
	if logIt {
		s.lastLogged, s.suppressed = now, 0
	} else {
		s.suppressed++
	}
	s.mu.Unlock()
	if logIt {
		g.log.Error("storage full: the disk holding the database is full; mail is refused as temporary (SMTP 452 4.3.1, pipe 75) until space is freed",
			"where", where, "err", err, "failures_since_last_report", suppressed)
	}
	return true
}

// storageOK ends a full-disk condition after a successful write.
func (g *Gateway) storageOK() {
	s := &g.disk
	s.mu.Lock()
	was := !s.lastFull.IsZero()
	s.lastFull, s.lastLogged, s.suppressed = time.Time{}, time.Time{}, 0
	s.mu.Unlock()
	if was {
		g.log.Info("storage writable again")
	}
}

// storageHealth adds "storage" to the /healthz body: "ok", or "full" with
// storage_reason and status "degraded" while a full disk was seen within
// storageLogEvery and no write succeeded since.
func (g *Gateway) storageHealth(body map[string]any) {
	s := &g.disk
	s.mu.Lock()
	full := !s.lastFull.IsZero() && g.store.Now().Sub(s.lastFull) < storageLogEvery
	since, reason := s.lastFull, s.reason
	s.mu.Unlock()
	body["storage"] = "ok"
	if !full {
		return
	}
	body["storage"] = "full"
	body["storage_reason"] = "the disk holding the database is full (last failure at " +
		since.UTC().Format(time.RFC3339) + ", " + reason + "); mail is refused as temporary until space is freed"
	if body["status"] == "ok" {
		body["status"] = "degraded"
	}
}

// temporary wraps a failed write as the TemporaryError a transport
// answers, classified (store.ErrStorageFull) and noted when it is a full
// disk.
func (g *Gateway) temporary(where string, err error) *TemporaryError {
	err = store.Classify(err)
	g.noteStorage(where, err)
	return &TemporaryError{Err: err}
}
