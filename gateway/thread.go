package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/casegate/casegate/store"
)

// threadLookup finds the case a message belongs to (SPEC §3 step 4):
// In-Reply-To/References naming a Message-ID we sent or ingested, else a
// plus-addressed recipient, else the subject tag, else a body "Ref:" line.
// A tag for an unknown case is ignored.
func (g *Gateway) threadLookup(ctx context.Context, tx *store.Tx, in *inbound) (store.Case, bool, error) {
	m := in.msg
	ids := make([]string, 0, len(m.InReplyTo)+len(m.References))
	ids = append(ids, m.InReplyTo...)
	for i := len(m.References) - 1; i >= 0; i-- {
		ids = append(ids, m.References[i])
	}
	c, found, err := g.threadByMessageID(ctx, tx, in, ids)
	if err != nil || found {
		return c, found, err
	}
	if g.toBounceAddress(in) {
		// Sent to the bounce address of one of our notifications (an
		// auto-reply that left the threading headers out): the address
		// names the notification, whose MAC nobody can forge.
		row, err := g.verpTarget(ctx, tx, in)
		if err != nil {
			return store.Case{}, false, err
		}
		if row != nil && row.CaseID != 0 {
			c, err := tx.CaseByID(ctx, row.CaseID)
			if err != nil {
				return c, false, err
			}
			in.step("thread", "bounce_address", fmt.Sprintf("outbox %d: %s", row.ID, c.Number))
			return c, true, nil
		}
	}
	for _, cand := range []struct{ how, number string }{
		{"plus_address", in.plusTag},
		{"subject_tag", m.CaseTag},
		{"body_ref", m.BodyRef},
	} {
		if !g.isCaseNumber(cand.number) {
			continue
		}
		c, err := tx.CaseByNumber(ctx, cand.number)
		if errors.Is(err, store.ErrNotFound) {
			in.step("thread", "unknown_"+cand.how, cand.number+" is no case of ours: ignored")
			continue
		}
		if err != nil {
			return c, false, err
		}
		in.step("thread", cand.how, c.Number)
		return c, true, nil
	}
	in.step("thread", "none", "")
	return store.Case{}, false, nil
}

// threadByMessageID finds the case by the Message-IDs a message names.
// Our own Message-IDs come first: nobody outside can guess them. A
// Message-ID we received is the choice of whoever sent it, and anyone can
// name it again: it threads only a sender who may write into its case
// (the contact, a watcher, an authenticated agent), so a mail naming a
// third party's Message-ID that an earlier case happened to carry does
// not pull its sender into that case.
func (g *Gateway) threadByMessageID(ctx context.Context, tx *store.Tx, in *inbound, ids []string) (store.Case, bool, error) {
	known, err := tx.ThreadIDs(ctx, ids)
	if err != nil || len(known) == 0 {
		return store.Case{}, false, err
	}
	for _, t := range known {
		if t.Direction != "out" {
			continue
		}
		c, err := tx.CaseByID(ctx, t.CaseID)
		if err != nil {
			return c, false, err
		}
		in.step("thread", "message_id", t.MessageID+" (ours) → "+c.Number)
		return c, true, nil
	}
	seen := map[int64]bool{}
	for _, t := range known {
		if seen[t.CaseID] {
			continue
		}
		seen[t.CaseID] = true
		c, err := tx.CaseByID(ctx, t.CaseID)
		if err != nil {
			return c, false, err
		}
		ok, err := g.mayWrite(ctx, tx, in, c)
		if err != nil {
			return c, false, err
		}
		if ok {
			in.step("thread", "message_id", t.MessageID+" → "+c.Number)
			return c, true, nil
		}
		in.step("thread", "foreign_message_id", t.MessageID+" came in on "+c.Number+
			", whose participants do not include "+in.msg.From.Email+": not threaded by it")
	}
	return store.Case{}, false, nil
}

// isCaseNumber reports whether s has the form of one of our case numbers.
func (g *Gateway) isCaseNumber(s string) bool {
	s = strings.ToUpper(s)
	prefix := strings.ToUpper(g.cfg.CasePrefix)
	if !strings.HasPrefix(s, prefix) || len(s) < len(prefix)+7 {
		return false
	}
	for _, r := range s[len(prefix):] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
