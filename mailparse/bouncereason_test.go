package mailparse

import (
	"testing"
)

func TestClassifyBounce(t *testing.T) {
	check := func(action, status, diag string, want BounceReason) {
		t.Helper()
		if got := classifyBounce(action, status, diag); got != want {
			t.Errorf("classifyBounce(%q, %q, %q) = %q, want %q", action, status, diag, got, want)
		}
	}
	check("failed", "5.1.1", "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown", ReasonUserUnknown)
	check("failed", "5.1.1", "", ReasonUserUnknown)
	check("failed", "5.0.0", "550 Requested action not taken: mailbox unavailable", ReasonUserUnknown)
	check("failed", "5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", ReasonUserUnknown)
	check("failed", "5.1.10", "", ReasonNotAccept)
	check("failed", "5.1.2", "", ReasonHostUnknown)
	check("", "", "Unrouteable address", ReasonHostUnknown)
	check("", "", "Sorry, I couldn't find any host named nowhere.example. (#5.1.2)", ReasonHostUnknown)
	check("failed", "5.1.6", "", ReasonHasMoved)
	check("failed", "5.2.2", "552 5.2.2 Mailbox full", ReasonMailboxFull)
	check("", "", "user is over quota", ReasonMailboxFull)
	check("failed", "5.3.4", "552 5.3.4 Message size exceeds fixed limit", ReasonMessageTooBig)
	check("failed", "5.2.1", "550 5.2.1 The email account that you tried to reach is disabled.", ReasonSuspended)
	check("failed", "5.7.1", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", ReasonBlocked)
	check("failed", "5.7.1", "550 5.7.1 Message rejected as spam by content filter", ReasonSpamDetected)
	check("failed", "5.7.1", "554 5.7.1 <a@b.example>: Relay access denied", ReasonRelayingDenied)
	check("failed", "5.7.1", "550 5.7.1 Unauthenticated email from x.example is not accepted due to domain's DMARC policy", ReasonAuthFailure)
	check("failed", "5.7.1", "550 5.7.1 Client host rejected: cannot find your hostname", ReasonPTRRequired)
	check("failed", "5.7.1", "550 5.7.1 Delivery not authorized, message refused", ReasonPolicyViolation)
	check("failed", "5.7.1", "", ReasonSecurityError)
	check("failed", "5.7.26", "", ReasonAuthFailure)
	check("failed", "5.6.0", "", ReasonContentError)
	check("failed", "5.1.1", "550 5.1.1 Sender address rejected: Domain not found", ReasonRejected)
	check("failed", "4.4.7", "", ReasonExpired)
	check("failed", "5.4.7", "retry timeout exceeded", ReasonExpired)
	check("failed", "4.7.0", "421 4.7.0 Too many concurrent SMTP connections", ReasonTooManyConnections)
	check("failed", "4.7.28", "421 4.7.28 Our system has detected an unusual rate of mail", ReasonSpamDetected)
	check("failed", "", "554 5.7.1 Message contains a virus", ReasonVirusDetected)
	check("failed", "", "554 Transaction failed: message is not RFC 5322 compliant", ReasonNotRFCCompliant)
	check("failed", "4.1.1", "450 4.1.1 Recipient address lookup failed", ReasonNetworkError)
	check("failed", "", "", ReasonUndefined)
	check("delayed", "4.4.1", "Connection timed out", ReasonDelayed)
	check("delivered", "2.0.0", "", "")
	check("failed", "5.2.0", "blah", ReasonFiltered)
}

func TestBounceRecipientAddressGone(t *testing.T) {
	check := func(r BounceRecipient, want bool) {
		t.Helper()
		if got := r.AddressGone(); got != want {
			t.Errorf("%+v AddressGone() = %v, want %v", r, got, want)
		}
	}
	check(newRecipient("a@b.example", "failed", "5.1.1", "550 5.1.1 User unknown", ""), true)
	check(newRecipient("a@b.example", "failed", "", "550 No such user here", ""), true)
	check(newRecipient("a@b.example", "", "", "Unrouteable address", ""), true)
	check(newRecipient("a@b.example", "failed", "5.7.1", "550 5.7.1 Message rejected as spam", ""), false)
	check(newRecipient("a@b.example", "failed", "5.2.2", "552 5.2.2 Mailbox full", ""), false)
	check(newRecipient("a@b.example", "failed", "4.1.1", "450 4.1.1 user unknown (lookup failed)", ""), false)
	check(newRecipient("a@b.example", "delayed", "4.4.7", "", ""), false)
	check(newRecipient("a@b.example", "failed", "5.7.1", "554 5.7.1 Relay access denied", ""), false)
	check(newRecipient("a@b.example", "failed", "5.1.10", "", ""), true)
	r := newRecipient("a@b.example", "failed", "", "smtp; 550 5.1.1 <a@b.example>... User unknown", "")
	if r.Class != ClassPermanent || r.ReplyCode != "550" || r.Status != "5.1.1" {
		t.Errorf("newRecipient: %+v", r)
	}
}

func TestReplyCode(t *testing.T) {
	for s, want := range map[string]string{
		"550 5.1.1 User unknown": "550", "smtp; 452-4.2.2 over quota": "452", "Error: 550 - no": "550",
		"port 2525 refused": "", "5.1.1": "", "version 1.550": "", "": "", "host 192.0.2.1 said: 554": "554",
	} {
		if got := replyCode(s); got != want {
			t.Errorf("replyCode(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestLetterPairs(t *testing.T) {
	b := letterPairsOf("550 5.1.1 user unknown")
	for p, want := range map[string]bool{"user unknown": true, "unknown user": true, "mailbox full": false,
		"5.1.1": true, "": true, "spam": false} {
		if got := b.mayHold(p); got != want {
			t.Errorf("mayHold(%q) = %v, want %v", p, got, want)
		}
	}
}
