package gateway

import (
	"context"
	"errors"
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
	c, id, err := tx.CaseByThreadIDs(ctx, ids)
	switch {
	case err == nil:
		in.step("thread", "message_id", id+" → "+c.Number)
		return c, true, nil
	case !errors.Is(err, store.ErrNotFound):
		return c, false, err
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
