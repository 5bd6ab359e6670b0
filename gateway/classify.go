package gateway

import (
	"context"

	"github.com/casegate/casegate/mailparse"
)

// Classification is what `casegate classify` prints: what was parsed and
// what ingestion would do with the message against the current database.
// Its JSON is a documented, stable interface for operators' scripts.
type Classification struct {
	Parsed   *mailparse.Message `json:"parsed"`   // null when the message would be quarantined before parsing succeeded
	Decision Result             `json:"decision"` // outcome, case, linked_to, quarantine reason, trace
}

// Classify runs a message through the whole ingestion path in a
// transaction that is rolled back: every decision is real, nothing is
// written and no mail is queued.
func (g *Gateway) Classify(ctx context.Context, raw []byte, env Envelope) (Classification, error) {
	in := newInbound(raw, env)
	res, err := g.ingest(ctx, in, true)
	if err != nil {
		return Classification{}, err
	}
	return Classification{Parsed: in.msg, Decision: res}, nil
}
