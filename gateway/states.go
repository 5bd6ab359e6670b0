package gateway

import (
	"errors"
	"fmt"
	"slices"

	"github.com/casegate/casegate/store"
)

// Who may cause a transition.
const (
	byAgent   = "agent"   // API, CLI or agent mail
	byContact = "contact" // the case's contact (reply word or signed link)
	byReply   = "reply"   // any reply with content from a participant
	bySystem  = "system"  // the auto-close scheduler
)

// transition is one row of SPEC §2's table.
type transition struct {
	from []string // empty: any state but closed
	to   string
	by   []string
	tpl  string // the notification, "" for none
}

var activeStates = []string{store.StateNew, store.StateOpen, store.StateAwaitingInfo, store.StateOnHold, store.StateResolved}

// transitions is the state machine of SPEC §2, in one place. Closed is
// read-only: no row leaves it. Where the table is silent an agent may take
// a case off hold, stop waiting for information, or reopen a resolved case,
// as every support desk lets them.
var transitions = []transition{
	{from: []string{store.StateNew}, to: store.StateOpen, by: []string{byAgent}, tpl: "case_picked_up"},
	{from: []string{store.StateNew, store.StateOpen, store.StateOnHold}, to: store.StateAwaitingInfo, by: []string{byAgent}, tpl: "case_awaiting_info"},
	{from: []string{store.StateAwaitingInfo}, to: store.StateOpen, by: []string{byReply}},
	{from: []string{store.StateAwaitingInfo, store.StateOnHold}, to: store.StateOpen, by: []string{byAgent}, tpl: "case_state_changed"},
	{to: store.StateOnHold, by: []string{byAgent}, tpl: "case_state_changed"},
	{to: store.StateResolved, by: []string{byAgent}, tpl: "case_resolved"},
	{from: []string{store.StateResolved}, to: store.StateClosed, by: []string{byContact, bySystem}, tpl: "case_closed"},
	{from: []string{store.StateResolved}, to: store.StateOpen, by: []string{byContact, byReply, byAgent}, tpl: "case_state_changed"},
	{to: store.StateClosed, by: []string{byContact, byAgent}, tpl: "case_closed"},
}

// IllegalTransitionError is a requested transition the state machine
// refuses; nothing was changed.
type IllegalTransitionError struct {
	From, To, By string
}

func (e *IllegalTransitionError) Error() string {
	if e.From == store.StateClosed && (e.To == "" || e.To == store.StateClosed) {
		return "case is closed and read-only"
	}
	if e.From == store.StateClosed {
		return fmt.Sprintf("case is closed and read-only: cannot move it to %s", e.To)
	}
	if e.From == e.To {
		return fmt.Sprintf("case is already %s", e.To)
	}
	return fmt.Sprintf("cannot move a case from %s to %s (as %s)", e.From, e.To, e.By)
}

// ErrInvalid marks a request that is malformed (unknown state, empty body).
var ErrInvalid = errors.New("invalid request")

// lookupTransition returns the row allowing from → to by who.
func lookupTransition(from, to, by string) (transition, error) {
	if !slices.Contains(append(activeStates, store.StateClosed), to) || to == store.StateNew {
		return transition{}, fmt.Errorf("%w: %q is not a state a case can be moved to", ErrInvalid, to)
	}
	for _, t := range transitions {
		if from == store.StateClosed || from == to {
			break
		}
		fromOK := slices.Contains(t.from, from) || (len(t.from) == 0 && slices.Contains(activeStates, from))
		if fromOK && t.to == to && slices.Contains(t.by, by) {
			return t, nil
		}
	}
	return transition{}, &IllegalTransitionError{From: from, To: to, By: by}
}
