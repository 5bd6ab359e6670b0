package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/rspamdtest"
	"github.com/casegate/casegate/store"
)

// useRspamd points g's direct spam check at url.
func useRspamd(t *testing.T, g *Gateway, url, onError string) {
	t.Helper()
	useRspamdWithin(t, g, url, onError, 5*time.Second)
}

func useRspamdWithin(t *testing.T, g *Gateway, url, onError string, timeout time.Duration) {
	t.Helper()
	r, err := NewRspamd(RspamdConfig{URL: url, Timeout: timeout, OnError: onError, Password: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	g.cfg.Auth.Rspamd = r
}

// rspamdMail is a customer's mail with body as its text.
func rspamdMail(id, subject, body string) string {
	return fmt.Sprintf("From: Bob <bob@customer.example>\nTo: support@support.test\nSubject: %s\n"+
		"Date: Mon, 23 Nov 2026 09:00:00 +0000\nMessage-ID: <%s@customer.example>\n\n%s\n", subject, id, body)
}

// ingestFrom runs raw through ingestion as an SMTP mail from a client on
// the internet.
func ingestFrom(g *Gateway, raw string) (Result, error) {
	return g.Ingest(context.Background(), []byte(crlf(raw)), Envelope{Source: "smtp", From: "bob@customer.example",
		To: []string{"support@support.test"}, ClientIP: outsideIP, HELO: "mail.customer.example"})
}

// Against a real rspamd: GTUBE and its variants are spam, kept by
// policy.spam with no mail back; a plain mail opens a case; a soft reject
// is no verdict, taken or retried as rspamd.on_error says.
func TestRspamdVerdicts(t *testing.T) {
	rs := rspamdtest.Start(t)
	g, st := newTestGateway(t)
	useRspamd(t, g, rs.URL, "accept")
	for _, tc := range []struct {
		name, subject, body string
		outcome, reason     string
		step, detail        string
	}{
		{"gtube", "Test", rspamdtest.GTUBE, OutcomeQuarantined, "spam", "yes", "rspamd: reject, score 15.00 / 15.00 (GTUBE"},
		{"add header", "Test", rspamdtest.AddHeaderPattern, OutcomeQuarantined, "spam", "yes", "rspamd: add header"},
		{"rewrite subject", "Test", rspamdtest.RewriteSubjectPattern, OutcomeQuarantined, "spam", "yes", "rspamd: rewrite subject"},
		{"plain", "Printer offline", "My printer shows E42 since this morning.", store.OutcomeNewCase, "", "no", "rspamd: no action, score"},
		{"soft reject", rspamdtest.SoftRejectSubject, "Hello.", store.OutcomeNewCase, "", "unchecked",
			"rspamd: soft reject, score 0.00 (asks to try again later); taken without rspamd's verdict (rspamd.on_error accept)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ingestFrom(g, rspamdMail(strings.ReplaceAll(tc.name, " ", "-"), tc.subject, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.outcome || res.Reason != tc.reason {
				t.Fatalf("outcome %s %s, want %s %s; trace %+v", res.Outcome, res.Reason, tc.outcome, tc.reason, res.Trace)
			}
			if !hasStep(res, "spam", tc.step, tc.detail) {
				t.Errorf("no spam step %s %q in %+v", tc.step, tc.detail, res.Trace)
			}
		})
	}
	q, err := st.ListQuarantine(context.Background(), 0)
	if err != nil || len(q) != 3 {
		t.Fatalf("quarantine: %d rows, %v", len(q), err)
	}
	if !strings.HasPrefix(q[len(q)-1].Detail, "rspamd: ") {
		t.Errorf("quarantine detail %q", q[len(q)-1].Detail)
	}
	wantMetrics(t, scrape(t, g),
		`casegate_rspamd_checks_total{result="spam"} 3`,
		`casegate_rspamd_checks_total{result="ham"} 1`,
		`casegate_rspamd_checks_total{result="soft_reject"} 1`,
		`casegate_rspamd_checks_total{result="error"} 0`)

	t.Run("policy store", func(t *testing.T) {
		g.cfg.Auth.Spam = "store"
		defer func() { g.cfg.Auth.Spam = "" }()
		res, err := ingestFrom(g, rspamdMail("stored", "Test", rspamdtest.GTUBE))
		if err != nil || res.Outcome != OutcomeSpam || res.Case != "" || res.MessageID == 0 {
			t.Fatalf("GTUBE with policy.spam store: %+v %v", res, err)
		}
	})
	if rows, _ := st.ListOutbox(context.Background(), "", 0); len(rows) != 2 {
		t.Errorf("%d mails queued, want the confirmations of the plain and the soft-rejected mail", len(rows))
	}
	t.Run("soft reject, on_error retry", func(t *testing.T) {
		useRspamd(t, g, rs.URL, "retry")
		_, err := ingestFrom(g, rspamdMail("soft-retry", rspamdtest.SoftRejectSubject, "Hello."))
		var te *TemporaryError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "soft reject") {
			t.Fatalf("soft reject with on_error retry: %v, want a temporary error", err)
		}
	})
}

// rspamdFake is an HTTP server in rspamd's place that answers what the
// test says and records what it was asked.
type rspamdFake struct {
	URL string

	mu     sync.Mutex
	answer func(w http.ResponseWriter, r *http.Request)
	reqs   []*http.Request
	bodies []string
}

func startRspamdFake(t *testing.T) *rspamdFake {
	t.Helper()
	f := &rspamdFake{answer: jsonAnswer(200, `{"action":"no action","score":1.5,"required_score":15,"symbols":{}}`)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs, f.bodies = append(f.reqs, r), append(f.bodies, string(body))
		answer := f.answer
		f.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *rspamdFake) set(answer func(w http.ResponseWriter, r *http.Request)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = answer
}

func (f *rspamdFake) asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// request is the i-th request rspamd got and its body.
func (f *rspamdFake) request(i int) (*http.Request, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[i], f.bodies[i]
}

func jsonAnswer(status int, body string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// Any answer that is not rspamd's verdict is no verdict: with on_error
// accept the mail opens its case and the trace says why rspamd's verdict
// is missing; with retry it is a temporary failure and nothing is stored.
func TestRspamdBadAnswers(t *testing.T) {
	g, st := newTestGateway(t)
	f := startRspamdFake(t)
	huge := `{"action":"no action","score":0,"symbols":{"X":{"score":0,"description":"` + strings.Repeat("a", maxRspamdAnswer) + `"}}}`
	cases := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		want   string
	}{
		{"not json", jsonAnswer(200, "<html>It works!</html>"), "not rspamd's JSON"},
		{"truncated", jsonAnswer(200, `{"action":"reject","sco`), "not rspamd's JSON"},
		{"empty", jsonAnswer(200, ""), "not rspamd's JSON"},
		{"array", jsonAnswer(200, `[1,2]`), "not rspamd's JSON"},
		{"no action", jsonAnswer(200, `{"score":20}`), "no action or score"},
		{"no score", jsonAnswer(200, `{"action":"reject"}`), "no action or score"},
		{"score a string", jsonAnswer(200, `{"action":"reject","score":"high"}`), "not rspamd's JSON"},
		{"symbols a list", jsonAnswer(200, `{"action":"reject","score":20,"symbols":["A"]}`), "not rspamd's JSON"},
		{"unknown action", jsonAnswer(200, `{"action":"launch missiles","score":20}`), `unknown action "launch missiles"`},
		{"error field", jsonAnswer(200, `{"error":"cannot parse message"}`), `error "cannot parse message"`},
		{"status 500", jsonAnswer(500, `{"error":"task timeout"}`), "HTTP 500 (task timeout)"},
		{"status 403", jsonAnswer(403, `{"error":"Unauthorized"}`), "HTTP 403 (Unauthorized)"},
		{"huge", jsonAnswer(200, huge), "answer larger than"},
		{"slow", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, "no answer within 200ms"},
	}
	n := len(cases)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.answer)
			timeout := 5 * time.Second
			if tc.name == "slow" {
				timeout = 200 * time.Millisecond
			}
			useRspamdWithin(t, g, f.URL, "accept", timeout)
			id := strings.ReplaceAll(tc.name, " ", "-")
			res, err := ingestFrom(g, rspamdMail(id, "Printer", "It is broken."))
			if err != nil || res.Outcome != store.OutcomeNewCase {
				t.Fatalf("on_error accept: %+v %v", res, err)
			}
			if !hasStep(res, "spam", "unchecked", tc.want) || !hasStep(res, "spam", "unchecked", "rspamd.on_error accept") {
				t.Errorf("trace lacks %q: %+v", tc.want, res.Trace)
			}
			before, _ := st.CountMessages(context.Background(), "")
			useRspamdWithin(t, g, f.URL, "retry", timeout)
			_, err = ingestFrom(g, rspamdMail(id+"-retry", "Printer", "It is broken."))
			var te *TemporaryError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("on_error retry: %v, want a temporary error saying %q", err, tc.want)
			}
			if n, _ := st.CountMessages(context.Background(), ""); n != before {
				t.Errorf("on_error retry stored a message")
			}
		})
	}
	wantMetrics(t, scrape(t, g), fmt.Sprintf(`casegate_rspamd_checks_total{result="error"} %d`, 2*n),
		`casegate_rspamd_checks_total{result="spam"} 0`, `casegate_rspamd_checks_total{result="ham"} 0`)
}

// Nobody listening is no verdict either.
func TestRspamdUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	g, _ := newTestGateway(t)
	useRspamd(t, g, dead, "accept")
	res, err := ingestFrom(g, rspamdMail("dead", "Printer", "It is broken."))
	if err != nil || res.Outcome != store.OutcomeNewCase || !hasStep(res, "spam", "unchecked", "connection refused") {
		t.Fatalf("rspamd down, on_error accept: %+v %v", res, err)
	}
	useRspamd(t, g, dead, "retry")
	if _, err := ingestFrom(g, rspamdMail("dead2", "Printer", "It is broken.")); !isTemporary(err) {
		t.Fatalf("rspamd down, on_error retry: %v", err)
	}
	// A dry run decides, but never asks for a retry.
	cl, err := g.Classify(context.Background(), []byte(crlf(rspamdMail("dead3", "Printer", "It is broken."))),
		Envelope{Source: "smtp", From: "bob@customer.example", To: []string{"support@support.test"}, ClientIP: outsideIP})
	res = cl.Decision
	if err != nil || res.Outcome != store.OutcomeNewCase || !hasStep(res, "spam", "unchecked", "a dry run") {
		t.Fatalf("dry run with rspamd down: %+v %v", res, err)
	}
}

func isTemporary(err error) bool {
	var te *TemporaryError
	return errors.As(err, &te)
}

// fakePTR is a resolver that knows reverse and forward records, for the
// client's host name.
type fakePTR struct {
	noResolver
	ptr map[string][]string
	a   map[string][]string
}

func (r fakePTR) LookupAddr(_ context.Context, addr string) ([]string, error) {
	if names, ok := r.ptr[addr]; ok {
		return names, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

func (r fakePTR) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, a := range r.a[host] {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	if out == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// rspamd is told what an MTA would tell it: the original client, its HELO
// and forward-confirmed host name, the envelope; and it gets the mail's
// bytes as they came.
func TestRspamdRequest(t *testing.T) {
	f := startRspamdFake(t)
	g, _ := newTestGateway(t)
	useRspamd(t, g, f.URL+"/", "accept")
	const client = "203.0.113.9"
	g.cfg.Auth.Resolver = fakePTR{
		ptr: map[string][]string{client: {"mail.customer.example.", "liar.example."}, outsideIP: {"forged.example."}},
		a:   map[string][]string{"mail.customer.example.": {"192.0.2.1", client}, "forged.example.": {"192.0.2.2"}},
	}
	raw := crlf(rspamdMail("req", "Printer", "It is broken."))
	check := func(env Envelope, want map[string][]string) {
		t.Helper()
		n := f.asked()
		if _, err := g.Ingest(context.Background(), []byte(raw), env); err != nil {
			t.Fatal(err)
		}
		if f.asked() != n+1 {
			t.Fatalf("rspamd asked %d times, want once", f.asked()-n)
		}
		r, body := f.request(n)
		if r.Method != http.MethodPost || r.URL.Path != "/checkv2" || body != raw {
			t.Errorf("%s %s with %d bytes, want POST /checkv2 with the mail", r.Method, r.URL.Path, len(body))
		}
		for _, h := range []string{"IP", "Helo", "Hostname", "From", "Rcpt", "Password"} {
			if got := r.Header.Values(h); strings.Join(got, ",") != strings.Join(want[h], ",") {
				t.Errorf("header %s = %q, want %q", h, got, want[h])
			}
		}
	}
	check(Envelope{Source: "smtp", From: "bob@customer.example", To: []string{"support@support.test", "orders@support.test"},
		ClientIP: client, HELO: "mail.customer.example"}, map[string][]string{
		"IP": {client}, "Helo": {"mail.customer.example"}, "Hostname": {"mail.customer.example"},
		"From": {"bob@customer.example"}, "Rcpt": {"support@support.test", "orders@support.test"}, "Password": {"s3cret"}})
	// A PTR name whose addresses do not include the client is no host
	// name; the null sender is "<>"; a value with a line break is left out.
	check(Envelope{Source: "smtp", NullSender: true, To: []string{"support@support.test"}, ClientIP: outsideIP, HELO: "bad\r\nX-Evil: 1"},
		map[string][]string{"IP": {outsideIP}, "From": {"<>"}, "Rcpt": {"support@support.test"}, "Password": {"s3cret"}})
	// No client address (a mailbox, a pipe not told): none is sent.
	check(Envelope{Source: "imap", To: []string{"support@support.test"}},
		map[string][]string{"Rcpt": {"support@support.test"}, "Password": {"s3cret"}})
}

// A trusted relay's spam verdict stands without asking rspamd; either one
// calling a mail spam makes it spam; a replay is not checked again.
func TestRspamdAndHeaderVerdicts(t *testing.T) {
	f := startRspamdFake(t)
	e := newAuthEnv(t)
	useRspamd(t, e.g, f.URL, "accept")
	mail := "From: Bob <bob@customer.example>\nTo: support@support.test\nSubject: Hello\nMessage-ID: <%s@customer.example>\n\nHi.\n"

	res := e.ingest(t, mxRelay, "bob@customer.example", "X-Spam-Flag: YES\n"+received(outsideIP)+fmt.Sprintf(mail, "h1"))
	if res.Outcome != OutcomeQuarantined || f.asked() != 0 {
		t.Fatalf("header spam: %s, rspamd asked %d times", res.Outcome, f.asked())
	}

	f.set(jsonAnswer(200, `{"action":"add header","score":7.5,"required_score":15,"symbols":{"BAYES_SPAM":{"score":5.1},"R_DKIM_NA":{"score":0}}}`))
	res = e.ingest(t, mxRelay, "bob@customer.example", "X-Spam-Flag: NO\n"+received(outsideIP)+fmt.Sprintf(mail, "h2"))
	if res.Outcome != OutcomeQuarantined || !hasStep(res, "spam", "yes", "rspamd: add header, score 7.50 / 15.00 (BAYES_SPAM(5.10), R_DKIM_NA(0.00))") {
		t.Fatalf("rspamd spam, header not: %+v", res)
	}
	if r, _ := f.request(0); r.Header.Get("IP") != outsideIP {
		t.Errorf("behind our MX, rspamd was told IP %q, want the original client %s", r.Header.Get("IP"), outsideIP)
	}

	rep, err := e.g.Replay(context.Background(), res.Quarantine)
	if err != nil || rep.Outcome != store.OutcomeNewCase || f.asked() != 1 || !hasStep(rep, "spam", "skipped", "replay") {
		t.Fatalf("replay: %+v %v, rspamd asked %d times", rep, err, f.asked())
	}
}

func TestNewRspamdRefusesBadConfig(t *testing.T) {
	for _, cfg := range []RspamdConfig{
		{URL: "127.0.0.1:11333"}, {URL: "ftp://127.0.0.1"}, {URL: "http://"}, {URL: "http://h/?x=1"},
		{URL: "http://127.0.0.1:11333", OnError: "tempfail"},
	} {
		if _, err := NewRspamd(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	for url, endpoint := range map[string]string{
		"http://127.0.0.1:11333":          "http://127.0.0.1:11333/checkv2",
		"http://127.0.0.1:11334/":         "http://127.0.0.1:11334/checkv2",
		"https://rspamd.example/checkv2":  "https://rspamd.example/checkv2",
		"http://filter.example/rspamd/":   "http://filter.example/rspamd/checkv2",
		"http://filter.example/rspamd//x": "http://filter.example/rspamd//x/checkv2",
	} {
		r, err := NewRspamd(RspamdConfig{URL: url})
		if err != nil || r.endpoint != endpoint {
			t.Errorf("%s: endpoint %v %v, want %s", url, r, err, endpoint)
		}
	}
}
