// Package imappoll feeds mail from IMAP mailboxes into the gateway: one
// Poller per configured mailbox (SPEC §3.2, the `imap:` keys of §6).
//
// # Life of a session
//
// A Poller connects (implicit TLS, STARTTLS or plain on loopback), logs in,
// selects its folder and compares the folder's UIDVALIDITY with the one its
// State remembers. It then drains the backlog, oldest UID first, in batches of
// Config.BatchSize, and waits for new mail: with IDLE (RFC 2177) where the
// server offers it, re-issued at least every 25 minutes because servers may
// drop an IDLE after 30, and by polling every Config.PollInterval otherwise.
// Every 25 minutes it also selects the folder again: not every server tells
// a session that its folder was deleted and recreated (Dovecot does not), and
// a fresh SELECT shows the new UIDVALIDITY.
// Any error ends the session; Run reconnects with exponential backoff and
// jitter (1 s to 5 min). A failed login is logged at ERROR once per attempt,
// and attempts are a backoff period apart, so a wrong password never produces
// a tight loop of errors. Every exchange with the server is bounded (5
// minutes, body fetches included): a server that stops answering gets its
// connection closed and the session starts over.
//
// # Position and the exactly-once argument
//
// The position of a mailbox is the pair (UIDVALIDITY, last UID). UIDs only
// grow within one UIDVALIDITY (RFC 3501 §2.3.1.1), so "every UID above the
// last one" is exactly the mail not yet handled. Each batch goes:
//
//  1. fetch each message (BODY.PEEK, so fetching alone never sets \Seen)
//     and hand it to Deliverer.Deliver, in UID order; a nil error means the
//     message is durably committed;
//  2. apply the `after` action (seen, move:FOLDER or delete) to the
//     committed messages, in one command;
//  3. State.Save the batch's last UID as the new position.
//
// A failed delivery stops the batch there: steps 2 and 3 run for the
// messages before it, the position stops short of it, the session ends and
// the same message is fetched again after the backoff, so nothing is ever
// skipped. A crash after a commit and before step 3 means the message is
// fetched and delivered a second time; the Deliverer recognises it by
// Message-ID or content hash and returns nil without creating anything, and
// the poller then applies the `after` action it never got to. A changed
// UIDVALIDITY (the folder was recreated, or the server lost its UID list)
// resets the last UID to 0 and every message is offered again, relying on
// that same deduplication. The position is therefore a performance hint;
// correctness rests on the Deliverer's deduplication plus the rule that
// nothing is flagged, moved or deleted before the Deliverer has committed it.
//
// The `after` action is applied only after the commit. A server refusal (a
// tagged NO, for example a folder we may not create) is logged and the
// poller moves on, so one message cannot block the mailbox; a broken
// connection ends the session before the position is saved, so the action is
// retried on the next session after the redelivery is recognised. For
// "seen", which leaves mail in place, it is the position and not the \Seen
// flag that keeps handled mail from being offered again.
//
// # Several instances
//
// Where several instances list the same mailbox, a State that implements
// Lock keeps it to one of them at a time: the poller polls only while it
// holds the mailbox's lease, renews it at a third of its time, and
// releases it at shutdown. The others try again as the lease runs out (at
// least every 5 s) and the first to find it run out takes the mailbox
// over. Polling stops as soon as the poller learns that another instance
// holds the lease, or when it could not renew before the lease would run
// out. The exactly-once argument above holds across instances: the one
// taking over resumes from the saved position, and what the previous
// holder committed without saving is recognised by the Deliverer.
//
// # Bad and oversized messages
//
// The poller does not parse mail. Whatever the server returns is handed to
// the Deliverer, which quarantines what it cannot parse and returns nil. A
// message over Config.MaxMessageBytes is still fetched whole and delivered
// (Source.Size tells its size) so the Deliverer can keep it raw in quarantine
// as too big; only a message more than four times the limit is fetched in
// part: its header section and the first MaxMessageBytes of its text, marked
// Source.Truncated. This bounds the memory one message can take to four
// times the limit while keeping every message that a sender could reasonably
// have sent available in full to operators. A message the server refuses
// to return three times in a row (its FETCH answered NO) has no bytes to
// quarantine: it is skipped with an ERROR naming its UID and stays in the
// folder for an operator.
//
// # Shutdown
//
// Run returns when its context is cancelled. No new message is started, but
// the message in hand is finished first: its delivery, then the `after`
// action and the position save of what its batch committed, run on a context
// that outlives the cancellation by a grace period (30 s). After the grace
// period the connection is closed and whatever was not finished is redone at
// the next start.
package imappoll
