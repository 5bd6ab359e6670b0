package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/casegate/casegate/store"
)

// The spam verdict of the filter in front (SpamAssassin, rspamd) is
// believed only in the trusted region of a mail that came through a
// trusted relay (authpath.go): anyone else can write "X-Spam-Flag: YES"
// (or "NO") into a mail. A spam mail is quarantined (policy.spam
// quarantine, the default) or stored as "spam" without a case and
// without any mail back (policy.spam store). Where nothing in front
// filters spam, rspamd can be asked directly (rspamd.go); its verdict
// joins the header verdict here: either calling a mail spam makes it spam.

// OutcomeSpam is a message stored as spam, on no case.
const OutcomeSpam = "spam"

// SpamVerdict is what the filter in front said of a message.
type SpamVerdict struct {
	Spam   bool   `json:"spam"`
	Header string `json:"header,omitempty"` // the field that said so
	Value  string `json:"value,omitempty"`
	// Ignored names a spam verdict field that was not believed, because
	// it did not come from a trusted relay.
	Ignored string `json:"ignored,omitempty"`
	// Rspamd is what the direct check against rspamd found (rspamd.go);
	// nil when none is configured or the header verdict was spam already.
	Rspamd *RspamdResult `json:"rspamd,omitempty"`
}

// reason says who called the message spam, for the trace and the
// quarantine.
func (sv SpamVerdict) reason() string {
	if sv.Header != "" {
		return sv.Header + ": " + sv.Value
	}
	return "rspamd: " + sv.Rspamd.String()
}

// spamField reads one spam verdict field: known says it is one, spam
// whether it calls the message spam.
func spamField(name, value string) (known, spam bool) {
	v := strings.ToLower(strings.TrimSpace(value))
	switch strings.ToLower(name) {
	case "x-spam-flag", "x-spam": // SpamAssassin; rspamd's milter
		return true, strings.HasPrefix(v, "yes") || v == "true"
	case "x-spam-status": // SpamAssassin: "Yes, score=7.1 required=5.0 ..."
		return true, strings.HasPrefix(v, "yes")
	case "x-rspamd-action":
		return true, v == "reject" || v == "add header" || v == "rewrite subject"
	case "x-spamd-result": // rspamd: "default: True [12.30 / 15.00]; ..."
		return true, strings.HasPrefix(strings.TrimPrefix(v, "default:"), " true") ||
			strings.HasPrefix(strings.TrimPrefix(v, "default:"), "true")
	}
	return false, false
}

// spamVerdict reads the filter's verdict from the trusted region.
func (g *Gateway) spamVerdict(in *inbound) SpamVerdict {
	var sv SpamVerdict
	for i, f := range in.fields {
		known, spam := spamField(f.name, f.value)
		if !known {
			continue
		}
		if i >= in.path.Trusted {
			if spam && sv.Ignored == "" {
				sv.Ignored = f.name + ": " + f.value
			}
			continue
		}
		if spam && !sv.Spam {
			sv.Spam, sv.Header, sv.Value = true, f.name, f.value
		}
	}
	return sv
}

// checkSpam asks rspamd, where one is configured, about a mail the
// trusted relay did not call spam already. It runs before the write
// transaction. Without a verdict (a failure, a soft reject) the mail is
// taken as not spam, or, with rspamd.on_error retry, the answer is a
// temporary error so the sender tries again.
func (g *Gateway) checkSpam(ctx context.Context, in *inbound, dry bool) error {
	r := g.rules().Auth.Rspamd
	switch {
	case r == nil || in.spam.Spam:
		return nil
	case in.env.Source == "replay":
		in.spam.Rspamd = &RspamdResult{Skipped: "a replay is an operator's decision to take the mail"}
		return nil
	}
	res, err := g.askRspamd(ctx, r, in)
	outcome := rspamdActions[res.Action]
	if err == nil && outcome == "soft_reject" {
		err = fmt.Errorf("rspamd: soft reject, score %.2f (asks to try again later)", res.Score)
	}
	if err != nil {
		if outcome == "" {
			outcome = "error"
		}
		g.metrics.rspamdCheck(outcome)
		if r.cfg.OnError == "retry" && !dry {
			return &TemporaryError{Err: err}
		}
		how := "taken without rspamd's verdict (rspamd.on_error accept)"
		if r.cfg.OnError == "retry" {
			how = "a dry run takes it without rspamd's verdict (rspamd.on_error retry would answer a temporary failure)"
		}
		g.log.Warn("no spam verdict from rspamd: "+how, "err", err, "source", in.env.Source, "from", in.env.From)
		in.spam.Rspamd = &RspamdResult{Action: res.Action, Score: res.Score, Error: err.Error() + "; " + how}
		return nil
	}
	g.metrics.rspamdCheck(outcome)
	in.spam.Rspamd = &res
	if res.Spam() {
		in.spam.Spam = true
	}
	return nil
}

// askRspamd runs one check, turning a panic into an error.
func (g *Gateway) askRspamd(ctx context.Context, r *Rspamd, in *inbound) (res RspamdResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			g.notePanic("rspamd", v)
			res, err = RspamdResult{}, fmt.Errorf("rspamd: internal error")
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	env := RspamdEnvelope{Helo: in.path.HELO, From: in.env.From, Rcpt: in.env.To}
	if in.env.NullSender {
		env.From = "<>"
	}
	if p := in.path; p.Client.IsValid() && p.Client != p.Relay {
		// Behind a trusted relay that named no outside client, the
		// client is our own relay: rspamd reads the Received fields.
		env.IP = p.Client.String()
		env.Hostname = g.clientHostname(ctx, p.Client, r.cfg.Timeout/2)
	}
	return r.Check(ctx, in.mail.Section(), env)
}

// clientHostname is ip's forward-confirmed reverse DNS name (a PTR name
// whose addresses include ip), or "" when there is none or DNS did not
// answer within timeout. An MTA tells rspamd this name; without it rspamd
// counts the client's host name as unknown. Addresses that are not
// global are not looked up.
func (g *Gateway) clientHostname(ctx context.Context, ip netip.Addr, timeout time.Duration) string {
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := g.rules().Auth.withDefaults().Resolver
	names, err := res.LookupAddr(ctx, ip.String())
	if err != nil {
		return ""
	}
	for _, name := range names[:min(len(names), 3)] {
		addrs, err := res.LookupIPAddr(ctx, name)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if b, ok := netip.AddrFromSlice(a.IP); ok && b.Unmap() == ip {
				return strings.TrimSuffix(name, ".")
			}
		}
	}
	return ""
}

// spamStep writes the verdict into the trace.
func (in *inbound) spamStep() {
	sv := in.spam
	switch {
	case sv.Spam && sv.Header != "":
		in.step("spam", "yes", fmt.Sprintf("%s: %s (trusted relay %s)", sv.Header, sv.Value, in.path.Relay))
	case sv.Spam:
		in.step("spam", "yes", sv.reason())
	case sv.Ignored != "":
		in.step("spam", "ignored", "not from a trusted relay: "+sv.Ignored)
	}
	switch r := sv.Rspamd; {
	case r == nil || sv.Spam:
	case r.Skipped != "":
		in.step("spam", "skipped", "rspamd not asked: "+r.Skipped)
	case r.Error != "":
		in.step("spam", "unchecked", r.Error)
	default:
		in.step("spam", "no", "rspamd: "+r.String())
	}
}

// ingestSpam keeps a spam message by policy: quarantined, or stored on no
// case, with no mail back either way.
func (g *Gateway) ingestSpam(ctx context.Context, tx *store.Tx, in *inbound) (Result, error) {
	if g.rules().Auth.withDefaults().Spam == "store" {
		in.step("spam", "stored", "policy.spam store: no case, no mail back")
		return g.storeOnly(ctx, tx, in, OutcomeSpam, nil)
	}
	return g.quarantineTx(ctx, tx, in, "spam", in.spam.reason())
}

// quarantineTx quarantines the message in the ingestion transaction.
func (g *Gateway) quarantineTx(ctx context.Context, tx *store.Tx, in *inbound, reason, detail string) (Result, error) {
	id, err := keepQuarantined(ctx, tx, in, reason, detail)
	if err != nil {
		return Result{}, err
	}
	in.step("quarantine", reason, detail)
	g.logAfter(tx, slog.LevelWarn, "message quarantined", "reason", reason, "detail", detail, "quarantine_id", id, "source", in.env.Source)
	return Result{Outcome: OutcomeQuarantined, Quarantine: id, Reason: reason, Trace: in.trace}, nil
}
