package gateway

import (
	"errors"
	"fmt"
	"testing"

	"github.com/casegate/casegate/store"
)

// TestTransitionTable checks every (from, to, by) against SPEC §2, written
// out here independently of the table in states.go.
func TestTransitionTable(t *testing.T) {
	const (
		N, O, A, H, R, C = store.StateNew, store.StateOpen, store.StateAwaitingInfo, store.StateOnHold, store.StateResolved, store.StateClosed
	)
	legal := map[string]string{ // "from>to/by" -> template ("" = none)
		// agent picks it up
		N + ">" + O + "/agent": "case_picked_up",
		// agent asks for information
		N + ">" + A + "/agent": "case_awaiting_info",
		O + ">" + A + "/agent": "case_awaiting_info",
		H + ">" + A + "/agent": "case_awaiting_info",
		// a reply on awaiting_info reopens, automatically
		A + ">" + O + "/reply": "",
		// agent takes it off hold / stops waiting / reopens
		A + ">" + O + "/agent": "case_state_changed",
		H + ">" + O + "/agent": "case_state_changed",
		R + ">" + O + "/agent": "case_state_changed",
		// resolved: accept, reject, any other reply, auto-close
		R + ">" + C + "/contact": "case_closed",
		R + ">" + O + "/contact": "case_state_changed",
		R + ">" + O + "/reply":   "case_state_changed",
		R + ">" + C + "/system":  "case_closed",
	}
	for _, from := range []string{N, O, A, H, R} {
		if from != H {
			legal[from+">"+H+"/agent"] = "case_state_changed"
		}
		if from != R {
			legal[from+">"+R+"/agent"] = "case_resolved"
		}
		legal[from+">"+C+"/agent"] = "case_closed"
		legal[from+">"+C+"/contact"] = "case_closed"
	}
	states := []string{N, O, A, H, R, C}
	for _, from := range states {
		for _, to := range states {
			for _, by := range []string{byAgent, byContact, byReply, bySystem} {
				key := fmt.Sprintf("%s>%s/%s", from, to, by)
				tr, err := lookupTransition(from, to, by)
				wantTpl, want := legal[key]
				switch {
				case want && err != nil:
					t.Errorf("%s refused: %v", key, err)
				case want && tr.tpl != wantTpl:
					t.Errorf("%s mails %q, want %q", key, tr.tpl, wantTpl)
				case !want && err == nil:
					t.Errorf("%s allowed, want refused", key)
				case !want && to != N:
					var ite *IllegalTransitionError
					if !errors.As(err, &ite) {
						t.Errorf("%s: refused with %v, want an IllegalTransitionError", key, err)
					}
				case !want && to == N && !errors.Is(err, ErrInvalid):
					t.Errorf("%s: moving to new must be invalid, got %v", key, err)
				}
			}
		}
	}
	if _, err := lookupTransition(O, "done", byAgent); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown state: %v", err)
	}
}
