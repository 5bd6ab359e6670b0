package imappoll

import (
	"context"
	"time"

	"github.com/casegate/casegate/gateway/spool"
)

// Source tells the Deliverer where a message came from.
type Source struct {
	Mailbox     string // Config.Name
	Folder      string // the polled folder
	UIDValidity uint32
	UID         uint32
	Kind        string // Config.Kind: "case" or "order"
	Forwarding  bool   // Config.Forwarding: mail comes wrapped, as an attachment
	// Size is the message size the server reports (RFC822.SIZE). It can
	// exceed len(raw) when Truncated is set.
	Size int64
	// Truncated is set when the message was more than four times
	// Config.MaxMessageBytes: raw then holds its header section followed by
	// the first MaxMessageBytes of its text only, and must be quarantined as
	// too big rather than parsed.
	Truncated bool
}

// Deliverer stores one message. The message is in memory or, when
// large, in a spool file (package spool); the poller removes it after
// Deliver returns.
//
// A nil error means the message is durably committed, or was stored before
// (a duplicate by Message-ID or, without one, by content hash), or was kept
// in quarantine because it is too big or cannot be parsed. Only after a nil
// error does the poller flag, move or delete the message on the server.
//
// A non-nil error means nothing was stored and the failure is temporary: the
// poller retries the same message after a backoff and never skips past it.
// An implementation must therefore never return an error for a message it
// will never accept; it quarantines such a message and returns nil.
//
// The context is not cancelled when the poller is asked to stop: the message
// in hand is finished first, within a grace period.
type Deliverer interface {
	Deliver(ctx context.Context, mail *spool.Message, src Source) error
}

// State persists each mailbox's position so a restart resumes where it left
// off. Load returns zeros for a mailbox it has never seen. Save must be
// durable when it returns nil. Positions are keyed by Config.Name.
type State interface {
	Load(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, err error)
	Save(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error
}

// Message is one fetched message for a BatchDeliverer.
type Message struct {
	Mail *spool.Message
	Src  Source
}

// BatchDeliverer is a Deliverer that can also store several messages of
// one mailbox at once, in UID order, so that they share a database
// commit. errs[i] means for msgs[i] what Deliver's error means for one
// message; a later message may be stored although an earlier one failed.
// A Deliverer without this method gets its messages one at a time.
type BatchDeliverer interface {
	Deliverer
	DeliverBatch(ctx context.Context, msgs []Message) (errs []error)
}

// Lock is a State that also shares its mailboxes between instances: each
// mailbox is polled by the one instance that holds its lease. A poller
// whose State implements Lock polls only while it holds the lease; it
// renews it at a third of its time, stops polling as soon as it learns
// another instance took the mailbox over, or when it could not renew
// before its lease would run out, and waits meanwhile for the lease to
// come free. Since it resumes from the State's position, and the
// Deliverer recognises what was stored before, an instance taking a
// mailbox over from one that died creates nothing twice.
type Lock interface {
	// Acquire takes the lease on mailbox for this instance, or renews the
	// lease it holds, and returns the lease as it stands: held by this
	// instance, or by another until Until. Another instance's lease is
	// taken over only once it has run out.
	Acquire(ctx context.Context, mailbox string) (Lease, error)
	// Release gives up this instance's lease, so another instance may
	// take the mailbox at once.
	Release(ctx context.Context, mailbox string) error
}

// Lease is who polls a mailbox, and until when unless renewed.
type Lease struct {
	Held   bool   // by this instance
	Holder string // the holder's name, for the logs
	Until  time.Time
}
