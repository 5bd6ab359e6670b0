package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"

	"github.com/casegate/casegate/store"
)

// VERP (variable envelope return path): every notification is sent with the
// envelope sender bounces+ID-MAC@hostname, where ID is the outbox row's id
// and MAC the first 8 bytes of HMAC-SHA256(key, "verp:ID") in lower-case
// base32. A delivery report comes back to that address, so it names the
// outbox row exactly, even when the report does not quote the original
// Message-ID; nobody can forge one for a row without the key. The key is a
// random secret kept in the database (settings "secret:verp"), so every
// process sharing the database — the server, `casegate ingest`, other
// instances — agrees on it.

// verpLocal is the local part of our bounce addresses.
const verpLocal = "bounces"

var verpEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// verpKey returns the VERP key, loading (or creating) it once.
func (g *Gateway) verpKey(ctx context.Context) ([]byte, error) {
	g.ops.mu.Lock()
	defer g.ops.mu.Unlock()
	if g.ops.verpKey != nil {
		return g.ops.verpKey, nil
	}
	key, err := g.store.Secret(ctx, "verp")
	if err != nil {
		return nil, fmt.Errorf("verp key: %w", err)
	}
	g.ops.verpKey = key
	return key, nil
}

func verpMAC(key []byte, id int64) string {
	h := hmac.New(sha256.New, key)
	fmt.Fprintf(h, "verp:%d", id)
	return verpEncoding.EncodeToString(h.Sum(nil)[:8])
}

// verpAddress is the envelope sender for outbox row id.
func (g *Gateway) verpAddress(ctx context.Context, id int64) (string, error) {
	key, err := g.verpKey(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s+%d-%s@%s", verpLocal, id, verpMAC(key, id), strings.ToLower(g.cfg.Hostname)), nil
}

// isBounceAddress reports whether addr has the form of one of our bounce
// addresses (bounces or bounces+anything at our hostname), valid or not.
func (g *Gateway) isBounceAddress(addr string) bool {
	local, _, domain := splitAddress(addr)
	return local == verpLocal && domain == strings.ToLower(g.cfg.Hostname)
}

// verpKeyTx returns the VERP key inside a write transaction. It never
// creates the key (the transaction may roll back, and without a key no
// mail was ever sent with a bounce address); nil when there is none yet.
func (g *Gateway) verpKeyTx(ctx context.Context, tx *store.Tx) ([]byte, error) {
	g.ops.mu.Lock()
	defer g.ops.mu.Unlock()
	if g.ops.verpKey != nil {
		return g.ops.verpKey, nil
	}
	key, ok, err := tx.LookupSecret(ctx, "verp")
	if err != nil || !ok {
		return nil, err
	}
	g.ops.verpKey = key
	return key, nil
}

// verpID returns the outbox id a bounce address names, if its MAC under
// key is right.
func (g *Gateway) verpID(key []byte, addr string) (int64, bool) {
	if !g.isBounceAddress(addr) {
		return 0, false
	}
	_, tag, _ := splitAddress(addr)
	idStr, mac, ok := strings.Cut(tag, "-")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	if key == nil {
		return 0, false
	}
	if !hmac.Equal([]byte(mac), []byte(verpMAC(key, id))) {
		return 0, false
	}
	return id, true
}

// verpTarget finds the outbox row a message addressed to one of our bounce
// addresses reports on: from the envelope recipients first, then from the
// To header (an IMAP mailbox has no envelope).
func (g *Gateway) verpTarget(ctx context.Context, tx *store.Tx, in *inbound) (*store.OutboxMail, error) {
	cands := append([]string(nil), in.env.To...)
	for _, a := range in.msg.To {
		cands = append(cands, a.Email)
	}
	return g.verpRow(ctx, tx, cands)
}

// verpRow returns the outbox row the first of addrs that is a valid
// bounce address of ours names; nil when none does.
func (g *Gateway) verpRow(ctx context.Context, tx *store.Tx, addrs []string) (*store.OutboxMail, error) {
	key, err := g.verpKeyTx(ctx, tx)
	if err != nil || key == nil {
		return nil, err
	}
	for _, addr := range addrs {
		id, ok := g.verpID(key, addr)
		if !ok {
			continue
		}
		m, err := tx.OutboxByID(ctx, id)
		if err != nil {
			continue // a row that no longer exists: not ours to attribute
		}
		return &m, nil
	}
	return nil, nil
}

// toBounceAddress reports whether the message was sent to an address of
// our bounce addresses' form (valid or not).
func (g *Gateway) toBounceAddress(in *inbound) bool {
	for _, rcpt := range in.env.To {
		if g.isBounceAddress(rcpt) {
			return true
		}
	}
	return false
}
