package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"

	"github.com/casegate/casegate/store"
)

// ingestRaw runs one mail through the ingestion path.
func ingestRaw(t *testing.T, g *Gateway, raw string) Result {
	t.Helper()
	raw = strings.ReplaceAll(strings.ReplaceAll(raw, "\r\n", "\n"), "\n", "\r\n")
	res, err := g.Ingest(context.Background(), []byte(raw), Envelope{Source: "smtp", From: "x@customer.example", To: []string{"support@support.test"}})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return res
}

// outbox is the notifications queued since the last call, by template.
type outbox struct {
	t    *testing.T
	st   *store.Store
	seen int64
}

func (o *outbox) take() map[string][]store.OutboxMail {
	o.t.Helper()
	rows, err := o.st.ListOutbox(context.Background(), "", 0)
	if err != nil {
		o.t.Fatal(err)
	}
	out := map[string][]store.OutboxMail{}
	for _, r := range rows {
		if r.ID > o.seen {
			out[r.Template] = append(out[r.Template], r)
		}
	}
	for _, r := range rows {
		o.seen = max(o.seen, r.ID)
	}
	return out
}

// expect asserts that exactly the given templates were queued, each to
// exactly the given recipients.
func (o *outbox) expect(what string, want map[string][]string) map[string][]store.OutboxMail {
	o.t.Helper()
	got := o.take()
	for tpl, rows := range got {
		var rcpts []string
		for _, r := range rows {
			rcpts = append(rcpts, r.Recipient)
		}
		slices.Sort(rcpts)
		w := slices.Clone(want[tpl])
		slices.Sort(w)
		if !slices.Equal(rcpts, w) {
			o.t.Errorf("%s: %s to %v, want %v", what, tpl, rcpts, w)
		}
	}
	for tpl, w := range want {
		if _, ok := got[tpl]; !ok && len(w) > 0 {
			o.t.Errorf("%s: no %s, want it to %v", what, tpl, w)
		}
	}
	return got
}

const (
	contact = "carol@customer.example"
	watcher = "dave@customer.example"
	agent   = "eve@agents.test"
)

func openTestCase(t *testing.T, g *Gateway) store.Case {
	t.Helper()
	res := ingestRaw(t, g, "From: Carol <"+contact+">\nTo: support@support.test\nCc: Dave <"+watcher+">\n"+
		"Subject: VPN drops every hour\nMessage-ID: <open.1@customer.example>\n\nThe VPN disconnects every hour.\n")
	c, err := g.store.CaseByNumber(context.Background(), res.Case)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func reply(t *testing.T, g *Gateway, from, number, id, body string) Result {
	t.Helper()
	return ingestRaw(t, g, fmt.Sprintf("From: %s\nTo: support@support.test\nSubject: Re: [%s] VPN drops every hour\nMessage-ID: <%s>\n\n%s\n", from, number, id, body))
}

func TestNotificationRecipients(t *testing.T) {
	g, st := newTestGateway(t)
	g.cfg.Survey = true
	ctx := context.Background()
	ob := &outbox{t: t, st: st}
	c := openTestCase(t, g)
	ob.expect("opened by mail", map[string][]string{"case_created": {contact}, "watcher_added": {watcher}})

	agentActor := Actor{Email: agent, Name: "Eve"}
	assignee := agent
	if _, err := g.Update(ctx, c.Number, store.CasePatch{Assignee: &assignee}, agentActor); err != nil {
		t.Fatal(err)
	}
	ob.expect("picked up", map[string][]string{"case_picked_up": {contact, watcher}})

	if _, err := g.Comment(ctx, c.Number, "Which client version?", true, agentActor); err != nil {
		t.Fatal(err)
	}
	ob.expect("public comment", map[string][]string{"case_comment": {contact, watcher}})
	if _, err := g.Comment(ctx, c.Number, "Probably the firewall.", false, agentActor); err != nil {
		t.Fatal(err)
	}
	ob.expect("internal comment", map[string][]string{})

	reply(t, g, contact, c.Number, "r1@customer.example", "Version 5.2.")
	ob.expect("contact replied", map[string][]string{"case_updated": {watcher, agent}})
	reply(t, g, watcher, c.Number, "r2@customer.example", "Same on my laptop.")
	ob.expect("watcher replied", map[string][]string{"case_updated": {contact, agent}})

	if _, err := g.Transition(ctx, c.Number, store.StateAwaitingInfo, "Please send the log file.", agentActor); err != nil {
		t.Fatal(err)
	}
	ob.expect("awaiting info", map[string][]string{"case_awaiting_info": {contact, watcher}})
	reply(t, g, contact, c.Number, "r3@customer.example", "Log attached.")
	ob.expect("answer reopens", map[string][]string{"case_updated": {watcher, agent}})
	if c, _ = st.CaseByNumber(ctx, c.Number); c.State != store.StateOpen {
		t.Fatalf("after the answer: %s", c.State)
	}

	if _, err := g.Transition(ctx, c.Number, store.StateOnHold, "Waiting for the vendor.", agentActor); err != nil {
		t.Fatal(err)
	}
	ob.expect("on hold", map[string][]string{"case_state_changed": {contact, watcher}})

	if _, err := g.Transition(ctx, c.Number, store.StateResolved, "Updated the VPN client to 5.3.", agentActor); err != nil {
		t.Fatal(err)
	}
	got := ob.expect("resolved", map[string][]string{"case_resolved": {contact, watcher}})
	for _, m := range got["case_resolved"] {
		hasAccept := strings.Contains(m.Data, "/l/")
		if m.Recipient == contact && !strings.Contains(m.Data, `"accept"`) {
			t.Errorf("contact's resolution notice lacks the accept link")
		}
		if m.Recipient == watcher && (strings.Contains(m.Data, `"accept"`) || !hasAccept) {
			t.Errorf("watcher's notice: want an unsubscribe link and no accept link: %s", m.Data)
		}
	}

	reply(t, g, contact, c.Number, "r4@customer.example", "reject\nStill drops.")
	ob.expect("rejected", map[string][]string{"case_state_changed": {watcher, agent}})
	if _, err := g.Transition(ctx, c.Number, store.StateResolved, "Replaced the router.", agentActor); err != nil {
		t.Fatal(err)
	}
	ob.take()
	reply(t, g, contact, c.Number, "r5@customer.example", "Accept, thanks!")
	ob.expect("accepted", map[string][]string{"case_closed": {watcher, agent}, "case_survey": {contact}})

	res := reply(t, g, contact, c.Number, "r6@customer.example", "It is back!")
	if res.Outcome != store.OutcomeNewCase || res.LinkedTo != c.Number {
		t.Fatalf("reply to closed: %+v", res)
	}
	ob.expect("reply to closed", map[string][]string{"case_created_from_closed": {contact}, "watcher_added": {watcher}})
}

func TestNotificationThreadingHeaders(t *testing.T) {
	g, st := newTestGateway(t)
	ctx := context.Background()
	c := openTestCase(t, g)
	reply(t, g, contact, c.Number, "r1@customer.example", "More detail.")
	rows, err := st.ListOutbox(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		msg, err := g.compose(r)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		msg.WriteTo(&buf)
		head := buf.String()
		if i := strings.Index(head, "\r\n\r\n"); i > 0 {
			head = head[:i]
		}
		if !strings.Contains(head, "In-Reply-To: <"+r.InReplyTo+">") || r.InReplyTo == "" {
			t.Errorf("%s to %s: In-Reply-To %q not in headers", r.Template, r.Recipient, r.InReplyTo)
		}
		if !strings.Contains(head, "References: <open.1@customer.example>") {
			t.Errorf("%s to %s: References do not start at the opening mail:\n%s", r.Template, r.Recipient, head)
		}
		if !strings.Contains(head, "Subject: ["+c.Number+"] VPN drops every hour") {
			t.Errorf("%s: subject tag missing", r.Template)
		}
		isWatcher := r.Role == "watcher"
		if strings.Contains(head, "List-Unsubscribe-Post: List-Unsubscribe=One-Click") != isWatcher {
			t.Errorf("%s to %s (%s): List-Unsubscribe one-click present=%v", r.Template, r.Recipient, r.Role, !isWatcher)
		}
	}
	if len(rows) != 3 { // case_created, watcher_added, case_updated to the watcher
		t.Fatalf("%d notifications, want 3", len(rows))
	}
}

func TestSignedLinks(t *testing.T) {
	g, st := newTestGateway(t)
	g.cfg.Survey = true
	ctx := context.Background()
	c := openTestCase(t, g)
	other := ingestRaw(t, g, "From: "+contact+"\nTo: support@support.test\nSubject: Second\nMessage-ID: <o@customer.example>\n\nx\n")
	agentActor := Actor{Email: agent}
	if _, err := g.Transition(ctx, c.Number, store.StateResolved, "Fixed.", agentActor); err != nil {
		t.Fatal(err)
	}
	c, _ = st.CaseByNumber(ctx, c.Number)
	accept := g.linksFor(c, "case_resolved", recipient{Email: contact, Role: "contact"})["accept"]
	post := func(u string) int {
		t.Helper()
		_, _, err := g.FollowLink(ctx, linkToken(u))
		return linkStatus(t, err)
	}
	get := func(u string) int {
		t.Helper()
		_, err := g.InspectLink(ctx, linkToken(u))
		return linkStatus(t, err)
	}

	// Forged: a flipped signature byte; reused: the payload names another case.
	forged := accept[:len(accept)-2] + "AA"
	if code := post(forged); code != http.StatusForbidden {
		t.Errorf("forged link: %d", code)
	}
	token := linkToken(accept)
	payload, sig, _ := strings.Cut(token, ".")
	raw, _ := b64.DecodeString(payload)
	moved := strings.Replace(string(raw), c.Number, other.Case, 1)
	if code := post("/l/" + b64.EncodeToString([]byte(moved)) + "." + sig); code != http.StatusForbidden {
		t.Errorf("link reused for another case: %d", code)
	}
	// A GET only shows the page: a mail scanner does not close the case.
	if code := get(accept); code != http.StatusOK {
		t.Errorf("GET accept page: %d", code)
	}
	if c, _ := st.CaseByNumber(ctx, c.Number); c.State != store.StateResolved {
		t.Fatalf("GET changed the case: %s", c.State)
	}
	// Reopened and resolved again: the first resolution's link no longer applies.
	reply(t, g, contact, c.Number, "x1@customer.example", "Not fixed at all.")
	if code := post(accept); code != http.StatusConflict {
		t.Errorf("accept on a reopened case: %d", code)
	}
	if _, err := g.Transition(ctx, c.Number, store.StateResolved, "Fixed for real.", agentActor); err != nil {
		t.Fatal(err)
	}
	if code := post(accept); code != http.StatusConflict {
		t.Errorf("old accept link on the new resolution: %d", code)
	}
	c, _ = st.CaseByNumber(ctx, c.Number)
	accept = g.linksFor(c, "case_resolved", recipient{Email: contact, Role: "contact"})["accept"]
	if code := post(accept); code != http.StatusOK {
		t.Fatalf("accept: %d", code)
	}
	if c, _ := st.CaseByNumber(ctx, c.Number); c.State != store.StateClosed {
		t.Fatalf("after accept: %s", c.State)
	}
	// Survey: rated once.
	rate4 := g.linksFor(c, "case_survey", recipient{Email: contact, Role: "contact"})["rate4"]
	rate2 := g.linksFor(c, "case_survey", recipient{Email: contact, Role: "contact"})["rate2"]
	if code := post(rate4); code != http.StatusOK {
		t.Fatalf("rate: %d", code)
	}
	if code := post(rate2); code != http.StatusConflict {
		t.Errorf("second rating: %d", code)
	}
	if s, _ := st.Survey(ctx, c.ID); s.Rating != 4 || s.Via != "link" {
		t.Errorf("survey = %+v", s)
	}
	// One-click unsubscribe (RFC 8058).
	unsub := g.linksFor(c, "case_updated", recipient{Email: watcher, Role: "watcher"})["unsubscribe"]
	if code := post(unsub); code != http.StatusConflict && code != http.StatusOK {
		t.Fatalf("unsubscribe: %v", code)
	}
}

// linkToken is the token of a signed link's URL.
func linkToken(u string) string { return u[strings.LastIndex(u, "/l/")+3:] }

// linkStatus is the HTTP status the link pages answer err with.
func linkStatus(t *testing.T, err error) int {
	t.Helper()
	var stale *LinkStaleError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrBadLink):
		return http.StatusForbidden
	case errors.As(err, &stale), errors.Is(err, store.ErrAlreadyRated):
		return http.StatusConflict
	}
	t.Fatalf("link: %v", err)
	return 0
}

func TestUnsubscribeRemovesWatcher(t *testing.T) {
	g, st := newTestGateway(t)
	c := openTestCase(t, g)
	unsub := g.linksFor(c, "case_updated", recipient{Email: watcher, Role: "watcher"})["unsubscribe"]
	if _, _, err := g.FollowLink(context.Background(), linkToken(unsub)); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	if ws, _ := st.Watchers(context.Background(), c.ID); len(ws) != 0 {
		t.Fatalf("still watching: %+v", ws)
	}
}

func TestSurveyByReplyAndAgentMail(t *testing.T) {
	e := newAuthEnv(t) // agent mail acts only when authenticated: DKIM-signed here
	e.publishKey(t, "agents.test")
	g, st := e.g, e.st
	g.cfg.Survey = true
	ctx := context.Background()
	c := openTestCase(t, g)
	agentReply := func(from, number, id, body string) Result {
		return e.ingest(t, "", from, e.sign(t, "agents.test",
			fmt.Sprintf("From: %s\nTo: support@support.test\nSubject: Re: [%s] VPN drops every hour\nMessage-ID: <%s>\n\n%s\n", from, number, id, body)))
	}
	res := agentReply(agent, c.Number, "a1@agents.test", "#assign me\n#state resolved\nReplaced the VPN client.")
	if res.Outcome != store.OutcomeReply {
		t.Fatalf("agent mail: %+v", res)
	}
	c, _ = st.CaseByNumber(ctx, c.Number)
	if c.State != store.StateResolved || c.Assignee != agent {
		t.Fatalf("agent mail: state %s assignee %q", c.State, c.Assignee)
	}
	agentReply(agent, c.Number, "a2@agents.test", "#internal\nCustomer seems happy.")
	acts, _ := st.Activities(ctx, c.ID)
	last := acts[len(acts)-1]
	if last.Kind != "comment" || last.Public || last.Body != "Customer seems happy." {
		t.Fatalf("internal agent comment: %+v", last)
	}
	// An illegal command never refuses the mail; it is noted on the case.
	if res := agentReply(agent, c.Number, "a3@agents.test", "#state awaiting_info\nMore?"); res.Outcome != store.OutcomeReply {
		t.Fatalf("illegal command: %+v", res)
	}
	reply(t, g, contact, c.Number, "c1@customer.example", "close")
	c, _ = st.CaseByNumber(ctx, c.Number)
	if c.State != store.StateClosed {
		t.Fatalf("after close word: %s", c.State)
	}
	if res := reply(t, g, contact, c.Number, "c2@customer.example", "5\nVery quick, thanks."); res.Outcome != store.OutcomeReply || res.Case != c.Number {
		t.Fatalf("rating reply: %+v", res)
	}
	if s, _ := st.Survey(ctx, c.ID); s.Rating != 5 || s.Comment != "Very quick, thanks." {
		t.Fatalf("survey = %+v", s)
	}
	if res := reply(t, g, contact, c.Number, "c3@customer.example", "3"); res.Outcome != store.OutcomeIgnored {
		t.Fatalf("second rating: %+v", res)
	}
}

func TestStrangerCannotWriteIntoCase(t *testing.T) {
	g, st := newTestGateway(t)
	c := openTestCase(t, g)
	res := reply(t, g, "mallory@evil.example", c.Number, "m1@evil.example", "accept")
	if res.Outcome != store.OutcomeNewCase || res.Case == c.Number || res.LinkedTo != c.Number {
		t.Fatalf("stranger: %+v", res)
	}
	msgs, _ := st.CaseMessages(context.Background(), c.ID)
	if len(msgs) != 1 {
		t.Fatalf("stranger's mail landed on %s", c.Number)
	}
	g.cfg.UnknownSender = "reject"
	if res := reply(t, g, "mallory@evil.example", c.Number, "m2@evil.example", "hi"); res.Outcome != store.OutcomeIgnored || res.Case != "" {
		t.Fatalf("stranger with reject policy: %+v", res)
	}
}

func TestPriorityHintAndHeaderInjection(t *testing.T) {
	g, st := newTestGateway(t)
	ctx := context.Background()
	// The subject decodes to a line break followed by a Bcc header.
	res := ingestRaw(t, g, "From: carol@customer.example\nTo: support@support.test\nImportance: high\n"+
		"Subject: =?utf-8?b?SGVsbG8NCkJjYzogZXZpbEBldmlsLmV4YW1wbGU=?=\nMessage-ID: <inj@customer.example>\n\n"+
		"<script>alert(1)</script>\n")
	c, err := st.CaseByNumber(ctx, res.Case)
	if err != nil {
		t.Fatal(err)
	}
	if c.Priority != "high" {
		t.Errorf("priority %q, want the high hint", c.Priority)
	}
	rows, _ := st.ListOutbox(ctx, "", 0)
	if len(rows) != 1 {
		t.Fatalf("%d notifications", len(rows))
	}
	msg, err := g.compose(rows[0])
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	msg.WriteTo(&buf)
	out := buf.String()
	head, _, _ := strings.Cut(out, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Errorf("injected header: %q", line)
		}
	}
	mr, err := mail.CreateReader(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	sawHTML := false
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if ct, _, _ := p.Header.(*mail.InlineHeader).ContentType(); ct == "text/html" {
			b, _ := io.ReadAll(p.Body)
			sawHTML = true
			if strings.Contains(string(b), "<script>") || !strings.Contains(string(b), "&lt;script&gt;") {
				t.Errorf("HTML part does not escape the customer's text:\n%s", b)
			}
		}
	}
	if !sawHTML {
		t.Error("no HTML part")
	}
}

func TestContactRemovesWatcherByLink(t *testing.T) {
	g, st := newTestGateway(t)
	c := openTestCase(t, g)
	rows, _ := st.ListOutbox(context.Background(), "", 0)
	var contactData, watcherData string
	for _, r := range rows {
		switch r.Recipient {
		case contact:
			contactData = r.Data
		case watcher:
			watcherData = r.Data
		}
	}
	var d struct {
		Watchers []struct{ Email, Link string }
	}
	if err := json.Unmarshal([]byte(contactData), &d); err != nil || len(d.Watchers) != 1 || d.Watchers[0].Link == "" {
		t.Fatalf("contact's confirmation lacks the remove link: %s", contactData)
	}
	if strings.Contains(watcherData, "unwatch") || strings.Contains(watcherData, d.Watchers[0].Link) {
		t.Fatalf("the watcher got the contact's remove link")
	}
	if _, _, err := g.FollowLink(context.Background(), linkToken(d.Watchers[0].Link)); err != nil {
		t.Fatalf("remove link: %v", err)
	}
	if ws, _ := st.Watchers(context.Background(), c.ID); len(ws) != 0 {
		t.Fatalf("watcher not removed: %+v", ws)
	}
}
