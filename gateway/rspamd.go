package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The direct spam check (config keys rspamd.*), for a deployment where
// nothing in front of casegate filters spam. Before the write transaction,
// like the DNS lookups of sender authentication, the raw message is posted
// to rspamd's /checkv2 (its normal worker, or the controller with a
// password) with what the transport knows of it: the original client's
// address (IP), its HELO (Helo) and forward-confirmed host name (Hostname),
// the envelope sender (From) and recipients (Rcpt). rspamd's action decides:
//
//   - reject, add header, rewrite subject (and the custom actions
//     quarantine and discard): spam, kept by policy.spam;
//   - no action, greylist: not spam;
//   - soft reject ("try again later": greylisting, rate limits) is no
//     verdict, and is handled like a failure.
//
// A failure (rspamd down, a timeout, an answer that is not rspamd's JSON)
// and a soft reject are handled as rspamd.on_error says: accept (the
// default) takes the mail without rspamd's verdict and the decision trace
// says so; retry answers a temporary failure (SMTP 451, pipe exit 75, an
// IMAP mail left for the next poll), so the mail waits until rspamd
// answers. A dry run (casegate classify) never asks for a retry.
//
// The verdict of a trusted relay's header fields (spam.go) and rspamd's
// are one: either calling the mail spam makes it spam, and a mail the
// relay already called spam is not sent to rspamd. A replay of a
// quarantined mail is an operator's decision to take it: rspamd is not
// asked again. Everything else is checked, bounces and complaints too.

// RspamdConfig is the direct check against rspamd.
type RspamdConfig struct {
	URL      string        // rspamd's base URL, "http://127.0.0.1:11333"; "" = no check
	Timeout  time.Duration // one check, the client's host name lookup included (default 5s)
	Password string        // sent as rspamd's Password header ("" = none)
	OnError  string        // accept (default) | retry
}

// Rspamd asks one rspamd. It is safe for concurrent use.
type Rspamd struct {
	cfg      RspamdConfig
	endpoint string // cfg.URL's /checkv2
	client   *http.Client
}

// maxRspamdAnswer bounds the answer read: rspamd's JSON with every
// symbol and its options is a few kilobytes.
const maxRspamdAnswer = 1 << 20

// NewRspamd checks cfg and returns a checker for it.
func NewRspamd(cfg RspamdConfig) (*Rspamd, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("rspamd url %q: must be an http:// or https:// URL like http://127.0.0.1:11333", cfg.URL)
	}
	if !strings.HasSuffix(u.Path, "/checkv2") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/checkv2"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	switch cfg.OnError {
	case "":
		cfg.OnError = "accept"
	case "accept", "retry":
	default:
		return nil, fmt.Errorf("rspamd on_error %q: must be accept or retry", cfg.OnError)
	}
	// rspamd is ours and local: never through an HTTP proxy of the
	// environment.
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	return &Rspamd{cfg: cfg, endpoint: u.String(), client: &http.Client{Transport: tr, Timeout: cfg.Timeout}}, nil
}

// RspamdEnvelope is what rspamd is told of a message besides its bytes;
// empty fields are left out.
type RspamdEnvelope struct {
	IP       string   // the original client's address
	Helo     string   // its HELO name
	Hostname string   // its forward-confirmed reverse DNS name
	From     string   // the envelope sender; "<>" for the null sender
	Rcpt     []string // the envelope recipients
}

// RspamdResult is what the direct check found. Action and the scores are
// rspamd's answer; Error says why there is none (rspamd failed, or
// answered soft reject); Skipped why rspamd was not asked.
type RspamdResult struct {
	Action   string   `json:"action,omitempty"`
	Score    float64  `json:"score"`
	Required float64  `json:"required_score,omitempty"` // 0 when rspamd has no actions configured
	Symbols  []string `json:"symbols,omitempty"`        // the highest-scoring few, "NAME(score)"
	Error    string   `json:"error,omitempty"`
	Skipped  string   `json:"skipped,omitempty"`
}

// rspamd's actions (rspamd.com/doc/faq.html#what-are-rspamd-actions), by
// what they make of the mail.
var rspamdActions = map[string]string{
	"reject": "spam", "add header": "spam", "rewrite subject": "spam", "quarantine": "spam", "discard": "spam",
	"no action": "ham", "greylist": "ham",
	"soft reject": "soft_reject",
}

// Spam reports whether rspamd's action calls the message spam.
func (r *RspamdResult) Spam() bool {
	return r != nil && r.Error == "" && r.Skipped == "" && rspamdActions[r.Action] == "spam"
}

// String is the verdict for the trace: "reject, score 15.00 / 15.00 (GTUBE(0.00))".
func (r *RspamdResult) String() string {
	s := fmt.Sprintf("%s, score %.2f", r.Action, r.Score)
	if r.Required != 0 {
		s += fmt.Sprintf(" / %.2f", r.Required)
	}
	if len(r.Symbols) > 0 {
		s += " (" + strings.Join(r.Symbols, ", ") + ")"
	}
	return s
}

// maxTraceSymbols is how many symbols the trace names.
const maxTraceSymbols = 6

// Check posts mail to rspamd and reads its answer. An error means there is
// no verdict: rspamd did not answer, answered with an error status, or
// answered something that is not its JSON.
func (r *Rspamd) Check(ctx context.Context, mail *io.SectionReader, env RspamdEnvelope) (RspamdResult, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	// Sent as it is, from memory or from its spool file, never copied whole.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, io.NewSectionReader(mail, 0, mail.Size()))
	if err != nil {
		return RspamdResult{}, err
	}
	req.ContentLength = mail.Size()
	setHeader := func(name, v string) {
		if v != "" && headerSafe(v) {
			req.Header.Add(name, v)
		}
	}
	setHeader("IP", env.IP)
	setHeader("Helo", env.Helo)
	setHeader("Hostname", env.Hostname)
	setHeader("From", env.From)
	for _, rcpt := range env.Rcpt {
		setHeader("Rcpt", rcpt)
	}
	setHeader("Password", r.cfg.Password)
	req.Header.Set("User-Agent", "casegate")
	resp, err := r.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			return RspamdResult{}, fmt.Errorf("rspamd: no answer within %s: %w", r.cfg.Timeout, err)
		}
		return RspamdResult{}, fmt.Errorf("rspamd: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRspamdAnswer+1))
	if err != nil {
		return RspamdResult{}, fmt.Errorf("rspamd: reading the answer: %w", err)
	}
	if len(body) > maxRspamdAnswer {
		return RspamdResult{}, fmt.Errorf("rspamd: answer larger than %d bytes", maxRspamdAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return RspamdResult{}, fmt.Errorf("rspamd: HTTP %d%s", resp.StatusCode, rspamdErrorText(body))
	}
	return parseRspamd(body)
}

// rspamdAnswer is the part of /checkv2's JSON casegate reads.
type rspamdAnswer struct {
	Action   *string  `json:"action"`
	Score    *float64 `json:"score"`
	Required *float64 `json:"required_score"` // null without actions
	Symbols  map[string]struct {
		Score float64 `json:"score"`
	} `json:"symbols"`
	Error string `json:"error"`
}

// parseRspamd reads rspamd's answer; anything it does not know as one is
// an error.
func parseRspamd(body []byte) (RspamdResult, error) {
	var a rspamdAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return RspamdResult{}, fmt.Errorf("rspamd: the answer is not rspamd's JSON: %w", err)
	}
	if a.Error != "" {
		return RspamdResult{}, fmt.Errorf("rspamd: error %q", clip(a.Error, 200))
	}
	if a.Action == nil || a.Score == nil {
		return RspamdResult{}, errors.New("rspamd: the answer has no action or score")
	}
	action := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(*a.Action), "_", " "))
	if _, ok := rspamdActions[action]; !ok {
		return RspamdResult{}, fmt.Errorf("rspamd: unknown action %q", clip(*a.Action, 50))
	}
	res := RspamdResult{Action: action, Score: *a.Score}
	if a.Required != nil {
		res.Required = *a.Required
	}
	type sym struct {
		name  string
		score float64
	}
	syms := make([]sym, 0, len(a.Symbols))
	for name, s := range a.Symbols {
		syms = append(syms, sym{name, s.Score})
	}
	sort.Slice(syms, func(i, j int) bool {
		if syms[i].score != syms[j].score {
			return syms[i].score > syms[j].score
		}
		return syms[i].name < syms[j].name
	})
	for _, s := range syms[:min(len(syms), maxTraceSymbols)] {
		res.Symbols = append(res.Symbols, fmt.Sprintf("%s(%.2f)", clip(s.name, 64), s.score))
	}
	return res, nil
}

// rspamdErrorText is rspamd's {"error": "..."} of an error answer, for the
// error message.
func rspamdErrorText(body []byte) string {
	var a struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &a) != nil || a.Error == "" {
		return ""
	}
	return fmt.Sprintf(" (%s)", clip(a.Error, 200))
}

// clip shortens s to n bytes at most.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// headerSafe reports whether v may be sent as a header field value: no
// control characters.
func headerSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return false
		}
	}
	return true
}
