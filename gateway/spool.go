package gateway

import (
	"context"
	"fmt"

	"golang.org/x/sync/semaphore"

	"github.com/casegate/casegate/gateway/spool"
)

// Receiving a message costs memory in proportion to what is in hand,
// not to what a client could send:
//
//   - A message larger than 256 KiB is written to a file in the spool
//     directory while it arrives (package spool), so a slow or large
//     transfer holds a file, not memory.
//   - Ingestion reads a spooled message from its file: its digest in one
//     pass, the parser in pieces (mailparse.ParseFrom), DKIM from a
//     reader, and the store writes its raw bytes in pieces. What it holds
//     is the decoded text (for a plain mail about the mail's size), never
//     the raw mail as well. Only a quarantined message is read back whole,
//     since the quarantine keeps it as one value.
//   - An SMTP message takes its size from the memory budget (memBudget)
//     before it is parsed and stored: the budget bounds the mail being
//     parsed and stored at once; a message waits for room, at most until
//     its ingestion deadline.

// PrepareSpool creates the spool directory and removes the files a
// stopped process left in it (spool.Prepare).
func PrepareSpool(dir string) error { return spool.Prepare(dir) }

// memBudget bounds the bytes of messages held in memory at once.
type memBudget struct {
	sem   *semaphore.Weighted
	limit int64
}

func newMemBudget(limit int64) *memBudget {
	return &memBudget{sem: semaphore.NewWeighted(limit), limit: limit}
}

// acquire takes n bytes (at most the whole budget) and returns the
// function that gives them back; it fails when ctx ends first.
func (b *memBudget) acquire(ctx context.Context, n int64) (func(), error) {
	n = min(max(n, 1), b.limit)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, &TemporaryError{Err: fmt.Errorf("waiting for memory for a message of %d bytes: %w", n, err)}
	}
	return func() { b.sem.Release(n) }, nil
}
