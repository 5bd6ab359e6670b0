package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/mail"
	"strings"

	"github.com/casegate/casegate/store"
)

// Erasure of a person's data (`casegate contacts forget`, POST
// /api/v1/contacts/{email}/forget). The store erases (store/forget.go);
// the gateway names the tombstone and keeps the salt: a key of 32 random
// bytes in the settings table (secret "forget"), created by the first
// erasure. Tombstones are HMAC-SHA256 under that key of
//
//	address:<the address, lower-case>
//	message_id:<the Message-ID of each erased mail>
//	content:<the SHA-256 of each erased mail's raw bytes>
//
// Ingestion looks up the Message-ID and the content of every mail that is
// no duplicate (forgottenMail): an old mail of an erased person, delivered
// again, is dropped like a duplicate, outcome "forgotten", and nothing of
// it is stored. The sender's address is not looked up: a person who was
// forgotten and writes again is a new contact (erasure is no block list);
// the address's tombstone only tells a second erasure of it that it is
// one, and names its tombstone contact the same way every time.

// OutcomeForgotten is the outcome of a mail that an erased person sent
// before and that was delivered again: not taken in, nothing stored.
const OutcomeForgotten = "forgotten"

// forgetSecret names the tombstones' key in the settings.
const forgetSecret = "forget"

// tombstoneHash is the tombstone of a value of a kind under key.
func tombstoneHash(key []byte, kind, value string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(kind + ":" + value))
	return hex.EncodeToString(h.Sum(nil))
}

// Forget erases what the gateway holds of the person at email (see
// store.Tx.Forget), by names who asked for it, for the record. The
// address must be one (ErrInvalid otherwise). It logs the erasure under
// the tombstone address, never the erased one, and gives the freed space
// back.
func (g *Gateway) Forget(ctx context.Context, email, by string) (store.Erased, error) {
	email = strings.TrimSpace(email)
	a, err := mail.ParseAddress(email)
	if err != nil || len(email) > 320 || !cleanAddress(email) || !strings.Contains(a.Address, "@") || a.Name != "" {
		return store.Erased{}, fmt.Errorf("%w: %q is not an address", ErrInvalid, email)
	}
	addr := strings.ToLower(a.Address)
	key, err := g.store.Secret(ctx, forgetSecret)
	if err != nil {
		return store.Erased{}, g.temporary("forget", err)
	}
	hash := func(kind, value string) string { return tombstoneHash(key, kind, value) }
	tomb := "forgotten-" + hash(store.TombstoneAddress, addr)[:16] + "@invalid"
	var out store.Erased
	err = g.store.Write(ctx, func(tx *store.Tx) error {
		var err error
		out, err = tx.Forget(ctx, store.Erasure{Email: addr, Tombstone: tomb, Hash: hash,
			Note: fmt.Sprintf("a person's data was erased on request (%s); their address reads %s now", orDash(by), tomb)})
		return err
	})
	if err != nil {
		return out, g.temporary("forget", err)
	}
	g.retention.erasures.Add(1)
	g.log.Info("personal data erased", "tombstone", tomb, "by", by, "cases", out.Cases, "messages", out.Messages,
		"attachments", out.Attachments, "outbox", out.Outbox, "watchers", out.Watchers, "redacted", out.Redacted,
		"quarantine", out.Quarantine, "already_forgotten", out.Already)
	g.reclaimAfterPurge(ctx, "erasure", len(out.Cases), out.PurgeStats)
	return out, nil
}

// forgottenMail reports whether in is a mail an erased person sent before:
// its Message-ID or its content is a tombstone. Before the first erasure
// there is no key, and nothing to look up.
func (g *Gateway) forgottenMail(ctx context.Context, tx *store.Tx, in *inbound) (bool, error) {
	key, ok, err := tx.LookupSecret(ctx, forgetSecret)
	if err != nil || !ok {
		return false, err
	}
	hashes := []string{tombstoneHash(key, store.TombstoneContent, in.sha)}
	if in.msg != nil && in.msg.MessageID != "" {
		hashes = append(hashes, tombstoneHash(key, store.TombstoneMessageID, in.msg.MessageID))
	}
	return tx.Tombstoned(ctx, hashes...)
}

// forgottenResult is ingestion's answer to such a mail.
func forgottenResult(in *inbound) Result {
	in.step("forgotten", "yes", "a mail of a person whose data was erased, delivered again: not taken in")
	return Result{Outcome: OutcomeForgotten, Trace: in.trace}
}
