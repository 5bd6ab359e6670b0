package imappoll

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// maxFetchRefusals is how many times the server may refuse to return one
// message (a NO to its FETCH) before the poller gives up on it, logs it at
// ERROR and moves on, so an unreadable message cannot block the mailbox.
const maxFetchRefusals = 3

// catchUp hands every message above the last UID to the Deliverer, oldest
// first, Config.BatchSize at a time, until a search finds nothing new. It
// stops between messages once ctx is done; the message in hand is finished
// on hand.
func (s *session) catchUp(ctx, hand context.Context) error {
	delivered := 0
	defer func() {
		if delivered > 0 {
			s.log.Info("imap mail delivered", "count", delivered, "last_uid", s.lastUID)
		}
	}()
	for {
		s.drainNewMail()
		uids, err := s.searchNew()
		if err != nil || len(uids) == 0 {
			return err
		}
		for batch := range slices.Chunk(uids, s.p.cfg.BatchSize) {
			n, err := s.handleBatch(ctx, hand, batch)
			delivered += n
			if err != nil {
				return err
			}
		}
	}
}

// drainNewMail forgets EXISTS seen so far: the search that follows covers
// them.
func (s *session) drainNewMail() {
	select {
	case <-s.newMail:
	default:
	}
}

// searchNew returns the UIDs above the last one, ascending.
func (s *session) searchNew() ([]uint32, error) {
	defer s.guard(s.p.cmdTimeout)()
	var set imap.UIDSet
	set.AddRange(imap.UID(s.lastUID+1), 0) // last+1:*
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{set}}, nil).Wait()
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	found, _ := data.All.(imap.UIDSet)
	all, ok := found.Nums()
	if !ok {
		return nil, fmt.Errorf("search: server returned a dynamic set %v", found)
	}
	uids := make([]uint32, 0, len(all))
	for _, uid := range all {
		// "n:*" includes the highest UID even when it is below n.
		if uint32(uid) > s.lastUID {
			uids = append(uids, uint32(uid))
		}
	}
	slices.Sort(uids)
	return uids, nil
}

// handleBatch delivers the messages of one batch in UID order, then
// applies the after action to those committed, in one command, and saves
// the position once. It stops at the first failure, or between messages
// once ctx is done, and still finishes what it committed. It returns how
// many messages it delivered.
func (s *session) handleBatch(ctx, hand context.Context, uids []uint32) (int, error) {
	sizes, err := s.fetchSizes(uids)
	if err != nil {
		return 0, err
	}
	var (
		acted   []uint32 // committed; after action and position pending
		through uint32   // every UID of the batch up to here is committed or gone
	)
	for _, uid := range uids {
		if err = ctx.Err(); err != nil {
			break
		}
		var ok bool
		if ok, err = s.deliverOne(hand, uid, sizes); err != nil {
			break
		}
		if ok {
			acted = append(acted, uid)
		}
		through = uid
	}
	if ferr := s.finish(hand, acted, through); err == nil {
		err = ferr
	}
	return len(acted), err
}

// deliverOne fetches one message and hands it to the Deliverer. It reports
// whether the Deliverer committed it; false with a nil error means the
// message is gone (expunged meanwhile) or skipped as unreadable.
func (s *session) deliverOne(ctx context.Context, uid uint32, sizes map[uint32]int64) (bool, error) {
	start := time.Now()
	size, ok := sizes[uid]
	if !ok {
		s.log.Info("imap message expunged before it was fetched", "uid", uid)
		return false, nil
	}
	raw, truncated, err := s.fetchMessage(uid, size)
	switch {
	case errors.Is(err, errVanished):
		s.log.Info("imap message expunged before it was fetched", "uid", uid)
		return false, nil
	case err != nil:
		return false, s.fetchFailed(uid, err)
	}
	src := Source{
		Mailbox: s.p.cfg.Name, Folder: s.p.cfg.Folder, Kind: s.p.cfg.Kind,
		UIDValidity: s.uidValidity, UID: uid, Size: size, Truncated: truncated,
	}
	if err := s.p.deliver.Deliver(ctx, raw, src); err != nil {
		return false, fmt.Errorf("deliver uid %d: %w", uid, err)
	}
	s.log.Debug("imap message delivered", "uid", uid, "size", size, "truncated", truncated,
		"duration", time.Since(start))
	return true, nil
}

// finish applies the after action to the committed messages acted and then
// saves through as the position. A server refusing the action is logged
// and the poller moves on; a broken connection returns before the save, so
// the next session offers these messages again (the Deliverer drops them as
// duplicates) and retries the action.
func (s *session) finish(ctx context.Context, acted []uint32, through uint32) error {
	if len(acted) > 0 {
		set := imap.UIDSet{}
		for _, uid := range acted {
			set.AddNum(imap.UID(uid))
		}
		if err := s.applyAfter(set); err != nil {
			var refused *imap.Error
			if !errors.As(err, &refused) {
				return fmt.Errorf("after %s uid %v: %w", s.p.cfg.After, set, err)
			}
			s.log.Error("imap server refused the after action: the messages stay in the folder",
				"uids", set.String(), "after", s.p.cfg.After, "err", err)
		}
	}
	if through <= s.lastUID {
		return nil
	}
	return s.advance(ctx, through)
}

// fetchFailed decides what a failed fetch means. A broken connection ends
// the session. A server that refuses the same message maxFetchRefusals
// times in a row gets it skipped (nil), loudly: there are no bytes to
// quarantine.
func (s *session) fetchFailed(uid uint32, err error) error {
	err = fmt.Errorf("fetch uid %d: %w", uid, err)
	var refused *imap.Error
	if !errors.As(err, &refused) && !errors.Is(err, errNoBody) {
		return err
	}
	key := [2]uint32{s.uidValidity, uid}
	if s.p.refusals[key]++; s.p.refusals[key] < maxFetchRefusals {
		return err
	}
	delete(s.p.refusals, key)
	s.log.Error("imap server keeps refusing to return a message: skipped, it stays in the folder",
		"uid", uid, "attempts", maxFetchRefusals, "err", err)
	return nil
}

// advance records uid as handled.
func (s *session) advance(ctx context.Context, uid uint32) error {
	if err := s.p.state.Save(ctx, s.p.cfg.Name, s.uidValidity, uid); err != nil {
		return fmt.Errorf("save position uid %d: %w", uid, err)
	}
	s.lastUID = uid
	return nil
}
