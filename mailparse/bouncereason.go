package mailparse

import (
	"strings"
)

// BounceReason says why a delivery to one recipient failed, in a
// vocabulary of the kind deliverability tools use. It is derived from the
// enhanced status code (RFC 3463), the SMTP reply and the diagnostic text.
type BounceReason string

// The bounce reasons. Only ReasonUserUnknown, ReasonHostUnknown,
// ReasonHasMoved and ReasonNotAccept say that the address itself is gone
// (see AddressGone); every other reason is a failure of that one mail.
const (
	ReasonUserUnknown        BounceReason = "user_unknown"         // no such mailbox at the domain
	ReasonHostUnknown        BounceReason = "host_unknown"         // the domain does not exist or cannot be routed to
	ReasonHasMoved           BounceReason = "has_moved"            // the mailbox moved, no forwarding (RFC 3463 X.1.6)
	ReasonNotAccept          BounceReason = "not_accept"           // the domain accepts no mail at all (null MX, RFC 7505)
	ReasonMailboxFull        BounceReason = "mailbox_full"         // over quota
	ReasonMessageTooBig      BounceReason = "message_too_big"      // over a size limit
	ReasonSuspended          BounceReason = "suspended"            // mailbox disabled or suspended
	ReasonFiltered           BounceReason = "filtered"             // refused by a filter of the recipient
	ReasonBlocked            BounceReason = "blocked"              // the sending host is blocked (block lists, reputation)
	ReasonSpamDetected       BounceReason = "spam_detected"        // judged spam
	ReasonVirusDetected      BounceReason = "virus_detected"       // judged malware
	ReasonPolicyViolation    BounceReason = "policy_violation"     // a local policy of the receiver
	ReasonRejected           BounceReason = "rejected"             // the sender (envelope from) was refused
	ReasonRelayingDenied     BounceReason = "relaying_denied"      // the host would not relay
	ReasonAuthFailure        BounceReason = "auth_failure"         // SPF, DKIM or DMARC failed
	ReasonSecurityError      BounceReason = "security_error"       // TLS, authentication, other security
	ReasonPTRRequired        BounceReason = "ptr_required"         // the sending host has no valid reverse DNS
	ReasonNotRFCCompliant    BounceReason = "not_rfc_compliant"    // the message breaks RFC 5322
	ReasonContentError       BounceReason = "content_error"        // media or encoding not accepted
	ReasonTooManyConnections BounceReason = "too_many_connections" // too many connections or recipients at once
	ReasonRateLimited        BounceReason = "rate_limited"         // sending too fast
	ReasonSuppressed         BounceReason = "suppressed"           // on the sending service's suppression list
	ReasonExpired            BounceReason = "expired"              // gave up after retrying too long
	ReasonSystemError        BounceReason = "system_error"         // a fault of the receiving system
	ReasonNetworkError       BounceReason = "network_error"        // DNS, connection or routing trouble
	ReasonDelayed            BounceReason = "delayed"              // not failed yet: delivery is delayed (DSN Action: delayed)
	ReasonUndefined          BounceReason = "undefined"            // nothing says why
)

// AddressGone reports whether the reason says the address itself no
// longer exists, whatever the SMTP class.
func (r BounceReason) AddressGone() bool {
	switch r {
	case ReasonUserUnknown, ReasonHostUnknown, ReasonHasMoved, ReasonNotAccept:
		return true
	}
	return false
}

// SMTP classes of a failure, as in BounceRecipient.Class.
const (
	ClassPermanent = "5xx"
	ClassTemporary = "4xx"
)

// smtpClass returns the class of a failure from its status code, else
// from the SMTP reply code of its diagnostic, "" if neither says.
func smtpClass(status, diagnostic string) string {
	c := status
	if c == "" {
		c = replyCode(diagnostic)
	}
	switch {
	case strings.HasPrefix(c, "5"):
		return ClassPermanent
	case strings.HasPrefix(c, "4"):
		return ClassTemporary
	}
	return ""
}

// replyCode returns the first SMTP reply code (RFC 5321 §4.2, "550") of a
// diagnostic, "" if none: three digits 2xx to 5xx standing alone.
func replyCode(s string) string {
	for i := 0; i+3 <= len(s); i++ {
		if n := digitsAt(s, i); n != 3 {
			i += n
			continue
		}
		if (i == 0 || !isDigit(s[i-1]) && s[i-1] != '.') && s[i] >= '2' && s[i] <= '5' &&
			(i+3 == len(s) || strings.ContainsRune(" -\t\n", rune(s[i+3]))) {
			return s[i : i+3]
		}
		i += 3
	}
	return ""
}

// classifyBounce returns the reason of one failed recipient from its DSN
// action, enhanced status code and diagnostic text, "" for a recipient
// the report says was delivered. The text decides when
// it is specific; a generic text ("rejected", "denied") leaves it to a
// specific status code.
func classifyBounce(action, status, diagnostic string) BounceReason {
	switch {
	case action == "delayed":
		return ReasonDelayed
	case action == "delivered" || action == "relayed" || action == "expanded" || strings.HasPrefix(status, "2."):
		return "" // no failure
	}
	cr := statusReason(status)
	tr, weak := textReason(strings.ToLower(diagnostic))
	switch {
	case tr == "" && cr == "":
		return ReasonUndefined
	case tr == "":
		return cr
	case cr == "" || genericStatus[cr]:
		return tr
	case weak:
		return cr
	}
	return tr
}

// genericStatus are the reasons a status code gives when it says little
// (5.7.1 "delivery not authorized", 5.3.0 "other mail system status").
var genericStatus = map[BounceReason]bool{
	ReasonSecurityError: true, ReasonSystemError: true, ReasonNetworkError: true,
	ReasonFiltered: true, ReasonContentError: true,
}

// statusReason maps an enhanced status code (RFC 3463, RFC 7505, RFC 7372)
// to a reason, "" for codes that say nothing (X.0.0).
func statusReason(status string) BounceReason {
	if len(status) < 5 || status[1] != '.' {
		return ""
	}
	if r, ok := statusReasons[status[2:]]; ok {
		if r.AddressGone() && status[0] == '4' && r != ReasonHasMoved {
			return "" // a temporary "user unknown" is a lookup failure
		}
		return r
	}
	switch {
	case strings.HasPrefix(status[2:], "5."):
		return ReasonSystemError
	case strings.HasPrefix(status[2:], "6."):
		return ReasonContentError
	case strings.HasPrefix(status[2:], "7."):
		return ReasonSecurityError
	}
	return ""
}

// statusReasons are the reasons of the subject and detail of a status
// code ("1.1" of "5.1.1").
var statusReasons = map[string]BounceReason{
	"1.0": ReasonUserUnknown, "1.1": ReasonUserUnknown, "1.2": ReasonHostUnknown,
	"1.3": ReasonUserUnknown, "1.4": ReasonFiltered, "1.6": ReasonHasMoved, "1.7": ReasonRejected,
	"1.8": ReasonRejected, "1.9": ReasonSystemError, "1.10": ReasonNotAccept,
	"2.0": ReasonFiltered, "2.1": ReasonSuspended, "2.2": ReasonMailboxFull,
	"2.3": ReasonMessageTooBig, "2.4": ReasonFiltered,
	"3.0": ReasonSystemError, "3.1": ReasonSystemError, "3.2": ReasonNotAccept,
	"3.3": ReasonSystemError, "3.4": ReasonMessageTooBig, "3.5": ReasonSystemError,
	"4.0": ReasonNetworkError, "4.1": ReasonNetworkError, "4.2": ReasonNetworkError,
	"4.3": ReasonSystemError, "4.4": ReasonHostUnknown, "4.5": ReasonSystemError,
	"4.6": ReasonNetworkError, "4.7": ReasonExpired,
	"5.3": ReasonTooManyConnections,
	"7.1": ReasonSecurityError, "7.13": ReasonSuspended, "7.17": ReasonHasMoved,
	"7.18": ReasonHasMoved, "7.20": ReasonAuthFailure, "7.21": ReasonAuthFailure,
	"7.22": ReasonAuthFailure, "7.23": ReasonAuthFailure, "7.24": ReasonAuthFailure,
	"7.25": ReasonPTRRequired, "7.26": ReasonAuthFailure, "7.27": ReasonRejected,
	"7.28": ReasonSpamDetected, "7.29": ReasonAuthFailure,
}

// textReason returns the reason the words of a lower-cased diagnostic
// give, "" if none: the first group in textReasons with a phrase found;
// weak says the words say little ("rejected", "denied", "policy") and a
// specific status code should decide.
func textReason(l string) (BounceReason, bool) {
	if l == "" {
		return "", false
	}
	b := letterPairsOf(l)
	for _, g := range textReasons {
		for _, p := range g.phrases {
			if b.mayHold(p) && strings.Contains(l, p) {
				return g.reason, g.weak
			}
		}
	}
	return "", false
}

// letterPairs is the set of the pairs of adjacent lower-case ASCII letters
// of a text: a phrase with a pair the text lacks is not in it. It spares
// textReason most of its substring searches.
type letterPairs [11]uint64 // 26 × 26 bits

func letterPairsOf(l string) letterPairs {
	var b letterPairs
	for i := 0; i+1 < len(l); i++ {
		if x, y := l[i]-'a', l[i+1]-'a'; x < 26 && y < 26 {
			k := int(x)*26 + int(y)
			b[k>>6] |= 1 << (k & 63)
		}
	}
	return b
}

// mayHold reports whether every pair of adjacent letters of p is in b.
func (b *letterPairs) mayHold(p string) bool {
	for i := 0; i+1 < len(p); i++ {
		if x, y := p[i]-'a', p[i+1]-'a'; x < 26 && y < 26 {
			if k := int(x)*26 + int(y); b[k>>6]&(1<<(k&63)) == 0 {
				return false
			}
		}
	}
	return true
}

// textReasons are the phrases of bounce diagnostics, by reason, the more
// specific first: "Sender address rejected: Domain not found" is about
// the sender, "blocked using zen.spamhaus.org" a block list, not spam.
var textReasons = []struct {
	reason  BounceReason
	weak    bool
	phrases []string
}{
	{ReasonRelayingDenied, false, []string{"relay access denied", "relaying denied", "relay denied", "relay not permitted",
		"not permitted to relay", "unable to relay", "relaying not allowed", "we do not relay", "relay prohibited",
		"not allowed to relay", "smtp relay error", "no relaying", "relaying mail to", "is not a gateway"}},
	{ReasonRejected, false, []string{"sender address rejected", "sender rejected", "sender verify failed",
		"sender domain", "invalid sender", "sender denied", "sender is not allowed", "envelope sender",
		"not a member of this mailing list", "are not member", "not member article", "mail from address",
		"sender address has null mx", "sender not allowed", "reject mail from", "reject spammers"}},
	{ReasonPTRRequired, false, []string{"reverse dns", "no ptr", "ptr record", "rdns", "reverse lookup", "no reverse",
		"cannot find your hostname", "cannot resolve your", "reverse hostname"}},
	{ReasonAuthFailure, false, []string{"spf ", "spf:", "spf check", "spf fail", "spf validation", "dkim", "dmarc",
		"sender policy framework", "domainkeys", "arc validation"}},
	{ReasonVirusDetected, false, []string{"virus", "malware", "infected", "trojan"}},
	{ReasonSuppressed, false, []string{"suppression list", "suppressed"}},
	{ReasonMailboxFull, false, []string{"mailbox full", "mailbox is full", "mailbox has exceeded", "quota exceeded",
		"over quota", "overquota", "exceeded storage", "disk quota", "insufficient storage", "mailbox size limit",
		"not enough space", "full mailbox", "storage limit", "exceeds quota", "exceeded its quota",
		"exceeded the quota", "is over its quota", "user is over", "mailbox is over", "exceed the quota"}},
	{ReasonMessageTooBig, false, []string{"message too big", "message too large", "message is too big", "message is too large",
		"too large", "size limit", "exceeds size", "message size exceeds", "size exceeds", "exceeds the maximum size",
		"exceeded the maximum size", "exceeds maximum message size", "message size", "exeeded the maximum size"}},
	{ReasonHasMoved, false, []string{"has moved", "moved permanently", "no longer with", "mailbox has been moved",
		"address has changed", "new address is"}},
	{ReasonSuspended, false, []string{"suspended", "disabled", "deactivated", "account is locked", "mailbox is locked",
		"account has been locked", "account is inactive", "mailbox is frozen"}},
	{ReasonNotAccept, false, []string{"null mx", "does not accept mail", "does not accept email", "not accepting mail",
		"accepts no mail", "couldn't find a mail exchanger", "could not find a mail exchanger"}},
	{ReasonHostUnknown, false, []string{"host unknown", "unknown host", "domain not found", "no such domain",
		"domain does not exist", "domain doesnt exist", "domain doesn't exist", "host not found", "unrouteable",
		"unroutable", "name or service not known", "nxdomain", "dns lookup failure", "couldn't find any host",
		"could not find any host", "unknown domain", "domain name not found", "invalid domain", "no mx record",
		"no mail exchanger", "host or domain name not found", "no route to domain"}},
	{ReasonUserUnknown, false, []string{"user unknown", "unknown user", "no such user", "no such mailbox",
		"no such recipient", "recipient unknown", "unknown recipient", "mailbox not found", "mailbox unavailable",
		"mailbox does not exist", "mailbox not available", "mailbox is unavailable", "does not exist",
		"doesn't exist", "not exist", "invalid recipient", "invalid mailbox", "invalid address", "address invalid",
		"recipient not found", "recipientnotfound", "user not found", "not a valid", "no mailbox",
		"account does not exist", "address not found", "couldn't be found", "could not be found", "wasn't found",
		"unknown address", "address unknown", "no account", "bad destination", "unknown local", "not a known user",
		"undeliverable address", "no longer valid", "no longer active", "no longer accepts", "invalid user",
		"user invalid", "no valid recipients", "no such person", "no such address", "not a local",
		"unknown mailbox", "not our customer", "address rejected: access denied", "user doesn't have",
		"mailbox is inactive", "no longer in use", "address is no longer", "bad recipient"}},
	{ReasonBlocked, false, []string{"blacklist", "blocklist", "block list", "black list", "spamhaus", "spamcop", "sorbs",
		"barracuda", "dnsbl", " rbl", "rbl ", "blocked using", "listed at", "listed in", "reputation", "your ip",
		"client host", "sender ip", "ip address", "banned", "my name was rejected", "not whitelisted"}},
	{ReasonSpamDetected, false, []string{"spam", "junk mail", "unsolicited", "bulk mail", "bulk e-mail", "scam",
		"phishing", "message looks suspicious", "content filter"}},
	{ReasonTooManyConnections, false, []string{"too many connections", "too many concurrent", "connection limit",
		"too many sessions", "too many simultaneous", "too many recipients"}},
	{ReasonRateLimited, false, []string{"rate limit", "ratelimit", "too many messages", "sending rate", "throttl",
		"too fast", "exceeded the rate", "sending quota"}},
	{ReasonNotRFCCompliant, false, []string{"rfc 5322", "rfc5322", "rfc 2822", "rfc2822", "rfc 822", "rfc822 ",
		"not rfc", "rfc compliant", "malformed", "duplicate header", "duplicated message-id", "missing header",
		"header is missing", "invalid header", "bare lf", "bare linefeed"}},
	{ReasonExpired, true, []string{"expired", "timed out", "time out", "timeout", "too long in queue",
		"in the queue too long", "queue too long", "giving up", "could not deliver for the last",
		"retry time", "delivery time"}},
	{ReasonNetworkError, true, []string{"connection refused", "no route to host", "network is unreachable",
		"could not connect", "unable to connect", "failed to connect", "couldn't connect", "routing loop",
		"mail loop", "loop detected", "too many hops", "hop count", "dns error", "lookup failed",
		"wasn't able to establish", "connection reset", "connection lost", "loop alert", "loop back warning"}},
	{ReasonSecurityError, true, []string{"starttls", "tls ", "tls.", "encryption", "certificate", "authentication required",
		"must authenticate", "smtp auth", "security alert"}},
	{ReasonContentError, true, []string{"content", "media type", "media not supported", "mime", "encoding", "8bit",
		"attachment"}},
	{ReasonPolicyViolation, true, []string{"policy", "not allowed", "prohibited", "administrative prohibition",
		"not authorized", "unauthorized", "greylist", "graylist"}},
	{ReasonFiltered, true, []string{"filtered", "filter", "message rejected by recipient", "recipient refuses",
		"does not want", "not accepted by"}},
	{ReasonBlocked, true, []string{"blocked", "access denied", "denied", "refused", "connection rejected"}},
	{ReasonSystemError, true, []string{"system error", "internal error", "server error", "local error", "i/o error",
		"out of memory", "insufficient system", "service unavailable", "server busy", "mailer error",
		"system not accepting", "temporary failure", "temporarily unavailable", "unexpected"}},
	{ReasonRejected, true, []string{"rejected", "reject", "not accepted", "refused to accept"}},
}
