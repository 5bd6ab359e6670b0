package gateway

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// ingestReply handles a message that threads to case c: the sender check
// (step 5), the state rules (step 6) and auto-replies (step 7).
func (g *Gateway) ingestReply(ctx context.Context, tx *store.Tx, in *inbound, c store.Case) (Result, error) {
	sender := in.msg.From.Email
	ok, err := g.mayWrite(ctx, tx, in, c)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		in.step("sender", "unknown", sender+" is not a participant of "+c.Number)
		if g.rules().UnknownSender == "reject" {
			return g.storeOnly(ctx, tx, in, store.OutcomeIgnored, nil)
		}
		// A case of their own: linked for the agents, but nothing of the
		// other case (its watchers, its number) reaches the stranger.
		return g.openCase(ctx, tx, in, &c)
	}
	in.step("sender", "participant", sender)
	if in.msg.Signals.AutoReply {
		in.step("auto_reply", "yes", in.msg.Signals.AutoReason+": stored, no state change, no mail")
		if c.State == store.StateClosed {
			return g.storeOnly(ctx, tx, in, store.OutcomeAutoReply, nil)
		}
		return g.storeOnly(ctx, tx, in, store.OutcomeAutoReply, &c)
	}
	if c.State == store.StateClosed {
		return g.replyToClosed(ctx, tx, in, c)
	}
	if in.agent && !strings.EqualFold(sender, c.Contact.Email) {
		return g.agentMail(ctx, tx, in, c)
	}
	res, err := g.storeOnly(ctx, tx, in, store.OutcomeReply, &c)
	if err != nil {
		return res, err
	}
	if err := g.watchersFromReply(ctx, tx, in, &c); err != nil {
		return res, err
	}
	if err := g.replyRules(ctx, tx, in, &c); err != nil {
		return res, err
	}
	return res, g.teamHearsReply(ctx, tx, in, c)
}

// replyRules applies SPEC §2 to a participant's reply and queues the mails
// it causes: a reply on awaiting_info reopens; on resolved the contact's
// first word accepts, rejects or closes, and any other reply of the
// contact's with content reopens; otherwise the other participants and the
// assignee are told. Accepting, rejecting, closing and reopening a resolved
// case belong to the contact (and the agents, who act through agentMail):
// a watcher's reply on a resolved case is a comment and changes no state.
func (g *Gateway) replyRules(ctx context.Context, tx *store.Tx, in *inbound, c *store.Case) error {
	m := in.msg
	actor := Actor{Email: m.From.Email, Name: m.From.Name}
	body := strings.TrimSpace(m.Visible)
	switch c.State {
	case store.StateResolved:
		word := firstWord(body)
		if in.web {
			word = "" // the page has buttons for accept, reject and close
		}
		isContact := strings.EqualFold(actor.Email, c.Contact.Email)
		switch {
		case isContact && word == "accept":
			in.step("state", "accept", "resolved → closed")
			return g.transition(ctx, tx, c, store.StateClosed, byContact, actor, "accepted by the contact", m.MessageID)
		case isContact && word == "close":
			in.step("state", "close", "resolved → closed")
			return g.transition(ctx, tx, c, store.StateClosed, byContact, actor, "closed by the contact", m.MessageID)
		case isContact && word == "reject":
			in.step("state", "reject", "resolved → open")
			return g.transition(ctx, tx, c, store.StateOpen, byContact, actor, "resolution rejected: "+body, m.MessageID)
		case isContact && body != "":
			in.step("state", "reopen", "a reply with content reopens a resolved case")
			return g.transition(ctx, tx, c, store.StateOpen, byReply, actor, "reopened by a reply: "+body, m.MessageID)
		case body == "":
			in.step("state", "unchanged", "empty reply on a resolved case")
			return nil
		}
		in.step("state", "unchanged", "a watcher's reply on a resolved case is a comment: only the contact accepts, rejects or reopens")
	case store.StateAwaitingInfo:
		in.step("state", "answered", "awaiting_info → open")
		if err := g.transition(ctx, tx, c, store.StateOpen, byReply, actor, "information received", m.MessageID); err != nil {
			return err
		}
	}
	if body == "" {
		return nil
	}
	return g.notifyEvent(ctx, tx, *c, "case_updated", actor, templates.Data{Body: body}, m.MessageID)
}

// firstWord is the first word of s, lower-cased, without punctuation.
func firstWord(s string) string {
	f := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(f[0])
}

// watchersFromReply adds the Cc recipients of the contact's reply as
// watchers (SPEC §1: watchers added by the contact by mail), within the
// per-mail cap and notice policy of amplify.go.
func (g *Gateway) watchersFromReply(ctx context.Context, tx *store.Tx, in *inbound, c *store.Case) error {
	if !strings.EqualFold(in.msg.From.Email, c.Contact.Email) {
		return nil
	}
	actor := Actor{Email: in.msg.From.Email, Name: in.msg.From.Name}
	return g.addCc(in, *c, func(r recipient) (bool, error) {
		return g.addWatcher(ctx, tx, c, r, actor, in.msg.MessageID, func(r recipient) bool { return g.mayNotifyWatcher(in, r) })
	})
}

// replyToClosed handles mail to a closed case: the contact's answer to the
// survey is stored as its rating; anything else opens a new linked case.
func (g *Gateway) replyToClosed(ctx context.Context, tx *store.Tx, in *inbound, c store.Case) (Result, error) {
	rating, comment, isRating := surveyAnswer(in.msg.Visible)
	if isRating && strings.EqualFold(in.msg.From.Email, c.Contact.Email) {
		err := tx.RateSurvey(ctx, c.ID, rating, comment, "reply")
		switch {
		case err == nil:
			in.step("survey", "rated", strconv.Itoa(rating))
			res, err := g.storeOnly(ctx, tx, in, store.OutcomeReply, &c)
			if err != nil {
				return res, err
			}
			_, err = tx.AddActivity(ctx, c.ID, store.Activity{Kind: "survey", Actor: in.msg.From.Email, Public: false,
				Body: "rated " + strconv.Itoa(rating) + "/5" + prefixed(": ", comment)})
			return res, err
		case errors.Is(err, store.ErrAlreadyRated):
			in.step("survey", "already_rated", "a survey is rated once")
			return g.storeOnly(ctx, tx, in, store.OutcomeIgnored, nil)
		case !errors.Is(err, store.ErrNotFound):
			return Result{}, err
		}
	}
	in.step("state", "closed", c.Number+" is read-only: a new linked case is opened")
	return g.followUp(ctx, tx, in, c)
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// surveyAnswer reads a rating reply: a digit 1–5 alone at the start of
// the visible text, optionally followed by a comment.
func surveyAnswer(visible string) (rating int, comment string, ok bool) {
	s := strings.TrimSpace(visible)
	if s == "" || s[0] < '1' || s[0] > '5' {
		return 0, "", false
	}
	if len(s) > 1 && (unicode.IsDigit(rune(s[1])) || unicode.IsLetter(rune(s[1]))) {
		return 0, "", false
	}
	rest := strings.TrimLeft(s[1:], " \t/5-.:)")
	return int(s[0] - '0'), strings.TrimSpace(rest), true
}
