package gateway

import (
	"context"

	"github.com/casegate/casegate/store"
)

// suppressed says why a notification to r about c must not be sent ("" when
// it may be): loop protection and undeliverable addresses (SPEC §3, §4).
func (g *Gateway) suppressed(ctx context.Context, tx *store.Tx, c store.Case, r recipient) (string, error) {
	if g.isOwn(r.Email) {
		return "own_address", nil
	}
	return "", nil
}
