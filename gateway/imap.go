package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/casegate/casegate/gateway/imappoll"
	"github.com/casegate/casegate/gateway/spool"
)

// IMAPSink feeds mail taken from polled mailboxes into the one ingestion
// path and keeps the pollers' positions and leases in the database. It
// implements imappoll.Deliverer, imappoll.State and imappoll.Lock.
type IMAPSink struct{ g *Gateway }

// IMAPSink returns the gateway's sink for IMAP pollers.
func (g *Gateway) IMAPSink() *IMAPSink { return &IMAPSink{g: g} }

// Deliver stores one polled message. Its nil error (stored, duplicate or
// quarantined) is what allows the poller to flag, move or delete it.
func (s *IMAPSink) Deliver(ctx context.Context, mail *spool.Message, src imappoll.Source) error {
	env := Envelope{Source: "imap", Kind: src.Kind}
	if src.Truncated {
		start := time.Now()
		in, err := s.g.newInboundFrom(mail, env)
		if err != nil {
			return err
		}
		_, err = s.g.quarantine(ctx, in, "too_big",
			fmt.Sprintf("mailbox %s uid %d: %d bytes, only the start was fetched", src.Mailbox, src.UID, src.Size))
		if err == nil {
			s.g.metrics.ingested(env.Source, OutcomeQuarantined, start)
		}
		return err
	}
	res, err := s.g.IngestMessage(ctx, s.unwrap(mail, src), env)
	if err != nil {
		return err
	}
	s.g.log.Info("imap: message stored", "mailbox", src.Mailbox, "uid", src.UID, "outcome", res.Outcome,
		"case", res.Case, "message_id", res.MessageID)
	return nil
}

// DeliverBatch stores several polled messages of one mailbox, in order,
// in one group commit (Gateway.IngestBatch).
func (s *IMAPSink) DeliverBatch(ctx context.Context, msgs []imappoll.Message) []error {
	errs := make([]error, len(msgs))
	var batch []RawMessage
	var idx []int
	for i, m := range msgs {
		if m.Src.Truncated {
			errs[i] = s.Deliver(ctx, m.Mail, m.Src)
			continue
		}
		batch = append(batch, RawMessage{Mail: s.unwrap(m.Mail, m.Src), Env: Envelope{Source: "imap", Kind: m.Src.Kind}})
		idx = append(idx, i)
	}
	results, berrs := s.g.IngestBatch(ctx, batch)
	for k, i := range idx {
		errs[i] = berrs[k]
		if berrs[k] != nil {
			continue
		}
		res, src := results[k], msgs[i].Src
		s.g.log.Info("imap: message stored", "mailbox", src.Mailbox, "uid", src.UID, "outcome", res.Outcome,
			"case", res.Case, "message_id", res.MessageID)
	}
	return errs
}

// unwrap takes, from a mailbox that another support mailbox forwards into
// as attachment (imap[].forwarding), the customer's mail out of its
// wrapper: a mail whose only content is one attached message is that
// message, byte for byte, and its Message-ID decides duplicates. Anything
// else (a mail that is not such a wrapper, one that cannot be read) comes
// through as it is.
func (s *IMAPSink) unwrap(raw *spool.Message, src imappoll.Source) *spool.Message {
	if !src.Forwarding {
		return raw
	}
	m, err := s.g.parseMail(raw)
	if err != nil || m.Forwarded == nil || !m.Forwarded.Only {
		return raw
	}
	for _, a := range m.Attachments {
		if a.Message != nil && len(a.Data) > 0 {
			s.g.log.Info("imap: forwarded mail unwrapped", "mailbox", src.Mailbox, "uid", src.UID,
				"wrapper_from", m.From.Email, "from", a.Message.From.Email)
			return spool.Bytes(a.Data)
		}
	}
	return raw
}

// Load returns a mailbox's saved position.
func (s *IMAPSink) Load(ctx context.Context, mailbox string) (uint32, uint32, error) {
	return s.g.store.IMAPState(ctx, mailbox)
}

// Save records a mailbox's position durably.
func (s *IMAPSink) Save(ctx context.Context, mailbox string, uidValidity, lastUID uint32) error {
	return s.g.store.SaveIMAPState(ctx, mailbox, uidValidity, lastUID)
}

// Acquire takes or renews this instance's lease on mailbox (store
// AcquireMailbox): with several instances on one database, each mailbox
// is polled by one of them at a time.
func (s *IMAPSink) Acquire(ctx context.Context, mailbox string) (imappoll.Lease, error) {
	l, err := s.g.store.AcquireMailbox(ctx, mailbox, s.g.cfg.InstanceID, s.g.cfg.Lease)
	if err != nil {
		return imappoll.Lease{}, err
	}
	return imappoll.Lease{Held: l.Owner == s.g.cfg.InstanceID, Holder: l.Owner, Until: l.Until}, nil
}

// Release gives up this instance's lease on mailbox.
func (s *IMAPSink) Release(ctx context.Context, mailbox string) error {
	return s.g.store.ReleaseMailbox(ctx, mailbox, s.g.cfg.InstanceID)
}
