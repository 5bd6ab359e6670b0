package imappoll

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/casegate/casegate/gateway/spool"
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

// maxGroupBytes bounds the fetched bytes held in memory for one
// delivery to a BatchDeliverer.
const maxGroupBytes = 32 << 20

// handleBatch delivers the messages of one batch in UID order, then
// applies the after action to those committed, in one command, and saves
// the position once. Messages are fetched in groups (at most
// maxGroupBytes) and each group is handed over at once where the
// Deliverer takes batches. It stops at the first failure, or between
// groups once ctx is done, and still finishes what it committed. It
// returns how many messages it delivered.
func (s *session) handleBatch(ctx, hand context.Context, uids []uint32) (int, error) {
	sizes, err := s.fetchSizes(uids)
	if err != nil {
		return 0, err
	}
	var (
		acted   []uint32 // committed; after action and position pending
		through uint32   // every UID of the batch up to here is committed or gone
	)
	for len(uids) > 0 && err == nil {
		if err = ctx.Err(); err != nil {
			break
		}
		var group []fetched
		group, uids, err = s.fetchGroup(uids, sizes)
		results := s.deliverGroup(hand, group)
		for i, f := range group {
			if results[i] != nil {
				err = results[i]
				break
			}
			if f.mail != nil {
				acted = append(acted, f.uid)
			}
			through = f.uid
		}
	}
	if ferr := s.finish(hand, acted, through); err == nil {
		err = ferr
	}
	return len(acted), err
}

// fetched is one message of a group: mail is nil for a message that is
// gone (expunged meanwhile) or skipped as unreadable.
type fetched struct {
	uid       uint32
	mail      *spool.Message
	size      int64
	truncated bool
}

// fetchGroup fetches messages from the front of uids until the group
// holds maxGroupBytes (or one message, whatever its size; only one at a
// time for a Deliverer without batches). Messages of ordinary size come
// in one FETCH command; a very large one, or a group the server refuses
// to return at once, one at a time. It returns the group, the UIDs left,
// and the error that ended it early.
func (s *session) fetchGroup(uids []uint32, sizes map[uint32]int64) (group []fetched, rest []uint32, err error) {
	if _, batched := s.p.deliver.(BatchDeliverer); batched {
		var held int64
		n := 0
		for n < len(uids) && held < maxGroupBytes && sizes[uids[n]] <= absurdFactor*s.p.cfg.MaxMessageBytes {
			held += sizes[uids[n]]
			n++
		}
		if n > 1 {
			if group, err := s.fetchMany(uids[:n], sizes); err == nil {
				return group, uids[n:], nil
			} else if !isRefusal(err) {
				return nil, uids, err
			}
			// A NO for the group: fetch one at a time, so that only the
			// message the server refuses is counted against.
		}
	}
	f, err := s.fetchOne(uids[0], sizes)
	if err != nil {
		return nil, uids, err
	}
	return []fetched{f}, uids[1:], nil
}

// isRefusal reports whether err is the server's NO or BAD answer (the
// connection is fine).
func isRefusal(err error) bool {
	var refused *imap.Error
	return errors.As(err, &refused) || errors.Is(err, errNoBody)
}

// fetchOne fetches one message; a nil raw with a nil error means it is
// gone or skipped.
func (s *session) fetchOne(uid uint32, sizes map[uint32]int64) (fetched, error) {
	size, ok := sizes[uid]
	if !ok {
		s.log.Info("imap message expunged before it was fetched", "uid", uid)
		return fetched{uid: uid}, nil
	}
	mail, truncated, err := s.fetchMessage(uid, size)
	switch {
	case errors.Is(err, errVanished):
		s.log.Info("imap message expunged before it was fetched", "uid", uid)
		return fetched{uid: uid}, nil
	case err != nil:
		return fetched{uid: uid}, s.fetchFailed(uid, err)
	}
	return fetched{uid: uid, mail: mail, size: size, truncated: truncated}, nil
}

// deliverGroup hands the fetched messages of a group to the Deliverer,
// all at once where it takes batches; results[i] is group[i]'s error.
// The messages' spool files are removed after.
func (s *session) deliverGroup(ctx context.Context, group []fetched) []error {
	defer func() {
		for _, f := range group {
			f.mail.Close()
		}
	}()
	start := time.Now()
	results := make([]error, len(group))
	var msgs []Message
	var idx []int
	for i, f := range group {
		if f.mail == nil {
			continue
		}
		msgs = append(msgs, Message{Mail: f.mail, Src: Source{
			Mailbox: s.p.cfg.Name, Folder: s.p.cfg.Folder, Kind: s.p.cfg.Kind, Forwarding: s.p.cfg.Forwarding,
			UIDValidity: s.uidValidity, UID: f.uid, Size: f.size, Truncated: f.truncated,
		}})
		idx = append(idx, i)
	}
	if len(msgs) == 0 {
		return results
	}
	var errs []error
	if bd, ok := s.p.deliver.(BatchDeliverer); ok {
		errs = bd.DeliverBatch(ctx, msgs)
	} else {
		errs = make([]error, len(msgs))
		for i, m := range msgs {
			errs[i] = s.p.deliver.Deliver(ctx, m.Mail, m.Src)
		}
	}
	for k, err := range errs {
		if err != nil {
			results[idx[k]] = fmt.Errorf("deliver uid %d: %w", msgs[k].Src.UID, err)
		}
	}
	s.log.Debug("imap messages delivered", "count", len(msgs), "duration", time.Since(start))
	return results
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
