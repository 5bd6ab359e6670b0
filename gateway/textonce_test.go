package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// longText is n numbered lines of text, about 40 bytes each.
func longText(word string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s line %04d of a long account of it.\n", word, i)
	}
	return strings.TrimSpace(b.String())
}

// A long mail's text is on its case once: the case keeps the start of it
// as its description (what lists show and search reads), the case detail
// shows all of it, read from the message, and the thread's inbound entry
// reads the message too.
func TestCaseDescriptionIsReadFromTheOpeningMail(t *testing.T) {
	g, st := newTestGateway(t)
	ctx := context.Background()
	text := longText("Opening", 300) // 300 lines, about 12 KB
	res := ingestRaw(t, g, "From: Carol <"+contact+">\nTo: support@support.test\nSubject: A long story\n"+
		"Message-ID: <long.1@customer.example>\n\n"+text+"\n")
	if res.Outcome != store.OutcomeNewCase {
		t.Fatalf("outcome %s", res.Outcome)
	}
	c, err := st.CaseByNumber(ctx, res.Case)
	if err != nil {
		t.Fatal(err)
	}
	start, cut := strings.CutSuffix(c.Description, "\n[…]")
	if !cut || len(c.Description) > descriptionMaxBytes+10 || !strings.HasPrefix(text, start) || !strings.Contains(start, "Opening line 0001") {
		t.Errorf("the case keeps %d bytes as its description, want the start of the text, cut: %.80q…", len(c.Description), c.Description)
	}
	found, err := st.SearchCases(ctx, store.CaseSearch{Query: "line 0010 of a long"})
	if err != nil || len(found) != 1 || found[0].Number != c.Number {
		t.Errorf("search for words of the description found %d cases (%v)", len(found), err)
	}
	d, err := g.CaseDetail(ctx, c.Number)
	if err != nil {
		t.Fatal(err)
	}
	if d.Description != text {
		t.Errorf("CaseDetail's description is %d bytes, want the whole visible text (%d)", len(d.Description), len(text))
	}
	if len(d.Activity) == 0 || d.Activity[0].Kind != "inbound" || d.Activity[0].Body != text {
		t.Errorf("the thread's first entry is not the opening mail with its whole text: %+v", d.Activity)
	}

	short := ingestRaw(t, g, "From: Carol <"+contact+">\nTo: support@support.test\nSubject: Short\n"+
		"Message-ID: <short.1@customer.example>\n\nJust this.\n")
	if c, err := st.CaseByNumber(ctx, short.Case); err != nil || c.Description != "Just this." {
		t.Errorf("a short mail's description %q (%v), want its text", c.Description, err)
	}
}

// What notes and notifications quote of a long reply is bounded: each
// recipient's outbox row carries its own copy, the reply is on the case
// once, in its message.
func TestLongReplyIsQuotedBounded(t *testing.T) {
	g, st := newTestGateway(t)
	ctx := context.Background()
	ob := &outbox{t: t, st: st}
	c := openTestCase(t, g)
	ob.take()
	long := longText("Reply", 1000) // about 40 KB
	reply(t, g, watcher, c.Number, "long.reply@customer.example", long)
	got := ob.expect("watcher replied", map[string][]string{"case_updated": {contact}})
	for _, r := range got["case_updated"] {
		var d templates.Data
		if err := json.Unmarshal([]byte(r.Data), &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Body) > noticeMaxBytes+10 || !strings.HasPrefix(d.Body, "Reply line 0001") || !strings.HasSuffix(d.Body, "[…]") {
			t.Errorf("case_updated to %s quotes %d bytes of a %d-byte reply, want at most %d", r.Recipient, len(d.Body), len(long), noticeMaxBytes)
		}
	}

	if _, err := g.Transition(ctx, c.Number, store.StateResolved, "Fixed.", Actor{Email: agent}); err != nil {
		t.Fatal(err)
	}
	reply(t, g, contact, c.Number, "long.reopen@customer.example", long)
	acts, err := st.Activities(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var note string
	for _, a := range acts {
		if a.Kind == "state" && strings.Contains(a.Body, "reopened by a reply") {
			note = a.Body
		}
	}
	if note == "" || len(note) > noticeMaxBytes+100 {
		t.Errorf("the reopening's note is %d bytes, want a bounded quote of the reply", len(note))
	}
	msgs, err := st.CaseMessages(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m := msgs[len(msgs)-1]; m.Visible != long {
		t.Errorf("the reply's message keeps %d bytes of visible text, want all %d", len(m.Visible), len(long))
	}
}
