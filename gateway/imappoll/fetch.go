package imappoll

import (
	"errors"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/casegate/casegate/gateway/spool"
)

// absurdFactor times Config.MaxMessageBytes is the largest message fetched
// whole; see the package comment.
const absurdFactor = 4

// errVanished is a message the server no longer has: expunged by someone
// else between the search and the fetch.
var errVanished = errors.New("message vanished")

// errNoBody is a FETCH answered without the body asked for.
var errNoBody = errors.New("server returned no body")

// fetchSizes returns the RFC822.SIZE of each message of uids the server
// still has.
func (s *session) fetchSizes(uids []uint32) (map[uint32]int64, error) {
	defer s.guard(s.p.cmdTimeout)()
	set := imap.UIDSet{}
	for _, uid := range uids {
		set.AddNum(imap.UID(uid))
	}
	msgs, err := s.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch sizes: %w", err)
	}
	sizes := make(map[uint32]int64, len(msgs))
	for _, m := range msgs {
		if m.UID != 0 {
			sizes[uint32(m.UID)] = m.RFC822Size
		}
	}
	return sizes, nil
}

// fetchMessage returns the raw message uid, whose size the server gave as
// size. Up to absurdFactor × MaxMessageBytes it is fetched whole; beyond,
// only its header section and the first MaxMessageBytes of its text, and
// truncated is true. Fetching uses BODY.PEEK so it never sets \Seen.
func (s *session) fetchMessage(uid uint32, size int64) (mail *spool.Message, truncated bool, err error) {
	defer s.guard(s.p.cmdTimeout)()
	limit := s.p.cfg.MaxMessageBytes
	whole := &imap.FetchItemBodySection{Peek: true}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true,
		Partial: &imap.SectionPartial{Offset: 0, Size: limit}}
	text := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true,
		Partial: &imap.SectionPartial{Offset: 0, Size: limit}}

	sections, max := []*imap.FetchItemBodySection{whole}, absurdFactor*limit
	if size > absurdFactor*limit {
		sections, max, truncated = []*imap.FetchItemBodySection{header, text}, limit, true
	}
	cmd := s.c.Fetch(imap.UIDSetNum(imap.UID(uid)), &imap.FetchOptions{UID: true, BodySection: sections})
	defer cmd.Close()

	msg := cmd.Next()
	if msg == nil {
		if err := cmd.Close(); err != nil {
			return nil, false, err
		}
		return nil, false, errVanished
	}
	parts := make(map[imap.PartSpecifier]*spool.Message, len(sections))
	defer func() {
		for _, p := range parts {
			if p != mail {
				p.Close()
			}
		}
	}()
	for item := msg.Next(); item != nil; item = msg.Next() {
		body, ok := item.(imapclient.FetchItemDataBodySection)
		if !ok || body.Literal == nil {
			continue
		}
		m, cut, err := readAtMost(body.Literal, max, s.p.cfg.SpoolDir)
		if err != nil {
			return nil, false, fmt.Errorf("read body: %w", err)
		}
		truncated = truncated || cut
		parts[body.Section.Specifier].Close() // sent twice
		parts[body.Section.Specifier] = m
	}
	if err := cmd.Close(); err != nil {
		return nil, false, err
	}
	if len(parts) == 0 {
		return nil, false, errNoBody
	}
	if size <= absurdFactor*limit {
		// Whole; truncated when the server sent more than it announced
		// in RFC822.SIZE.
		mail = parts[imap.PartSpecifierNone]
		if mail == nil {
			return nil, false, errNoBody
		}
		return mail, truncated, nil
	}
	mail, err = joinParts(parts[imap.PartSpecifierHeader], parts[imap.PartSpecifierText], s.p.cfg.SpoolDir)
	return mail, true, err
}

// joinParts is the header section followed by the start of the text, of
// a message fetched in two parts (either may be missing).
func joinParts(header, text *spool.Message, dir string) (*spool.Message, error) {
	var rs []io.Reader
	for _, p := range []*spool.Message{header, text} {
		if p != nil {
			rs = append(rs, p.Section())
		}
	}
	m, _, err := spool.Read(io.MultiReader(rs...), dir)
	return m, err
}

// fetchMany fetches whole the messages of uids (each no larger than
// absurdFactor × MaxMessageBytes by its size) in one FETCH command, in
// UID order. When the server returns fewer messages than asked for, the
// error is errNoBody and the caller fetches them one at a time. A message
// sent larger than announced is cut and marked truncated,
// as fetchMessage does.
func (s *session) fetchMany(uids []uint32, sizes map[uint32]int64) ([]fetched, error) {
	defer s.guard(s.p.cmdTimeout)()
	set := imap.UIDSet{}
	for _, uid := range uids {
		set.AddNum(imap.UID(uid))
	}
	max := absurdFactor * s.p.cfg.MaxMessageBytes
	whole := &imap.FetchItemBodySection{Peek: true}
	cmd := s.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}})
	defer cmd.Close()
	got := make(map[uint32]fetched, len(uids))
	ok := false
	defer func() {
		if !ok {
			for _, f := range got {
				f.mail.Close()
			}
		}
	}()
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var f fetched
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch v := item.(type) {
			case imapclient.FetchItemDataUID:
				f.uid = uint32(v.UID)
			case imapclient.FetchItemDataBodySection:
				if v.Literal == nil {
					continue
				}
				m, cut, err := readAtMost(v.Literal, max, s.p.cfg.SpoolDir)
				if err != nil {
					f.mail.Close()
					return nil, fmt.Errorf("read body: %w", err)
				}
				f.mail.Close() // sent twice
				f.mail, f.truncated = m, cut
			}
		}
		if f.uid != 0 && f.mail != nil {
			f.size = sizes[f.uid]
			got[f.uid].mail.Close() // sent twice
			got[f.uid] = f
		} else {
			f.mail.Close()
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, err
	}
	out := make([]fetched, len(uids))
	for i, uid := range uids {
		f, ok := got[uid]
		if !ok {
			// Expunged meanwhile, or refused: fetchOne tells which.
			return nil, errNoBody
		}
		out[i] = f
	}
	ok = true
	return out, nil
}

// readAtMost reads r up to max bytes, into memory or, when large, into a
// spool file in dir, and reports whether it had more.
func readAtMost(r io.Reader, max int64, dir string) (*spool.Message, bool, error) {
	m, _, err := spool.Read(io.LimitReader(r, max), dir)
	if err != nil {
		return nil, false, err
	}
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if err != nil && !errors.Is(err, io.EOF) {
		m.Close()
		return nil, false, err
	}
	return m, n > 0, nil
}
