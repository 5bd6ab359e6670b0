package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/casegate/casegate/templates"
)

// Reload changes addresses, agents and policies for what follows, while
// messages are being ingested, and leaves the fixed settings alone.
func TestReloadWhileIngesting(t *testing.T) {
	e := newOpsEnv(t, Protection{})
	ctx := context.Background()
	if _, _, ok := e.g.inbound("helpdesk@support.test"); ok {
		t.Fatal("helpdesk@ accepted before the reload")
	}
	tpl, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	next := e.g.cfg
	next.Addresses = append(next.Addresses, Address{Address: "HelpDesk@support.test", Kind: "order"})
	next.Agents = []string{"grace@partner.example"}
	next.UnknownSender = "reject"
	next.Hostname = "elsewhere.example" // fixed: ignored

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			raw := fmt.Sprintf("From: f%d@customer.example\r\nTo: support@support.test\r\nSubject: s%d\r\nMessage-ID: <r.%d@customer.example>\r\n\r\nx\r\n", i, i, i)
			if _, err := e.g.Ingest(ctx, []byte(raw), Envelope{Source: "smtp", From: "f@customer.example", To: []string{"support@support.test"}}); err != nil {
				t.Error(err)
			}
		}
	}()
	if err := e.g.Reload(next, tpl); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	if a, _, ok := e.g.inbound("helpdesk+CS0000001@support.test"); !ok || a.Kind != "order" {
		t.Errorf("helpdesk@ after the reload: %v %v", a, ok)
	}
	if !e.g.isAgent("grace@partner.example") || e.g.isAgent("someone@agents.test") {
		t.Error("agents not replaced by the reload")
	}
	if e.g.rules().UnknownSender != "reject" {
		t.Error("policy not replaced by the reload")
	}
	if e.g.rules().Hostname != "support.test" || e.g.cfg.Hostname != "support.test" {
		t.Error("the hostname, fixed at start, changed")
	}
	if err := e.g.Reload(Config{}, tpl); err == nil {
		t.Error("a reload without addresses was accepted")
	}
	if _, _, ok := e.g.inbound("helpdesk@support.test"); !ok {
		t.Error("a refused reload changed the running rules")
	}
}

// The policies of sender authentication and spam are reloaded too, and
// the authserv-id and the timeout: a reload to policy.spam store keeps
// the next spam without a case instead of quarantining it. A reload
// without a resolver keeps the one in force.
func TestReloadSpamPolicy(t *testing.T) {
	e := newAuthEnv(t)
	mail := "X-Spam-Flag: YES\n" + received(outsideIP) +
		"From: Bob <bob@spam.example>\nTo: support@support.test\nSubject: Cheap pills\nMessage-ID: <%s@spam.example>\n\nBuy now.\n"
	if res := e.ingest(t, mxRelay, "bob@spam.example", fmt.Sprintf(mail, "before")); res.Outcome != OutcomeQuarantined {
		t.Fatalf("before the reload: %+v", res)
	}
	tpl, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	next := e.g.cfg
	next.Auth.Spam, next.Auth.DMARCFail, next.Auth.TempError = "store", "quarantine", "retry"
	next.Auth.AuthservID = "elsewhere.example"
	next.Auth.Timeout = 3 * time.Second
	next.Auth.Resolver = nil // keeps the one in force
	if err := e.g.Reload(next, tpl); err != nil {
		t.Fatal(err)
	}
	if res := e.ingest(t, mxRelay, "bob@spam.example", fmt.Sprintf(mail, "after")); res.Outcome != OutcomeSpam {
		t.Fatalf("after the reload to policy.spam store: %+v", res)
	}
	if a := e.g.rules().Auth; a.DMARCFail != "quarantine" || a.TempError != "retry" || a.AuthservID != "elsewhere.example" ||
		a.Timeout != 3*time.Second || a.Resolver == nil || a.Resolver != e.g.cfg.Auth.Resolver {
		t.Errorf("auth rules after the reload: %+v", a)
	}
}
