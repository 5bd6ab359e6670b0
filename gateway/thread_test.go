package gateway

import (
	"context"
	"testing"

	"github.com/casegate/casegate/store"
)

// A Message-ID we received is its sender's choice: a stranger naming it
// is not pulled into the case that carried it, while its participants and
// anyone naming our own Message-IDs still thread.
func TestThreadingPrefersOurOwnMessageIDs(t *testing.T) {
	ctx := context.Background()
	g, st := newTestGateway(t)
	c := openTestCase(t, g) // Message-ID <open.1@customer.example>, watcher dave
	if _, err := g.Transition(ctx, c.Number, store.StateClosed, "done", Actor{Email: agent}); err != nil {
		t.Fatal(err)
	}

	// A stranger's new mail naming the customer's Message-ID.
	res := ingestRaw(t, g, "From: Mallory <mallory@evil.example>\nTo: support@support.test\nSubject: Hello\n"+
		"In-Reply-To: <open.1@customer.example>\nMessage-ID: <m1@evil.example>\n\nHi there.\n")
	if res.Outcome != store.OutcomeNewCase || res.Case == c.Number || res.LinkedTo != "" {
		t.Fatalf("stranger naming a received Message-ID: %+v, want an unlinked case of its own", res)
	}
	if !hasStep(res, "thread", "foreign_message_id", "open.1@customer.example") {
		t.Errorf("trace: %+v", res.Trace)
	}
	nc, _ := st.CaseByNumber(ctx, res.Case)
	if ws, _ := st.Watchers(ctx, nc.ID); len(ws) != 0 {
		t.Fatalf("the stranger's case got %s's watchers: %+v", c.Number, ws)
	}

	// The case's own contact naming it still threads (to the closed case,
	// which opens a linked follow-up as SPEC §2 says).
	res = ingestRaw(t, g, "From: Carol <"+contact+">\nTo: support@support.test\nSubject: Re: VPN\n"+
		"In-Reply-To: <open.1@customer.example>\nMessage-ID: <c9@customer.example>\n\nIt is back.\n")
	if res.LinkedTo != c.Number {
		t.Fatalf("the contact naming her own Message-ID: %+v, want a follow-up of %s", res, c.Number)
	}
	if s, _ := step(res, "thread"); s.Result != "message_id" {
		t.Errorf("thread step = %+v", s)
	}
}

func TestThreadingOnOurMessageIDForAnyone(t *testing.T) {
	ctx := context.Background()
	g, st := newTestGateway(t)
	c := openTestCase(t, g)
	rows, err := st.ListOutbox(ctx, "", 0)
	if err != nil || len(rows) == 0 {
		t.Fatalf("no notification to answer: %v", err)
	}
	// Dave is a watcher: replying to our notification threads.
	res := ingestRaw(t, g, "From: Dave <"+watcher+">\nTo: support@support.test\nSubject: Re: something else\n"+
		"In-Reply-To: <"+rows[0].MessageID+">\nMessage-ID: <d1@customer.example>\n\nSame here.\n")
	if res.Case != c.Number || res.Outcome != store.OutcomeReply {
		t.Fatalf("reply naming our Message-ID: %+v", res)
	}
	if !hasStep(res, "thread", "message_id", "(ours)") {
		t.Errorf("trace: %+v", res.Trace)
	}
}
