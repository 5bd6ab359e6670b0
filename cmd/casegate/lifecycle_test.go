package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// textPart returns the decoded text/plain part of a relayed mail.
func textPart(t *testing.T, m gatewaytest.Mail) string {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("relayed mail: %v", err)
	}
	for {
		p, err := r.NextPart()
		if err != nil {
			t.Fatalf("relayed mail has no text part: %v", err)
		}
		if h, ok := p.Header.(*mail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				b, _ := io.ReadAll(p.Body)
				return string(b)
			}
		}
	}
}

// api calls the HTTP API with the test token and decodes the answer.
func api(t *testing.T, m *Main, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+m.HTTPAddr+path, rd)
	req.Header.Set("Authorization", "Bearer agent-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// lifecycle drives one case from mail to survey, asserting every mail the
// relay receives on the way.
type lifecycle struct {
	t      *testing.T
	m      *Main
	relay  *gatewaytest.Relay
	nMails int
}

// expectMails waits for exactly the mails of one step, by recipient and
// subject, and returns them by recipient.
func (l *lifecycle) expectMails(step string, want map[string]string) map[string]gatewaytest.Mail {
	l.t.Helper()
	all := l.relay.Wait(l.t, l.nMails+len(want), 10*time.Second)
	time.Sleep(300 * time.Millisecond) // let any unexpected extra mail arrive too
	all = l.relay.Mails()
	got := byRecipient(l.t, all[l.nMails:])
	l.nMails = len(all)
	if len(got) != len(want) {
		l.t.Fatalf("%s: %d mails to %v, want %v", step, len(got), keys(got), want)
	}
	for rcpt, text := range want {
		m, ok := got[rcpt]
		if !ok {
			l.t.Fatalf("%s: no mail to %s", step, rcpt)
		}
		if body := textPart(l.t, m); !strings.Contains(body, text) {
			l.t.Errorf("%s: mail to %s lacks %q:\n%s", step, rcpt, text, body)
		}
		if !strings.HasPrefix(m.Header.Get("Subject"), "[CS0000001]") && !strings.HasPrefix(m.Header.Get("Subject"), "[CS0000002]") {
			l.t.Errorf("%s: subject %q", step, m.Header.Get("Subject"))
		}
	}
	return got
}

func keys(m map[string]gatewaytest.Mail) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func (l *lifecycle) state(want string) {
	l.t.Helper()
	c, err := l.m.Store.CaseByNumber(context.Background(), "CS0000001")
	if err != nil || c.State != want {
		l.t.Fatalf("CS0000001 is %s (%v), want %s", c.State, err, want)
	}
}

func (l *lifecycle) reply(from, inReplyTo, id, body string) {
	l.t.Helper()
	mustSend(l.t, l.m.SMTPAddr, from, []string{"support@localhost"}, fmt.Sprintf(
		"From: %s\nTo: support@localhost\nSubject: Re: [CS0000001] Printer on floor 3 is offline\nMessage-ID: <%s>\nIn-Reply-To: %s\n\n%s\n",
		from, id, inReplyTo, body))
}

var linkRE = regexp.MustCompile(`http://\S+/l/[A-Za-z0-9_.-]+`)

func TestEndToEndCaseLifeCycle(t *testing.T) {
	const (
		alice = "alice@customer.example"
		bob   = "bob@customer.example"
		agent = "grace@agents.example"
	)
	t.Setenv("CASEGATE_TEST_LIFECYCLE_TOKENS", "agent-token")
	relay := gatewaytest.StartRelay(t)
	m := startMain(t, relay, func(c *Config) { c.HTTP.TokensEnv = "CASEGATE_TEST_LIFECYCLE_TOKENS" })
	l := &lifecycle{t: t, m: m, relay: relay}

	mustSend(t, m.SMTPAddr, alice, []string{"support@localhost"}, "From: Alice <"+alice+">\nTo: support@localhost\nCc: Bob <"+bob+">\n"+
		"Subject: Printer on floor 3 is offline\nMessage-ID: <lc.1@customer.example>\n\nError E42.\n")
	mails := l.expectMails("opened", map[string]string{alice: "We have opened case CS0000001", bob: "on its watch list"})
	confirmID := mails[alice].Header.Get("Message-Id")

	if code := api(t, m, "PATCH", "/api/v1/cases/CS0000001", map[string]any{"assignee": agent}, nil); code != http.StatusOK {
		t.Fatalf("assign: %d", code)
	}
	l.expectMails("picked up", map[string]string{alice: "has picked up case CS0000001", bob: "has picked up case CS0000001"})
	l.state(store.StateOpen)

	if code := api(t, m, "POST", "/api/v1/cases/CS0000001/transitions",
		map[string]any{"to": "awaiting_info", "note": "Which model is it?", "author": agent}, nil); code != http.StatusOK {
		t.Fatalf("awaiting_info: %d", code)
	}
	l.expectMails("awaiting info", map[string]string{alice: "ACTION REQUIRED", bob: "Which model is it?"})

	l.reply(alice, confirmID, "lc.2@customer.example", "It is an HP 4050.")
	l.state(store.StateOpen)
	l.expectMails("answered", map[string]string{bob: "It is an HP 4050.", agent: "It is an HP 4050."})

	resolve := func(note string) map[string]gatewaytest.Mail {
		t.Helper()
		if code := api(t, m, "POST", "/api/v1/cases/CS0000001/transitions",
			map[string]any{"to": "resolved", "note": note, "author": agent}, nil); code != http.StatusOK {
			t.Fatalf("resolve: %d", code)
		}
		l.state(store.StateResolved)
		return l.expectMails("resolved", map[string]string{alice: note, bob: note})
	}
	resolve("Cleaned the fuser.")
	l.reply(alice, confirmID, "lc.3@customer.example", "reject\nStill shows E42.")
	l.state(store.StateOpen)
	l.expectMails("rejected", map[string]string{bob: "is now open", agent: "is now open"})

	mails = resolve("Replaced the fuser unit.")
	accept := ""
	for _, u := range linkRE.FindAllString(textPart(t, mails[alice]), -1) {
		if strings.Contains(textPart(t, mails[alice]), "close the case:   "+u) {
			accept = u
		}
	}
	if accept == "" || strings.Contains(textPart(t, mails[bob]), accept) {
		t.Fatalf("no accept link for the contact only:\n%s", textPart(t, mails[alice]))
	}
	u, _ := url.Parse(accept)
	resp, err := http.Post("http://"+m.HTTPAddr+u.Path, "application/x-www-form-urlencoded", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("accept link: %v %v", resp, err)
	}
	resp.Body.Close()
	l.state(store.StateClosed)
	mails = l.expectMails("closed", map[string]string{bob: "is closed", agent: "is closed", alice: "how satisfied are you"})
	surveyID := mails[alice].Header.Get("Message-Id")

	l.reply(alice, surveyID, "lc.4@customer.example", "4\nQuick and friendly.")
	c, _ := m.Store.CaseByNumber(context.Background(), "CS0000001")
	if s, err := m.Store.Survey(context.Background(), c.ID); err != nil || s.Rating != 4 || s.Comment != "Quick and friendly." {
		t.Fatalf("survey = %+v, %v", s, err)
	}
	l.state(store.StateClosed)

	l.reply(alice, confirmID, "lc.5@customer.example", "The printer is broken again.")
	c2, err := m.Store.CaseByNumber(context.Background(), "CS0000002")
	if err != nil || c2.LinkedCase != "CS0000001" || c2.Subject != "Printer on floor 3 is offline" {
		t.Fatalf("new linked case = %+v, %v", c2, err)
	}
	l.expectMails("new linked case", map[string]string{alice: "CS0000001 is closed", bob: "on its watch list"})
	l.state(store.StateClosed)
}
