package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gomsg "github.com/emersion/go-message/mail"

	"github.com/casegate/casegate/gateway/gatewaytest"
	"github.com/casegate/casegate/store"
)

// The pages in a real browser: Debian's chromium, headless, driven with
// chromedp against the real Main and a recording relay. One browser for
// the whole test; each person gets a browser context of their own (their
// own cookies). Screenshots at desktop and phone width go to a folder
// named in the test output. CASEGATE_REQUIRE_CHROMIUM=1 turns a missing
// browser into a failure.
func TestBrowser(t *testing.T) {
	path := chromiumPath()
	if path == "" {
		gatewaytest.Missing(t, "CASEGATE_REQUIRE_CHROMIUM", "chromium not found (apt-get install chromium)")
	}
	shots, err := os.MkdirTemp("", "casegate-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", shots)
	b := startBrowser(t, path, shots)
	relay := gatewaytest.StartRelay(t)
	_, port, _ := net.SplitHostPort(freePort(t))
	t.Setenv("CASEGATE_TEST_BROWSER_TOKENS", "ci:browser-token")
	m := startMain(t, relay, func(c *Config) {
		c.HTTP.Listen = "127.0.0.1:" + port
		c.PublicURL = "http://127.0.0.1:" + port
		c.HTTP.TokensEnv = "CASEGATE_TEST_BROWSER_TOKENS"
		c.TeamAddress = "team@agents.example"
	})
	base := c0(m)
	mail := func(from, subject, id, body string, cc ...string) {
		raw := "From: Carol <" + from + ">\nTo: support@localhost\n"
		if len(cc) > 0 {
			raw += "Cc: " + strings.Join(cc, ", ") + "\n"
		}
		mustSend(t, m.SMTPAddr, from, []string{"support@localhost"}, raw+"Subject: "+subject+"\nMessage-ID: <"+id+"@customer.example>\n\n"+body+"\n")
	}

	// A customer follows the link from her confirmation, comments with an
	// attachment; the watcher and the team hear of it; she closes the
	// case, and the page is read only.
	mail("carol@customer.example", "Printer on floor 3 is offline", "b1", "It shows E42.", "dave@customer.example")
	conf := waitMail(t, relay, "carol@customer.example", "We have opened case CS0000001")
	waitMail(t, relay, "team@agents.example", "New case CS0000001")
	carolLink := linkIn(t, conf, "Follow the case online: ")
	carol := b.person(t)
	file := filepath.Join(t.TempDir(), "error-log.txt")
	os.WriteFile(file, []byte("E42 at 09:14\n"), 0o644)
	carol.run(t, chromedp.Navigate(carolLink), chromedp.WaitVisible(chromedp.CSS("#body")))
	carol.shoot(t, "customer-case-page")
	carol.run(t, chromedp.SendKeys(chromedp.CSS("#body"), "It happens on every page I print."),
		chromedp.SetUploadFiles(chromedp.CSS("#files"), []string{file}))
	carol.click(t, `form[action$="/comment"] button`, "p.notice")
	carol.see(t, "main", "Your comment was added.", "It happens on every page I print.", "error-log.txt")
	waitMail(t, relay, "dave@customer.example", "It happens on every page I print.")
	waitMail(t, relay, "team@agents.example", "It happens on every page I print.")
	if d, _ := m.Gateway.CaseDetail(context.Background(), "CS0000001"); len(d.Attachments) != 1 || d.Attachments[0].Filename != "error-log.txt" {
		t.Fatalf("attachments after the comment: %+v", d.Attachments)
	}
	carol.click(t, `form[action$="/close"] button`, "div.readonly")
	carol.see(t, "main", "This case is closed", "Open a new case about this")
	carol.absent(t, "#body")
	carol.shoot(t, "customer-closed-case")
	if c, _ := m.Store.CaseByNumber(context.Background(), "CS0000001"); c.State != store.StateClosed {
		t.Fatalf("after closing on the page: %s", c.State)
	}

	// An agent signs in through the mailed link, works the queue,
	// replies and resolves; the customer accepts on the page.
	mail("carol@customer.example", "VPN drops every hour", "b2", "Since Monday.")
	conf2 := waitMail(t, relay, "carol@customer.example", "We have opened case CS0000002")
	grace := b.person(t)
	grace.run(t, chromedp.Navigate(base+"/console"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "grace@agents.example"))
	grace.click(t, `form[action="/console/signin"] button`, "h1")
	grace.see(t, "main", "Check your mail")
	signin := linkIn(t, waitMail(t, relay, "grace@agents.example", "Sign in: "), "Sign in: ")
	grace.run(t, chromedp.Navigate(signin), chromedp.WaitVisible(chromedp.CSS("form button")))
	if c, _ := m.Store.CaseByNumber(context.Background(), "CS0000002"); c.State != store.StateNew {
		t.Fatal("the sign-in page acted on a GET")
	}
	grace.click(t, "form button", "table.cases")
	grace.see(t, "main", "CS0000002", "VPN drops every hour")
	grace.shoot(t, "agent-queue")
	// Each click that leaves the page waits for the next one (click): a
	// wait for an element alone could be met by the page being left.
	grace.run(t, chromedp.SetValue(chromedp.CSS("#q"), "VPN"))
	grace.click(t, `form[role="search"] button`, "table.cases")
	grace.absent(t, `a[href="/console/cases/CS0000001"]`)
	grace.click(t, `a[href="/console/cases/CS0000002"]`, "#body")
	grace.run(t, chromedp.SendKeys(chromedp.CSS("#body"), "Please update the VPN client to 5.2."))
	grace.click(t, `form[action$="/reply"] button`, "p.notice")
	waitMail(t, relay, "carol@customer.example", "Please update the VPN client to 5.2.")
	grace.run(t, chromedp.Navigate(base+"/console/cases/CS0000002"), chromedp.WaitVisible(chromedp.CSS("#to")),
		chromedp.SetValue(chromedp.CSS("#to"), "resolved"), chromedp.SendKeys(chromedp.CSS("#note"), "Client 5.2 fixes the drops."))
	grace.click(t, `form[action$="/transition"] button`, "p.notice")
	grace.see(t, "main", "resolved", "Client 5.2 fixes the drops.", "Decision trace")
	grace.shoot(t, "agent-case")
	waitMail(t, relay, "carol@customer.example", "Client 5.2 fixes the drops.")
	carol.run(t, chromedp.Navigate(linkIn(t, conf2, "Follow the case online: ")), chromedp.WaitVisible(chromedp.CSS(`form[action$="/accept"] button`)))
	carol.shoot(t, "customer-resolved-case")
	carol.click(t, `form[action$="/accept"] button`, "div.readonly")
	carol.see(t, "main", "The case is closed.")
	if c, _ := m.Store.CaseByNumber(context.Background(), "CS0000002"); c.State != store.StateClosed {
		t.Fatalf("after accepting on the page: %s", c.State)
	}

	// An agent opens a case on behalf of a customer, who gets the
	// confirmation.
	grace.run(t, chromedp.Navigate(base+"/console/new"), chromedp.WaitVisible(chromedp.CSS("#contact")),
		chromedp.SendKeys(chromedp.CSS("#contact"), "erin@customer.example"),
		chromedp.SendKeys(chromedp.CSS("#subject"), "New laptop for Erin"),
		chromedp.SendKeys(chromedp.CSS("#description"), "Erin starts on Monday."))
	grace.click(t, `form[action="/console/new"] button`, "p.notice")
	grace.see(t, "main", "CS0000003", "erin@customer.example", "opened by grace@agents.example on behalf of erin@customer.example")
	waitMail(t, relay, "erin@customer.example", "We have opened case CS0000003")

	// A forged or missing CSRF token is refused, and changes nothing.
	mail("carol@customer.example", "Scanner jams", "b4", "Every page.")
	conf4 := waitMail(t, relay, "carol@customer.example", "We have opened case CS0000004")
	link4 := linkIn(t, conf4, "Follow the case online: ")
	carol.run(t, chromedp.Navigate(link4), chromedp.WaitVisible(chromedp.CSS("#body")),
		chromedp.SetAttributeValue(chromedp.CSS(`form[action$="/close"] input[name="csrf"]`), "value", "forged"))
	carol.click(t, `form[action$="/close"] button`, "h1")
	carol.see(t, "main", "Please try again", "did not come from our pages")
	carol.run(t, chromedp.Navigate(link4), chromedp.WaitVisible(chromedp.CSS("#body")),
		chromedp.SetAttributeValue(chromedp.CSS(`form[action$="/close"] input[name="csrf"]`), "name", "other"))
	carol.click(t, `form[action$="/close"] button`, "h1")
	carol.see(t, "main", "Please try again")
	if c, _ := m.Store.CaseByNumber(context.Background(), "CS0000004"); c.State != store.StateNew {
		t.Fatalf("a form without a good CSRF token changed the case: %s", c.State)
	}

	// One customer's session cannot open another's case.
	erin := b.person(t)
	erin.run(t, chromedp.Navigate(base+"/portal"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "erin@customer.example"))
	erin.click(t, `form[action="/portal/signin"] button`, "h1")
	erin.see(t, "main", "Check your mail")
	erin.run(t, chromedp.Navigate(linkIn(t, waitMail(t, relay, "erin@customer.example", "Sign in: "), "Sign in: ")))
	erin.click(t, "form button", "table.cases")
	erin.see(t, "main", "My cases", "CS0000003")
	erin.absent(t, `a[href="/portal/cases/CS0000004"]`)
	erin.shoot(t, "customer-portal")
	erin.run(t, chromedp.Navigate(base+"/portal/cases/CS0000004"), chromedp.WaitVisible(chromedp.CSS("h1")))
	erin.see(t, "main", "Case not found")
	erin.absent(t, "#body")

	// A signed link for one case does not open another.
	forged := retarget(t, carolLink, "CS0000001", "CS0000003")
	erin.run(t, chromedp.Navigate(forged), chromedp.WaitVisible(chromedp.CSS("h1")))
	erin.see(t, "main", "Link not valid")
	erin.run(t, chromedp.Navigate(carolLink+"/attachments/999"), chromedp.WaitVisible(chromedp.CSS("h1")))
	erin.see(t, "main", "Not found")
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func c0(m *Main) string { return "http://" + m.HTTPAddr }

// browser is one headless chromium for the test.
type browser struct {
	ctx   context.Context
	shots string
}

func startBrowser(t *testing.T, path, shots string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 900)}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: bctx, shots: shots}
}

// person is a browser context of its own: its own cookies.
type person struct {
	ctx   context.Context
	shots string
}

func (b *browser) person(t *testing.T) *person {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // the tab lives as long as ctx, not one action's timeout
		t.Fatalf("new browser context: %v", err)
	}
	return &person{ctx: ctx, shots: b.shots}
}

func (p *person) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail(t, err)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, p *person, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		p.fail(t, err)
	}
	return v
}

func (p *person) fail(t *testing.T, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	t.Fatalf("browser: %v\npage: %s", err, html)
}

// click clicks sel, which leaves the page, and waits until the next
// page is loaded and shows then.
func (p *person) click(t *testing.T, sel, then string) {
	t.Helper()
	get(t, p, chromedp.Evaluate[bool](`document.documentElement.setAttribute("data-left", "1"), true`))
	p.run(t, chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(45 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && !document.documentElement.hasAttribute("data-left")`))
		cancel()
		if err == nil && loaded {
			break
		}
		if time.Now().After(deadline) {
			p.fail(t, fmt.Errorf("no new page after clicking %s", sel))
		}
		time.Sleep(30 * time.Millisecond)
	}
	p.run(t, chromedp.WaitVisible(chromedp.CSS(then)))
}

// see asserts that the text of sel contains each of want.
func (p *person) see(t *testing.T, sel string, want ...string) {
	t.Helper()
	text := get(t, p, chromedp.Text(chromedp.CSS(sel)))
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Fatalf("the page lacks %q:\n%s", w, text)
		}
	}
}

// absent asserts that nothing on the page matches sel.
func (p *person) absent(t *testing.T, sel string) {
	t.Helper()
	n := get(t, p, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if n != 0 {
		t.Fatalf("the page has %s", sel)
	}
}

// shoot saves the page at desktop and at phone width.
func (p *person) shoot(t *testing.T, name string) {
	t.Helper()
	for _, size := range []struct {
		suffix string
		w, h   int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		p.run(t, chromedp.EmulateViewport(size.w, size.h))
		buf := get(t, p, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(p.shots, name+"-"+size.suffix+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.run(t, chromedp.EmulateViewport(1280, 900))
}

// waitMail waits for a mail at the relay to rcpt whose text contains
// want, and returns its text.
func waitMail(t *testing.T, relay *gatewaytest.Relay, rcpt, want string) string {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range relay.Mails() {
			if len(m.To) == 1 && strings.EqualFold(m.To[0], rcpt) {
				if text := mailText(m.Data); strings.Contains(text, want) {
					return text
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no mail to %s with %q", rcpt, want)
	return ""
}

// mailText is the text part of a mail, decoded.
func mailText(raw []byte) string {
	mr, err := gomsg.CreateReader(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return ""
		}
		if h, ok := p.Header.(*gomsg.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				b, _ := io.ReadAll(p.Body)
				return string(b)
			}
		}
	}
}

func linkIn(t *testing.T, text, label string) string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(label) + `(\S+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %q link in:\n%s", label, text)
	}
	return m[1]
}

// retarget is a case link whose signed payload names another case (the
// signature no longer matches).
func retarget(t *testing.T, link, from, to string) string {
	t.Helper()
	i := strings.LastIndex(link, "/c/") + 3
	payload, sig, _ := strings.Cut(link[i:], ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	return link[:i] + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), from, to, 1))) + "." + sig
}
