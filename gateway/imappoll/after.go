package imappoll

import (
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"
)

// applyAfter applies the mailbox's after action to committed messages.
// An *imap.Error in the result is the server refusing; anything else is a
// broken connection.
func (s *session) applyAfter(set imap.UIDSet) error {
	defer s.guard(s.p.cmdTimeout)()
	switch s.p.after.kind {
	case afterSeen:
		return s.addFlag(set, imap.FlagSeen)
	case afterDelete:
		if err := s.addFlag(set, imap.FlagDeleted); err != nil {
			return err
		}
		return s.expunge(set)
	case afterMove:
		err := s.move(set)
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeTryCreate {
			s.folderReady = false // deleted behind our back: create it again
			err = s.move(set)
		}
		return err
	}
	return fmt.Errorf("unknown after action %q", s.p.cfg.After)
}

func (s *session) addFlag(set imap.UIDSet, flag imap.Flag) error {
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{flag}}
	if err := s.c.Store(set, store, nil).Close(); err != nil {
		return fmt.Errorf("store %s: %w", flag, err)
	}
	return nil
}

// expunge removes the \Deleted messages of set: exactly those with UIDPLUS
// (RFC 4315 §2.1), every \Deleted message of the folder otherwise.
func (s *session) expunge(set imap.UIDSet) error {
	var err error
	if s.caps.Has(imap.CapUIDPlus) {
		err = s.c.UIDExpunge(set).Close()
	} else {
		err = s.c.Expunge().Close()
	}
	if err != nil {
		return fmt.Errorf("expunge: %w", err)
	}
	return nil
}

// move moves set to the target folder, creating it if needed: MOVE where
// the server has it (RFC 6851), else COPY, then \Deleted and EXPUNGE. The
// client's own fallback pipelines the three commands, which would delete
// the message even if the COPY failed; here each step waits for the last.
func (s *session) move(set imap.UIDSet) error {
	if err := s.ensureFolder(); err != nil {
		return err
	}
	folder := s.p.after.folder
	if s.caps.Has(imap.CapMove) {
		if _, err := s.c.Move(set, folder).Wait(); err != nil {
			return fmt.Errorf("move to %s: %w", folder, err)
		}
		return nil
	}
	if _, err := s.c.Copy(set, folder).Wait(); err != nil {
		return fmt.Errorf("copy to %s: %w", folder, err)
	}
	if err := s.addFlag(set, imap.FlagDeleted); err != nil {
		return err
	}
	return s.expunge(set)
}

// ensureFolder creates the move target once per session. A server that
// says the folder exists (ALREADYEXISTS, RFC 5530), or refuses without that
// code but lists the folder, is fine.
func (s *session) ensureFolder() error {
	if s.folderReady {
		return nil
	}
	folder := s.p.after.folder
	err := s.c.Create(folder, nil).Wait()
	var ie *imap.Error
	switch {
	case err == nil:
		s.log.Info("imap created the move target folder", "folder", folder)
	case !errors.As(err, &ie):
		return fmt.Errorf("create %s: %w", folder, err)
	case ie.Code != imap.ResponseCodeAlreadyExists:
		found, lerr := s.folderExists(folder)
		if lerr != nil {
			return fmt.Errorf("list %s: %w", folder, lerr)
		}
		if !found {
			return fmt.Errorf("create %s: %w", folder, err)
		}
	}
	s.folderReady = true
	return nil
}

func (s *session) folderExists(folder string) (bool, error) {
	list, err := s.c.List("", folder, nil).Collect()
	if err != nil {
		return false, err
	}
	for _, mb := range list {
		if sameFolder(mb.Mailbox, folder) {
			return true, nil
		}
	}
	return false, nil
}
