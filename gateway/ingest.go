package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casegate/casegate/gateway/spool"
	"github.com/casegate/casegate/mailparse"
	"github.com/casegate/casegate/store"
)

// Envelope is what the transport knows of a message besides its bytes.
type Envelope struct {
	Source string   // smtp | imap | pipe | replay
	From   string   // envelope sender (MAIL FROM / Return-Path); "" for the null sender or none known
	To     []string // envelope recipients
	Kind   string   // case kind when the transport decides it (IMAP mailbox); "" = from the recipients
	// ClientIP and HELO are the connecting client's address and HELO
	// name, where the transport knows them (SMTP; a pipe told by its MTA);
	// without them SPF is skipped and no relay is trusted (auth.go).
	ClientIP string
	HELO     string
	// NullSender: the transport saw the null reverse-path (IsNullSender),
	// so the message is a delivery report. A transport with no envelope
	// (IMAP) leaves it false.
	NullSender bool
}

// Outcomes beyond the stored ones of package store.
const (
	OutcomeDuplicate   = "duplicate"
	OutcomeQuarantined = "quarantined"
)

// Result is what ingestion did with a message.
type Result struct {
	Outcome    string `json:"outcome"`
	Case       string `json:"case,omitempty"`
	LinkedTo   string `json:"linked_to,omitempty"`
	MessageID  int64  `json:"message_id,omitempty"`
	Quarantine int64  `json:"quarantine_id,omitempty"`
	Reason     string `json:"reason,omitempty"` // quarantine reason
	Trace      []Step `json:"trace"`
	// Auth is the sender authentication verdict (auth.go); nil when the
	// message was quarantined before it could be read.
	Auth *AuthVerdict `json:"auth,omitempty"`
}

// Step is one entry of the decision trace (SPEC §3 classification).
type Step struct {
	Step   string `json:"step"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// TemporaryError is a failure after which the sender should try again:
// nothing was stored.
type TemporaryError struct{ Err error }

func (e *TemporaryError) Error() string { return "temporary failure: " + e.Err.Error() }
func (e *TemporaryError) Unwrap() error { return e.Err }

// inbound is one message on its way through classification.
type inbound struct {
	// mail is the raw message, in memory or in a spool file; head is its
	// start, holding the header section (all of a message in memory).
	mail    *spool.Message
	head    []byte
	sha     string
	env     Envelope
	msg     *mailparse.Message
	kind    string
	plusTag string
	trace   []Step
	// quiet: store the message without a public "inbound" activity entry
	// (agent mail, whose text becomes a comment of its own).
	quiet bool
	// What sender authentication found (auth.go), before the transaction.
	fields []headerField
	path   mailPath
	auth   *AuthVerdict
	spam   SpamVerdict
	// agent: the From is an agent address and the mail is authenticated;
	// only then do agent identity and commands apply.
	agent bool
	// The verdict as amplify.go reads it. The zero value is "not known",
	// treated cautiously: authenticated is an aligned pass for the From:
	// domain; authFailed a failure the sender's domain asks to enforce.
	authenticated bool
	authFailed    bool
	// web: a comment written on a case page (webcomment.go), whose first
	// word is never a command.
	web bool
	// derived is what the transaction's work takes from the parsed mail
	// and the verdict alone; see derive.
	derived *derived
}

// derived is computed from a parsed, authenticated mail without the
// database: the headers' JSON, a new case's description, a confirmation's
// quote.
type derived struct {
	headers     string
	description string
	quote       string
}

// derive returns what is derived from the mail, computing it on first
// use. The ingestion path calls it before the transaction, so the single
// writer does not spend its time on it.
func (g *Gateway) derive(in *inbound) *derived {
	if in.derived == nil {
		in.derived = &derived{
			headers:     headersOfInterest(in.msg, in.auth),
			description: caseDescription(in.msg.Text),
			quote:       g.confirmationQuote(in),
		}
	}
	return in.derived
}

func newInbound(raw []byte, env Envelope) *inbound {
	sum := sha256.Sum256(raw)
	return &inbound{mail: spool.Bytes(raw), head: raw, sha: hex.EncodeToString(sum[:]), env: env}
}

// headBytes is how much of a spooled message is read as its head: more
// than the parser's limit on a header section.
const headBytes = 256<<10 + 4<<10

// newInboundFrom is newInbound of a message that may be in a spool file:
// its digest is taken in one pass over the file, and its head read. A
// failure to read the file is a *TemporaryError.
func (g *Gateway) newInboundFrom(m *spool.Message, env Envelope) (*inbound, error) {
	if raw, ok := m.InMemory(); ok {
		return newInbound(raw, env), nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, m.Section()); err != nil {
		return nil, g.temporary("read spooled message", err)
	}
	head, err := m.Head(max(headBytes, g.parseOpts.Limits.MaxHeaderBytes+4<<10))
	if err != nil {
		return nil, g.temporary("read spooled message", err)
	}
	return &inbound{mail: m, head: head, sha: hex.EncodeToString(h.Sum(nil)), env: env}, nil
}

// again is a fresh inbound of the same message, with envelope env.
func (in *inbound) again(env Envelope) *inbound {
	return &inbound{mail: in.mail, head: in.head, sha: in.sha, env: env}
}

// rawForStore is the message for store.InboundMessage: its bytes when in
// memory, else its section of the spool file, which the store reads in
// pieces.
func (in *inbound) rawForStore() ([]byte, *io.SectionReader) {
	if raw, ok := in.mail.InMemory(); ok {
		return raw, nil
	}
	return nil, in.mail.Section()
}

func (in *inbound) step(step, result, detail string) {
	in.trace = append(in.trace, Step{Step: step, Result: result, Detail: detail})
}

// Ingest takes one raw message through classification and stores it with
// everything it causes, in one transaction. A nil error means the message
// is durably stored (or was already, or is quarantined); a non-nil error is
// a *TemporaryError and nothing was stored.
func (g *Gateway) Ingest(ctx context.Context, raw []byte, env Envelope) (Result, error) {
	return g.ingestCounted(ctx, time.Now(), newInbound(raw, env))
}

// IngestMessage is Ingest of a message that may be in a spool file (a
// large one, package spool), which is read from there in pieces and
// never held whole. m remains the caller's, to close after.
func (g *Gateway) IngestMessage(ctx context.Context, m *spool.Message, env Envelope) (Result, error) {
	start := time.Now()
	in, err := g.newInboundFrom(m, env)
	if err != nil {
		return Result{}, err
	}
	return g.ingestCounted(ctx, start, in)
}

// ingestCounted is ingest, counted in the metrics when it succeeds.
func (g *Gateway) ingestCounted(ctx context.Context, start time.Time, in *inbound) (Result, error) {
	res, err := g.ingest(ctx, in, false)
	if err == nil {
		g.metrics.ingested(in.env.Source, res.Outcome, start)
	}
	return res, err
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// ingest is Ingest; with dry set it takes every decision against the
// current database, then rolls the transaction back and writes nothing.
func (g *Gateway) ingest(ctx context.Context, in *inbound, dry bool) (Result, error) {
	env := in.env
	j := g.prepare(ctx, in, dry)
	if j.write == nil {
		return j.res, j.err
	}
	err := g.store.Write(ctx, j.write)
	if errors.Is(err, store.ErrDuplicate) {
		// Another instance stored the same mail between our duplicate
		// check and our insert, and our transaction was rolled back:
		// taken in again, the check finds it.
		j = g.prepare(ctx, in.again(env), dry)
		if j.write == nil {
			return j.res, j.err
		}
		err = g.store.Write(ctx, j.write)
	}
	return g.finish(j, err)
}

// IngestBatch ingests several messages of one source, in order, the way
// Ingest does each, with their writes queued together so that they share
// a commit. A message sees everything the earlier ones stored (a reply
// threads to a case opened just before it in the same batch). results[i]
// and errs[i] are what Ingest would have returned for msgs[i].
func (g *Gateway) IngestBatch(ctx context.Context, msgs []RawMessage) ([]Result, []error) {
	jobs := make([]*ingestJob, len(msgs))
	ins := make([]*inbound, len(msgs))
	// What needs no transaction (reading, parsing, sender authentication
	// with its DNS questions) is done for several messages at once, one
	// worker a processor; the writes then run in the batch's order.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(msgs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(msgs); i = int(next.Add(1)) - 1 {
				jobs[i], ins[i] = g.prepareOf(ctx, msgs[i])
			}
		}()
	}
	wg.Wait()
	var fns []func(*store.Tx) error
	for _, j := range jobs {
		if j.write != nil {
			fns = append(fns, j.write)
		}
	}
	werrs := g.store.WriteBatch(ctx, fns)
	results, errs := make([]Result, len(msgs)), make([]error, len(msgs))
	for i, j := range jobs {
		if j.write == nil {
			results[i], errs[i] = j.res, j.err
			continue
		}
		if errors.Is(werrs[0], store.ErrDuplicate) {
			results[i], errs[i] = g.ingest(ctx, ins[i].again(msgs[i].Env), false) // see ingest
		} else {
			results[i], errs[i] = g.finish(j, werrs[0])
		}
		werrs = werrs[1:]
	}
	return results, errs
}

// prepareOf is prepare for a batch's message.
func (g *Gateway) prepareOf(ctx context.Context, m RawMessage) (j *ingestJob, in *inbound) {
	defer func() {
		if v := recover(); v != nil {
			g.notePanic("ingest", v)
			j = &ingestJob{err: &TemporaryError{Err: fmt.Errorf("internal error")}}
		}
	}()
	in, err := g.inboundOf(m)
	if err != nil {
		return &ingestJob{err: err}, nil
	}
	return g.prepare(ctx, in, false), in
}

// RawMessage is one message for IngestBatch: Raw, or, when set, Mail (in
// memory or spooled, as for IngestMessage; the caller's to close).
type RawMessage struct {
	Raw  []byte
	Mail *spool.Message
	Env  Envelope
}

// inboundOf is the inbound of a batch's message.
func (g *Gateway) inboundOf(m RawMessage) (*inbound, error) {
	if m.Mail != nil {
		return g.newInboundFrom(m.Mail, m.Env)
	}
	return newInbound(m.Raw, m.Env), nil
}

// ingestJob is a message prepared for its transaction: write is the
// function to run in it (classification, or keeping the message in
// quarantine); when write is nil, res and err are the answer already.
type ingestJob struct {
	in         *inbound
	dry        bool
	quarantine bool
	detail     string // why it is quarantined, for the log
	write      func(*store.Tx) error
	res        Result
	err        error
}

// prepare does what needs no transaction (size check, parsing, limits)
// and returns the transaction's work.
func (g *Gateway) prepare(ctx context.Context, in *inbound, dry bool) (j *ingestJob) {
	j = &ingestJob{in: in, dry: dry}
	defer func() {
		if v := recover(); v != nil {
			g.notePanic("ingest", v)
			j.write, j.res, j.err = nil, Result{}, &TemporaryError{Err: fmt.Errorf("internal error")}
		}
	}()
	env := in.env
	in.kind, in.plusTag = g.kindOf(env)
	quarantine := func(reason, detail string) *ingestJob {
		if dry {
			j.res = Result{Outcome: OutcomeQuarantined, Reason: reason,
				Trace: []Step{{Step: "parse", Result: "quarantined", Detail: reason + ": " + detail}}}
			return j
		}
		j.quarantine, j.detail = true, detail
		j.write = g.safeWrite(func(tx *store.Tx) error {
			var err error
			j.res, err = g.quarantineRaw(ctx, tx, in, reason, detail)
			return err
		})
		return j
	}
	if size := in.mail.Size(); g.cfg.MaxMessageBytes > 0 && size > g.cfg.MaxMessageBytes {
		return quarantine("too_big", fmt.Sprintf("%d bytes, limit %d", size, g.cfg.MaxMessageBytes))
	}
	msg, perr := g.parseMail(in.mail)
	var rerr *mailparse.ReadError
	if errors.As(perr, &rerr) {
		j.err = g.temporary("read spooled message", rerr.Err)
		return j
	}
	if perr != nil {
		reason := "unparseable"
		if e, ok := mailparse.IsError(perr); ok {
			reason = e.Reason
		}
		return quarantine(reason, perr.Error())
	}
	in.msg = msg
	if len(in.env.To) == 0 {
		// A mailbox has no envelope: our addresses among the header
		// recipients stand in for it (plus tags, bounce addresses).
		in.env.To = g.headerRecipients(msg)
		in.kind, in.plusTag = g.kindOf(in.env)
	}
	if reason, detail := g.overLimit(in); reason != "" {
		return quarantine(reason, detail)
	}
	if err := g.checkSender(ctx, in, dry); err != nil {
		j.err = err
		return j
	}
	if err := g.checkSpam(ctx, in, dry); err != nil {
		j.err = err
		return j
	}
	g.derive(in)
	ctx = withSource(ctx, g.sourceKey(in))
	j.write = g.safeWrite(func(tx *store.Tx) error {
		var err error
		if j.res, err = g.classify(ctx, tx, in); err != nil {
			return err
		}
		j.res.Trace, j.res.Auth = in.trace, in.auth
		if dry {
			return errDryRun
		}
		if j.res.MessageID == 0 || j.res.Outcome == OutcomeDuplicate {
			return nil
		}
		trace, err := json.Marshal(in.trace)
		if err != nil {
			return err
		}
		return tx.SetDecision(ctx, j.res.MessageID, string(trace))
	})
	return j
}

// safeWrite turns a panic in a transaction's work into an error, so that
// it rolls back that work alone and the message is answered with a
// temporary failure.
func (g *Gateway) safeWrite(fn func(*store.Tx) error) func(*store.Tx) error {
	return func(tx *store.Tx) (err error) {
		defer func() {
			if v := recover(); v != nil {
				g.notePanic("ingest", v)
				err = fmt.Errorf("internal error")
			}
		}()
		return fn(tx)
	}
}

// finish turns the outcome of a job's transaction into Ingest's answer.
func (g *Gateway) finish(j *ingestJob, err error) (Result, error) {
	res := j.res
	if j.dry && errors.Is(err, errDryRun) {
		if res.Outcome != OutcomeDuplicate {
			res.MessageID, res.Quarantine = 0, 0 // the rows it would have had were rolled back
		}
		return res, nil
	}
	if err != nil {
		return Result{}, g.temporary("ingest", err)
	}
	g.storageOK()
	if j.quarantine && res.Outcome == OutcomeQuarantined {
		g.log.Warn("message quarantined", "reason", res.Reason, "detail", j.detail,
			"quarantine_id", res.Quarantine, "source", j.in.env.Source)
		return res, nil
	}
	g.kick()
	return res, nil
}

// checkSender authenticates the sender and reads the spam verdict of the
// filter in front. It asks DNS, so it runs before the write transaction.
// A DNS failure is taken as unauthenticated, or, with policy
// auth_temperror retry, is a temporary error so the sender tries again.
func (g *Gateway) checkSender(ctx context.Context, in *inbound, dry bool) error {
	in.fields = headerFields(in.head)
	in.path = g.pathOf(in.env, in.fields)
	in.auth = g.authenticate(ctx, in)
	in.spam = g.spamVerdict(in)
	in.agent = in.auth.Authenticated && g.isAgent(in.msg.From.Email)
	in.authenticated, in.authFailed = in.auth.Authenticated, in.auth.Enforced()
	if in.auth.TempError && !dry && g.rules().Auth.withDefaults().TempError == "retry" {
		return &TemporaryError{Err: fmt.Errorf("sender authentication: DNS failure (%s)", in.auth.DMARC.Detail)}
	}
	return nil
}

// headerRecipients are the To and Cc addresses that are ours: inbound
// addresses (plus-addressed too) and bounce addresses.
func (g *Gateway) headerRecipients(m *mailparse.Message) []string {
	var out []string
	for _, a := range append(append([]mailparse.Address(nil), m.To...), m.Cc...) {
		if _, _, ok := g.inbound(a.Email); ok || g.isBounceAddress(a.Email) {
			out = append(out, a.Email)
		}
	}
	return out
}

// parse runs the parser, turning a panic into an error so the message is
// quarantined rather than lost.
func (g *Gateway) parse(raw []byte) (msg *mailparse.Message, err error) {
	defer func() {
		if v := recover(); v != nil {
			g.notePanic("parse", v)
			msg, err = nil, &mailparse.Error{Reason: "parser_failure", Err: fmt.Errorf("%v", v)}
		}
	}()
	return mailparse.Parse(raw, g.parseOpts)
}

// parseMail is parse of a message in memory or in a spool file, which
// is read in pieces (mailparse.ParseFrom).
func (g *Gateway) parseMail(m *spool.Message) (msg *mailparse.Message, err error) {
	if raw, ok := m.InMemory(); ok {
		return g.parse(raw)
	}
	defer func() {
		if v := recover(); v != nil {
			g.notePanic("parse", v)
			msg, err = nil, &mailparse.Error{Reason: "parser_failure", Err: fmt.Errorf("%v", v)}
		}
	}()
	return mailparse.ParseFrom(m.ReaderAt(), m.Size(), g.parseOpts)
}

// kindOf decides the case kind and the plus tag from the envelope.
func (g *Gateway) kindOf(env Envelope) (kind, tag string) {
	kind = env.Kind
	for _, rcpt := range env.To {
		if a, t, ok := g.inbound(rcpt); ok {
			if kind == "" {
				kind = a.Kind
			}
			if tag == "" {
				tag = t
			}
		}
	}
	if kind == "" {
		kind = "case"
	}
	return kind, tag
}

// quarantine keeps a message raw, in a transaction of its own.
func (g *Gateway) quarantine(ctx context.Context, in *inbound, reason, detail string) (Result, error) {
	j := &ingestJob{in: in, quarantine: true, detail: detail}
	return g.finish(j, g.store.Write(ctx, func(tx *store.Tx) error {
		var err error
		j.res, err = g.quarantineRaw(ctx, tx, in, reason, detail)
		return err
	}))
}

// quarantineRaw keeps a message that could not be read (too big,
// unparseable, over a limit) raw, with the reason.
func (g *Gateway) quarantineRaw(ctx context.Context, tx *store.Tx, in *inbound, reason, detail string) (Result, error) {
	if gone, err := g.forgottenMail(ctx, tx, in); err != nil || gone {
		return forgottenResult(in), err
	}
	id, err := keepQuarantined(ctx, tx, in, reason, detail)
	if err != nil {
		return Result{}, err
	}
	return Result{Outcome: OutcomeQuarantined, Quarantine: id, Reason: reason,
		Trace: []Step{{Step: "parse", Result: "quarantined", Detail: reason}}}, nil
}

// keepQuarantined stores the message in the quarantine with the reason. A
// spooled mail is stored from its file, in pieces: never whole in memory,
// however large (an IMAP message may be several times the size limit).
func keepQuarantined(ctx context.Context, tx *store.Tx, in *inbound, reason, detail string) (int64, error) {
	raw, rawFrom := in.rawForStore()
	return tx.Quarantine(ctx, store.Quarantined{
		Source: in.env.Source, EnvelopeFrom: in.env.From, EnvelopeTo: in.env.To,
		Reason: reason, Detail: detail, ContentSHA256: in.sha, Raw: raw, RawFrom: rawFrom,
	})
}

// classify applies SPEC §3's classification in order and stores the result.
func (g *Gateway) classify(ctx context.Context, tx *store.Tx, in *inbound) (Result, error) {
	m := in.msg
	if id, err := tx.FindDuplicate(ctx, m.MessageID, in.sha); err == nil {
		in.step("duplicate", "yes", fmt.Sprintf("already stored as message %d", id))
		return Result{Outcome: OutcomeDuplicate, MessageID: id, Trace: in.trace}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return Result{}, err
	}
	if gone, err := g.forgottenMail(ctx, tx, in); err != nil || gone {
		return forgottenResult(in), err
	}
	in.step("duplicate", "no", "")
	in.authStep()
	in.spamStep()
	if in.spam.Spam {
		return g.ingestSpam(ctx, tx, in)
	}
	if m.Signals.Loop || g.isOwn(m.From.Email) {
		in.step("loop", "yes", "our loop header or our own address")
		return g.storeOnly(ctx, tx, in, store.OutcomeIgnored, nil)
	}
	in.step("loop", "no", "")
	if c := m.Signals.Complaint; c != nil {
		return g.ingestComplaint(ctx, tx, in, c)
	}
	if b := g.bounceOf(in); b != nil {
		return g.ingestBounce(ctx, tx, in, b)
	}
	in.step("bounce", "no", "")
	c, found, err := g.threadLookup(ctx, tx, in)
	if err != nil {
		return Result{}, err
	}
	if !found && m.Signals.AutoReply && g.toBounceAddress(in) {
		// An automatic answer to one of our notifications that names
		// none of them: nobody to give a case to.
		in.step("auto_reply", "ignored", "an automatic answer to a bounce address that threads to no case")
		return g.storeOnly(ctx, tx, in, store.OutcomeAutoReply, nil)
	}
	if !found {
		if res, ok, err := g.agentForward(ctx, tx, in); ok || err != nil {
			return res, err
		}
		return g.openCase(ctx, tx, in, nil)
	}
	if in.auth.Enforced() {
		return g.unauthenticatedReply(ctx, tx, in, c)
	}
	if g.isAgent(m.From.Email) && !in.agent {
		in.step("agent_mail", "unauthenticated", m.From.Email+" is an agent address, but the mail is not authenticated: taken as a customer's mail, its commands ignored")
	}
	return g.ingestReply(ctx, tx, in, c)
}

// unauthenticatedReply handles a mail that threads to case c but fails
// DMARC for a domain that asks for enforcement: it acts on no existing
// case. By policy.dmarc_fail it becomes its sender's own new case, linked
// to nothing and disclosing nothing of c, or is quarantined.
func (g *Gateway) unauthenticatedReply(ctx context.Context, tx *store.Tx, in *inbound, c store.Case) (Result, error) {
	v := in.auth
	why := fmt.Sprintf("fails DMARC of %s (p=%s): may not act on %s", v.DMARC.Domain, v.DMARC.Policy, c.Number)
	if g.rules().Auth.withDefaults().DMARCFail == "quarantine" && in.env.Source != "replay" {
		in.step("sender", "unauthenticated", why+"; quarantined")
		return g.quarantineTx(ctx, tx, in, "dmarc_fail", why)
	}
	in.step("sender", "unauthenticated", why+"; a case of its own")
	return g.openCase(ctx, tx, in, nil)
}

// mayWrite is the sender check of SPEC §3 step 5: the contact, a watcher or
// an agent may write into a case. An agent is one only by an authenticated
// mail (auth.go); an unauthenticated mail from an agent address is a
// customer's mail from that address.
func (g *Gateway) mayWrite(ctx context.Context, tx *store.Tx, in *inbound, c store.Case) (bool, error) {
	sender := in.msg.From.Email
	if strings.EqualFold(sender, c.Contact.Email) || in.agent {
		return true, nil
	}
	ws, err := tx.Watchers(ctx, c.ID)
	if err != nil {
		return false, err
	}
	for _, w := range ws {
		if strings.EqualFold(w.Email, sender) {
			return true, nil
		}
	}
	return false, nil
}

// storeOnly stores the message with outcome, on case c if not nil, with its
// attachments, thread id and an activity entry.
func (g *Gateway) storeOnly(ctx context.Context, tx *store.Tx, in *inbound, outcome string, c *store.Case) (Result, error) {
	res := Result{Outcome: outcome}
	var caseID int64
	if c != nil {
		caseID, res.Case = c.ID, c.Number
	}
	id, err := g.insertMessage(ctx, tx, in, caseID, outcome)
	if err != nil {
		return res, err
	}
	res.MessageID, res.Trace = id, in.trace
	return res, nil
}

// insertMessage writes the message row, its attachments, and for a case
// its thread id and activity entry.
func (g *Gateway) insertMessage(ctx context.Context, tx *store.Tx, in *inbound, caseID int64, outcome string) (int64, error) {
	m := in.msg
	trace, _ := json.Marshal(in.trace)
	raw, rawFrom := in.rawForStore()
	id, err := tx.InsertMessage(ctx, store.InboundMessage{
		CaseID: caseID, Source: in.env.Source, EnvelopeFrom: in.env.From, EnvelopeTo: in.env.To,
		MessageID: m.MessageID, ContentSHA256: in.sha, From: m.From.Email, Subject: m.Subject,
		Outcome: outcome, Raw: raw, RawFrom: rawFrom, FullText: m.Text, Visible: m.Visible,
		Headers: g.derive(in).headers, Decision: string(trace),
	})
	if err != nil {
		return 0, err
	}
	for _, a := range m.Attachments {
		_, err := tx.InsertAttachment(ctx, caseID, store.Attachment{
			MessageID: id, Filename: a.Filename, ContentType: a.ContentType, ContentID: a.ContentID,
			Inline: a.Inline, Size: a.Size, SHA256: a.SHA256, Content: a.Data, ContentFrom: a.Decode,
		})
		if err != nil {
			return 0, err
		}
	}
	if caseID == 0 {
		return id, nil
	}
	if err := tx.AddThreadID(ctx, m.MessageID, caseID, "in"); err != nil {
		return 0, err
	}
	if in.quiet {
		return id, nil
	}
	// The entry's text is the message's visible reply, which the store
	// reads from the message: no second copy.
	_, err = tx.AddActivity(ctx, caseID, store.Activity{
		Kind: "inbound", Actor: m.From.Email, Public: true, MessageID: id,
	})
	return id, err
}

// headersOfInterest is the JSON kept beside the raw bytes for quick reading.
func headersOfInterest(m *mailparse.Message, auth *AuthVerdict) string {
	h := map[string]any{
		"from": m.From, "to": m.To, "cc": m.Cc, "subject": m.Subject,
		"message_id": m.MessageID, "in_reply_to": m.InReplyTo, "references": m.References,
		"signals": m.Signals,
	}
	if auth != nil {
		h["auth"] = auth
	}
	if !m.Date.IsZero() {
		h["date"] = m.Date
	}
	b, _ := json.Marshal(h)
	return string(b)
}
