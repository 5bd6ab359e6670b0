// Package outbound sends the outbox (SPEC §4): a pool of sender workers
// that keep their relay connections open, with the bookkeeping of many
// mails in one transaction.
//
// The package knows nothing of cases. It consumes small interfaces that
// the gateway implements: the Queue (the durable outbox), a Composer that
// renders a row into a mail with its bounce address, and the Guard (the
// circuit breaker). A Sender (a relay, or a local Maildir) opens a Session
// per worker.
//
// # Life of a mail
//
//  1. Claim. Run keeps up to Config.Batch mails in flight. When there is
//     room it asks the Guard once for the batch, then claims due rows from
//     the Queue for this instance and records that an attempt of each
//     begins, in one transaction, before any of them is sent. A crash from
//     here on leaves the attempts "started"; the next Run under the same
//     instance id marks them interrupted at once, and otherwise the claims
//     run out; either way the rows, still pending, go again with the same
//     Message-ID.
//  2. Send. Config.Concurrency workers take the claimed rows. Each has a
//     Session of its own: for a relay, one SMTP connection that stays open
//     for many mails (RSET between them), closed after Config.SessionIdle
//     without mail or Config.SessionMails mails. A connection error closes
//     it; the mail's attempt is a temporary failure and the next mail opens
//     a new connection. A mail the relay accepted counts once its session's
//     Flush returns (a Maildir syncs its directory once for all the mails
//     of a Flush; a worker flushes whenever no claimed row waits).
//  3. Record. Outcomes are gathered for Config.ResultWindow, or until
//     Config.Batch of them or every mail in flight has one, and recorded in
//     one transaction. Only then do their rows leave the flight, so a row
//     is never claimed again before its result is known. If recording
//     fails, it is tried again while the rows stay in flight.
//
// # Several instances
//
// Instances on one database share the outbox through the Queue's claims:
// a claimed row is offered to no other instance while its claim lasts,
// and Run renews the claims of the mails in flight every Config.Renew. A
// row whose claim ran out (its instance died, or could not reach the
// database) is claimed by another instance, which sends it again; if
// Run learns at a renewal that this happened to a mail it has not tried
// yet, it does not try it.
//
// # Order
//
// A case's mails to one recipient leave one at a time and in the order
// they were queued: the Queue offers only the oldest pending row of each
// case and recipient, and never a row in flight. A row waiting for its
// retry holds the newer ones of its case and recipient back until it is
// sent or dead. Mail to other recipients goes in parallel.
//
// # Failures
//
// A 5xx answer makes the mail a dead letter; every other failure is
// temporary and retried on the RetryPolicy schedule until the row's
// lifetime is over. The circuit breaker is read once per claimed batch;
// the mails in flight count against what it allows. When connections to
// the relay fail for a TLS reason, that is logged at ERROR once, and again
// only after TLS worked in between.
package outbound
