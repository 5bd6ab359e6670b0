package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/casegate/casegate/store"
)

// The spam verdict of the filter in front (SpamAssassin, rspamd) is
// believed only in the trusted region of a mail that came through a
// trusted relay (authpath.go): anyone else can write "X-Spam-Flag: YES"
// (or "NO") into a mail. A spam mail is quarantined (policy.spam
// quarantine, the default) or stored as "spam" without a case and
// without any mail back (policy.spam store).

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

// spamStep writes the verdict into the trace.
func (in *inbound) spamStep() {
	sv := in.spam
	switch {
	case sv.Spam:
		in.step("spam", "yes", fmt.Sprintf("%s: %s (trusted relay %s)", sv.Header, sv.Value, in.path.Relay))
	case sv.Ignored != "":
		in.step("spam", "ignored", "not from a trusted relay: "+sv.Ignored)
	}
}

// ingestSpam keeps a spam message by policy: quarantined, or stored on no
// case, with no mail back either way.
func (g *Gateway) ingestSpam(ctx context.Context, tx *store.Tx, in *inbound) (Result, error) {
	if g.cfg.Auth.withDefaults().Spam == "store" {
		in.step("spam", "stored", "policy.spam store: no case, no mail back")
		return g.storeOnly(ctx, tx, in, OutcomeSpam, nil)
	}
	return g.quarantineTx(ctx, tx, in, "spam", in.spam.Header+": "+in.spam.Value)
}

// quarantineTx quarantines the message in the ingestion transaction.
func (g *Gateway) quarantineTx(ctx context.Context, tx *store.Tx, in *inbound, reason, detail string) (Result, error) {
	raw, err := in.rawBytes()
	if err != nil {
		return Result{}, err
	}
	id, err := tx.Quarantine(ctx, store.Quarantined{
		Source: in.env.Source, EnvelopeFrom: in.env.From, EnvelopeTo: in.env.To,
		Reason: reason, Detail: detail, ContentSHA256: in.sha, Raw: raw,
	})
	if err != nil {
		return Result{}, err
	}
	in.step("quarantine", reason, detail)
	g.log.Warn("message quarantined", "reason", reason, "detail", detail, "quarantine_id", id, "source", in.env.Source)
	return Result{Outcome: OutcomeQuarantined, Quarantine: id, Reason: reason, Trace: in.trace}, nil
}
