package gateway

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// recipient is one person a notification goes to.
type recipient struct {
	Email string
	Name  string
	Role  string // contact | watcher | agent
}

// maxRefs bounds the References header of a notification.
const maxRefs = 10

// enqueue writes one outbox row per recipient for the named template, in
// the event's transaction. Each row gets its own Message-ID now, so a
// retry after a crash sends the very same Message-ID, and a reply to any of
// them threads to the case. inReplyTo is the message the event answers
// ("" to answer the case's latest).
func (g *Gateway) enqueue(ctx context.Context, tx *store.Tx, c store.Case, tpl string, rcpts []recipient, data templates.Data, inReplyTo string) error {
	if len(rcpts) == 0 {
		return nil
	}
	refs, err := tx.ThreadRefs(ctx, c.ID, maxRefs)
	if err != nil {
		return err
	}
	if inReplyTo == "" && len(refs) > 0 {
		inReplyTo = refs[len(refs)-1]
	}
	data.Case = templates.Case{
		Number: c.Number, Subject: c.Subject, State: c.State, Kind: c.Kind,
		Priority: c.Priority, Assignee: c.Assignee, OldNumber: data.Case.OldNumber, OldState: data.Case.OldState,
	}
	data.Contact = templates.Person{Name: c.Contact.Name, Email: c.Contact.Email, Role: "contact"}
	for _, r := range rcpts {
		reason, err := g.suppressed(ctx, tx, c, tpl, r)
		if err != nil {
			return err
		}
		if reason != "" {
			g.logAfter(tx, slog.LevelInfo, "notification suppressed", "case", c.Number, "template", tpl, "to", r.Email, "reason", reason)
			continue
		}
		due, ok, err := g.scheduleSend(ctx, tx, r.Email)
		if err != nil {
			return err
		}
		if !ok {
			g.logAfter(tx, slog.LevelWarn, "notification suppressed: the recipient's domain has no room in the circuit breaker within the mail's lifetime",
				"case", c.Number, "template", tpl, "to", r.Email)
			if err := tx.RecordSuppression(ctx, c.ID, tpl, r.Email, SuppressBreaker); err != nil {
				return err
			}
			continue
		}
		d := data
		d.Recipient = templates.Person{Name: r.Name, Email: r.Email, Role: r.Role}
		d.Links = g.linksFor(c, tpl, r)
		for k, v := range data.Links {
			d.Links[k] = v
		}
		d.Watchers = g.watcherLinks(c, data.Watchers, r)
		snapshot, err := json.Marshal(d)
		if err != nil {
			return err
		}
		id, err := tx.Enqueue(ctx, store.OutboxMail{
			CaseID: c.ID, Template: tpl, Recipient: r.Email, RecipientName: r.Name, Role: r.Role,
			MessageID: g.newMessageID(), InReplyTo: inReplyTo, References: refs, Data: string(snapshot),
		}, g.cfg.OutboxLifetime)
		if err != nil {
			return err
		}
		if src := sourceOf(ctx); src != "" {
			if err := tx.NoteSource(ctx, id, src); err != nil {
				return err
			}
		}
		if due.After(tx.Now) {
			g.logAfter(tx, slog.LevelInfo, "notification held: the recipient's domain is over its circuit breaker limit",
				"case", c.Number, "template", tpl, "to", r.Email, "due", due)
			if err := tx.DeferOutbox(ctx, id, due); err != nil {
				return err
			}
		}
	}
	return nil
}

// watcherLinks gives the contact's copy of a mail listing watchers a
// signed link per watcher that takes them off the watch list; other
// recipients see the list without links.
func (g *Gateway) watcherLinks(c store.Case, ws []templates.Person, r recipient) []templates.Person {
	out := make([]templates.Person, len(ws))
	for i, w := range ws {
		out[i] = templates.Person{Name: w.Name, Email: w.Email, Role: "watcher"}
		if r.Role == "contact" {
			out[i].Link = g.linkURL(link{Case: c.Number, Email: r.Email, Action: linkUnwatch + strings.ToLower(w.Email)})
		}
	}
	return out
}

// idEncoding is base32 with the digits first ("0-9a-v" once lower-cased),
// so encoded ids sort as their bytes do.
var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// newMessageID returns a fresh Message-ID on our hostname, without angle
// brackets: the time in milliseconds (48 bits) then 80 random bits. The
// random part keeps it unguessable; the time in front makes the ids a
// gateway hands out follow one another in the indexes that keep them (the
// outbox's and the thread ids'), so queueing a mail writes at the end of
// those indexes instead of on a random page of each, however large they
// grow.
func (g *Gateway) newMessageID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(g.store.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return "cg." + strings.ToLower(idEncoding.EncodeToString(b[:])) + "@" + g.cfg.Hostname
}
