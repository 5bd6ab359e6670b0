package store

import (
	"context"
	"time"
)

// Checkpoints off the writer's path. In WAL mode SQLite copies the log
// back into the database file (a checkpoint, with its own fsync) whenever
// the log passes 1,000 pages, in the connection whose COMMIT passed it:
// with one writer that is a stall of every mail queued behind that
// commit. A long-running gateway (Options.BackgroundCheckpoint) turns the
// automatic checkpoint off on the writer and checkpoints from a reader
// connection instead, every checkpointEvery, in PASSIVE mode: it copies
// what no reader still needs and never waits for, or blocks, the writer.
// Short-lived processes (pipe mode, the CLI) keep SQLite's automatic
// checkpoint, so the log never grows without bound.

const checkpointEvery = 250 * time.Millisecond

// startCheckpointer turns the writer's automatic checkpoint off and runs
// passive checkpoints until Close.
func (s *Store) startCheckpointer(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		return err
	}
	s.ckStop, s.ckDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.ckDone)
		t := time.NewTicker(checkpointEvery)
		defer t.Stop()
		for {
			select {
			case <-s.ckStop:
				return
			case <-t.C:
				// An error (a busy reader) only means the next tick copies
				// more; the log stays correct either way.
				_, _ = s.r.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
			}
		}
	}()
	return nil
}

// stopCheckpointer ends the background checkpoints, if any.
func (s *Store) stopCheckpointer() {
	if s.ckStop != nil {
		close(s.ckStop)
		<-s.ckDone
		s.ckStop = nil
	}
}
