package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/casegate/casegate/mailparse"
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

// bounceOf returns the bounce a message is, or nil (SPEC §3 step 3).
func (g *Gateway) bounceOf(in *inbound) *mailparse.Bounce {
	if b := in.msg.Signals.Bounce; b != nil {
		return b
	}
	if in.env.Source == "smtp" && in.env.From == "" {
		return &mailparse.Bounce{Reason: "null_sender"}
	}
	return nil
}

// ingestBounce stores a bounce and attributes it to the notification it
// reports on: the delivery is marked failed on the case's activity.
func (g *Gateway) ingestBounce(ctx context.Context, tx *store.Tx, in *inbound, b *mailparse.Bounce) (Result, error) {
	in.step("bounce", "yes", fmt.Sprintf("%s %s %s", b.Reason, b.Recipient, b.Status))
	var c *store.Case
	if b.OriginalMessageID != "" {
		found, _, err := tx.CaseByThreadIDs(ctx, []string{b.OriginalMessageID})
		switch {
		case err == nil:
			c = &found
			in.step("bounce", "attributed", b.OriginalMessageID+" → "+found.Number)
		case !errors.Is(err, store.ErrNotFound):
			return Result{}, err
		}
	}
	// A bounce is stored without a case of its own; the activity entry on
	// the case it reports on is what agents see.
	res, err := g.storeOnly(ctx, tx, in, store.OutcomeBounce, nil)
	if err != nil || c == nil {
		return res, err
	}
	what := "permanent"
	if !b.Permanent {
		what = "temporary"
	}
	_, err = tx.AddActivity(ctx, c.ID, store.Activity{
		Kind: "delivery", Public: false, MessageID: res.MessageID,
		Body: fmt.Sprintf("delivery to %s failed (%s, %s)", b.Recipient, what, b.Status),
	})
	res.Case = c.Number
	return res, err
}
