package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"time"
)

// Several instances on one database share the work that must be done
// once: each outbox row is sent by the instance that claimed it, and each
// IMAP mailbox is polled by the instance that holds its lease. Both are
// leases in the database, owned by the instance's id and renewed while it
// works; the work of an instance that stops renewing (it died, or lost
// the database) passes to another once the lease ran out.

// DefaultLease is how long a claim on an outbox row or the lease on a
// mailbox lasts unless renewed. Holders renew at a third of it, so the
// work of an instance that died passes to another within the lease.
const DefaultLease = 20 * time.Second

// instanceDefaults returns the instance id and lease to use: a new random
// id when id is empty, DefaultLease when lease is not positive.
func instanceDefaults(id string, lease time.Duration) (string, time.Duration) {
	if id == "" {
		id = NewInstanceID()
	}
	if lease <= 0 {
		lease = DefaultLease
	}
	return id, lease
}

// NewInstanceID returns a fresh instance id: the host name and a random
// suffix, so that an operator reading an outbox attempt or a mailbox
// lease sees which machine it was and no two starts share an id.
func NewInstanceID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "casegate"
	}
	if i := strings.IndexByte(host, '.'); i > 0 {
		host = host[:i]
	}
	return host + "-" + hex.EncodeToString(b)
}

// InstanceID is the id this gateway claims outbox rows and mailbox leases
// under.
func (g *Gateway) InstanceID() string { return g.cfg.InstanceID }

// Lease is how long this gateway's claims and mailbox leases last unless
// renewed.
func (g *Gateway) Lease() time.Duration { return g.cfg.Lease }
