package imappoll

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
)

var errConnClosed = errors.New("connection closed by the server")

// waitForMail returns when new mail may have arrived: at an EXISTS during
// IDLE, after the IDLE restart interval, or after Config.PollInterval where
// the server has no IDLE. It returns ctx.Err() once ctx is done.
func (s *session) waitForMail(ctx context.Context) error {
	if s.caps.Has(imap.CapIdle) && !s.p.disableIdle {
		return s.idle(ctx)
	}
	return s.poll(ctx)
}

// idle runs one IDLE command (RFC 2177). We end it ourselves every
// p.idleRestart, before servers drop it (at 30 minutes at the earliest), and
// go round the catch-up again, which doubles as a check that the
// connection is alive.
func (s *session) idle(ctx context.Context) error {
	disarm := s.guard(s.p.cmdTimeout)
	cmd, err := s.c.Idle() // returns once the server accepted it
	disarm()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	restart := time.NewTimer(s.p.idleRestart)
	defer restart.Stop()

	var ended error
	select {
	case <-s.newMail:
	case <-restart.C:
	case <-ctx.Done():
		ended = ctx.Err()
	case <-s.c.Closed():
		ended = errConnClosed
	}
	defer s.guard(s.p.cmdTimeout)()
	if err := cmd.Close(); err != nil && ended == nil {
		ended = fmt.Errorf("stop idle: %w", err)
	}
	if err := cmd.Wait(); err != nil && ended == nil {
		ended = fmt.Errorf("idle: %w", err)
	}
	return ended
}

// poll waits Config.PollInterval; the catch-up's search that follows is the
// poll itself.
func (s *session) poll(ctx context.Context) error {
	t := time.NewTimer(s.p.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.newMail: // an EXISTS sent along with some other response
	case <-ctx.Done():
		return ctx.Err()
	case <-s.c.Closed():
		return errConnClosed
	}
	defer s.guard(s.p.cmdTimeout)()
	if err := s.c.Noop().Wait(); err != nil {
		return fmt.Errorf("noop: %w", err)
	}
	return nil
}
