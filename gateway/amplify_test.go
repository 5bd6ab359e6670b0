package gateway

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// ingestAs ingests raw (from carol@customer.example) as an authenticated
// mail (DKIM-signed with a key published in a test DNS server), as one
// that fails an enforced DMARC policy (p=reject, unsigned), or as one of
// a domain without DMARC.
func ingestAs(t *testing.T, g *Gateway, raw string, authenticated, failed bool) Result {
	t.Helper()
	d := gatewaytest.StartDNS(t)
	r, err := NewResolver(d.Addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	g.cfg.Auth = AuthConfig{Resolver: r, Timeout: 5 * time.Second}
	e := &authEnv{g: g, st: g.store, dns: d, keys: map[string]crypto.Signer{}}
	if authenticated {
		e.publishKey(t, "customer.example")
		raw = e.sign(t, "customer.example", raw)
	}
	if failed {
		d.TXT("_dmarc.customer.example", "v=DMARC1; p=reject")
	}
	return e.ingest(t, "", "x@customer.example", raw)
}

func queuedTo(t *testing.T, st *store.Store, tpl string) []string {
	t.Helper()
	rows, err := st.ListOutbox(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		if r.Template == tpl {
			out = append(out, r.Recipient)
		}
	}
	return out
}

// Who of a mail's Cc is told "you were added as a watcher": everyone for an
// authenticated mail; for any other, only the sender's own domain (by
// default), nobody ("none") or everyone ("all").
func TestWatcherNoticesFollowAuthentication(t *testing.T) {
	const cc = "Cc: dave@customer.example, erin@partner.example\n"
	mail := func(i int) string {
		return fmt.Sprintf("From: carol@customer.example\nTo: support@support.test\n%sSubject: VPN %d\nMessage-ID: <an.%d@customer.example>\n\nDown.\n", cc, i, i)
	}
	for _, tc := range []struct {
		policy        string
		authenticated bool
		want          string
	}{
		{"", true, "dave@customer.example erin@partner.example"},
		{"", false, "dave@customer.example"},
		{NoticesNone, false, ""},
		{NoticesAll, false, "dave@customer.example erin@partner.example"},
	} {
		g, st := newTestGateway(t)
		g.cfg.Protection.UnauthenticatedNotices = tc.policy
		res := ingestAs(t, g, mail(1), tc.authenticated, false)
		c, _ := st.CaseByNumber(context.Background(), res.Case)
		if ws, _ := st.Watchers(context.Background(), c.ID); len(ws) != 2 {
			t.Errorf("policy %q: %d watchers, want both", tc.policy, len(ws))
		}
		told := queuedTo(t, st, "watcher_added")
		slices.Sort(told)
		if got := strings.Join(told, " "); got != tc.want {
			t.Errorf("policy %q, authenticated %v: told %q, want %q", tc.policy, tc.authenticated, got, tc.want)
		}
	}
}

// The cap holds for the contact's reply too, and counts only new watchers.
func TestWatchersPerMailCap(t *testing.T) {
	g, st := newTestGateway(t)
	g.cfg.Protection.MaxWatchersPerMail = 3
	ctx := context.Background()
	var cc []string
	for i := 0; i < 8; i++ {
		cc = append(cc, fmt.Sprintf("w%d@customer.example", i))
	}
	res := ingestRaw(t, g, "From: carol@customer.example\nTo: support@support.test\nCc: support@support.test, carol@customer.example, "+
		strings.Join(cc, ", ")+"\nSubject: VPN\nMessage-ID: <cap.1@customer.example>\n\nDown.\n")
	c, _ := st.CaseByNumber(ctx, res.Case)
	ws, _ := st.Watchers(ctx, c.ID)
	if len(ws) != 3 || ws[0].Email != "w0@customer.example" {
		t.Fatalf("watchers %+v, want the first 3 of the Cc", ws)
	}
	if !traceHas(res.Trace, "watcher", "capped") {
		t.Errorf("the trace does not say the Cc was capped: %+v", res.Trace)
	}
	// A reply-all naming the same people and more adds at most 3 more.
	reply(t, g, "carol@customer.example", c.Number, "cap.2@customer.example", "Still down.")
	ingestRaw(t, g, "From: carol@customer.example\nTo: support@support.test\nCc: "+strings.Join(cc, ", ")+
		"\nSubject: Re: ["+c.Number+"] VPN\nMessage-ID: <cap.3@customer.example>\n\nStill down.\n")
	if ws, _ := st.Watchers(ctx, c.ID); len(ws) != 6 {
		t.Fatalf("after the reply: %d watchers, want 6", len(ws))
	}
}

func traceHas(trace []Step, step, result string) bool {
	for _, s := range trace {
		if s.Step == step && s.Result == result {
			return true
		}
	}
	return false
}

// The confirmation quotes a bounded excerpt of the visible text, and
// nothing when the sender failed authentication.
func TestConfirmationQuotesAnExcerpt(t *testing.T) {
	big := strings.Repeat("All work and no play makes Jack a dull boy. ", 20000) // ~880 KB
	for _, tc := range []struct {
		name   string
		failed bool
		body   string
		want   func(string) bool
	}{
		{"short", false, "The printer is offline.", func(s string) bool { return s == "The printer is offline." }},
		{"long", false, big, func(s string) bool {
			return len(s) <= quoteMaxBytes+8 && strings.HasSuffix(s, "[…]") && utf8.ValidString(s)
		}},
		{"failed authentication", true, "The printer is offline.", func(s string) bool { return s == "" }},
	} {
		g, st := newTestGateway(t)
		ingestAs(t, g, "From: carol@customer.example\nTo: support@support.test\nSubject: VPN\nMessage-ID: <q.1@customer.example>\n\n"+tc.body+"\n",
			false, tc.failed)
		rows, _ := st.ListOutbox(context.Background(), "", 0)
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows", tc.name, len(rows))
		}
		var d templates.Data
		if err := json.Unmarshal([]byte(rows[0].Data), &d); err != nil {
			t.Fatal(err)
		}
		if !tc.want(d.Body) {
			t.Errorf("%s: the confirmation quotes %d bytes: %.200q", tc.name, len(d.Body), d.Body)
		}
	}
}

func TestExcerpt(t *testing.T) {
	check := func(in string, lines, bytes int, want string) {
		t.Helper()
		if got := excerpt(in, lines, bytes); got != want {
			t.Errorf("excerpt(%q, %d, %d) = %q, want %q", in, lines, bytes, got, want)
		}
	}
	check("a\nb\nc", 5, 100, "a\nb\nc")
	check("a\nb\nc", 2, 100, "a\nb\n[…]")
	check("ééééé", 5, 5, "éé\n[…]")
	check("first line\nsecond line", 5, 15, "first line\n[…]")
}
