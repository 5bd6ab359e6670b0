package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/gateway/spool"
	"github.com/casegate/casegate/store"
	"github.com/casegate/casegate/templates"
)

// Exit codes of pipe mode (SPEC §3.3, sysexits.h), what an MTA's pipe
// transport understands.
const (
	exitOK       = 0
	exitDataErr  = 65 // EX_DATAERR: this input can never be accepted; the MTA returns it to the sender
	exitTempFail = 75 // EX_TEMPFAIL: nothing was stored; the MTA keeps the mail and tries again
)

// busyTimeoutEnv names the variable that sets how long a command waits for
// another process's database lock (a Go duration, default 10s). An MTA
// pipe may want a short one: a locked database then answers 75 quickly.
const busyTimeoutEnv = "CASEGATE_DB_BUSY_TIMEOUT"

// storeOptions are the store options of the operator commands.
func storeOptions() (store.Options, error) {
	var opts store.Options
	if v := os.Getenv(busyTimeoutEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return opts, fmt.Errorf("%s: %q is not a duration like 2s", busyTimeoutEnv, v)
		}
		opts.BusyTimeout = d
	}
	return opts, nil
}

// gatewayFor opens the store and builds a gateway the way Main does,
// without listeners or workers.
func gatewayFor(ctx context.Context, cfg Config, log *slog.Logger) (*gateway.Gateway, *store.Store, error) {
	opts, err := storeOptions()
	if err != nil {
		return nil, nil, err
	}
	st, err := openConfiguredStore(ctx, cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	tpl, err := templates.New(cfg.TemplatesDir)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	g, err := gateway.New((&Main{Config: cfg}).gatewayConfig(), st, tpl, log)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return g, st, nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// cmdIngest is pipe mode: one message on stdin through the one ingestion
// path. Exit 0 when it is stored — as a case, a reply, a duplicate, or in
// quarantine, which is a successful store too; 75 when anything failed
// before the commit (database locked, unavailable or on a full disk, bad
// config, an argument it does not understand, internal error), so the MTA
// keeps the mail and retries; 65 only for input that is no message at all
// (empty) or over the size limit, which the SMTP listener would refuse
// with 552 before accepting it: the MTA returns it to its sender.
//
// A failure's message on stderr starts with its enhanced status code
// (RFC 3463), which Postfix's pipe uses for the delivery status notice.
//
// The log lines of the run are held back until the end, so that the failure
// line comes first.
func cmdIngest(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var logs bytes.Buffer
	err := ingestOnce(ctx, args, stdin, stdout, stderr, slog.New(logHandler(stderr, &logs)))
	var ee *exitError
	if errors.As(err, &ee) && ee.bare {
		fmt.Fprintln(stderr, err)
		ee.quiet = true
	}
	_, _ = stderr.Write(logs.Bytes())
	return err
}

func ingestOnce(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, log *slog.Logger) error {
	a, err := parseIngestArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, ingestUsage)
		return err
	}
	if err != nil {
		// A typo in the MTA's pipe line must not bounce every mail: keep it queued.
		log.Error("ingest: "+err.Error()+"; the mail stays with the MTA (exit 75) until the pipe command is fixed", "args", args)
		return &exitError{code: exitTempFail, err: err, quiet: true}
	}
	cfg, err := loadConfig(a.config)
	if err != nil {
		return pipeFail(exitTempFail, "4.3.5", err)
	}
	// A large message goes to a file in the spool directory, as SMTP
	// DATA does (gateway/spool), and is read from there in pieces.
	mail, size, err := spool.Read(io.LimitReader(stdin, cfg.SMTP.MaxMessageBytes+1), spoolDir(cfg))
	if err != nil {
		return pipeFail(exitTempFail, statusOf(err), fmt.Errorf("read message: %w", err))
	}
	defer mail.Close()
	blank, err := isBlank(mail)
	if err != nil {
		return pipeFail(exitTempFail, statusOf(err), fmt.Errorf("read message: %w", err))
	}
	switch {
	case blank:
		return pipeFail(exitDataErr, "5.6.0", errors.New("empty input is no message"))
	case size > cfg.SMTP.MaxMessageBytes:
		// The same answer as the SMTP listener's 552 5.3.4, naming the
		// limit, never the config key, to the sender.
		return pipeFail(exitDataErr, "5.3.4", fmt.Errorf("message too big: the limit is %d bytes", cfg.SMTP.MaxMessageBytes))
	}
	g, st, err := gatewayFor(ctx, cfg, log)
	if err != nil {
		return pipeFail(exitTempFail, statusOf(err), err)
	}
	defer st.Close()
	res, err := g.IngestMessage(ctx, mail, a.envelope())
	if err != nil {
		return pipeFail(exitTempFail, statusOf(err), err)
	}
	if a.json {
		return printJSON(stdout, res)
	}
	fmt.Fprintln(stdout, describeResult(res))
	return nil
}

// isBlank reports whether the message is nothing but white space, as
// len(bytes.TrimSpace(raw)) == 0 does, reading a spooled one until its
// first other character.
func isBlank(m *spool.Message) (bool, error) {
	if raw, ok := m.InMemory(); ok {
		return len(bytes.TrimSpace(raw)) == 0, nil
	}
	br := bufio.NewReader(m.Section())
	for {
		r, _, err := br.ReadRune()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if !unicode.IsSpace(r) {
			return false, nil
		}
	}
}

// spoolDir is where serve and pipe mode write large messages while they
// arrive.
func spoolDir(cfg Config) string { return filepath.Join(cfg.DataDir, "spool") }

// pipeFail is a pipe-mode failure: exit code, and a message that starts
// with the enhanced status code.
func pipeFail(code int, status string, err error) error {
	return &exitError{code: code, err: fmt.Errorf("%s %w", status, err), bare: true}
}

// statusOf is the enhanced status code of a temporary failure: 4.3.1 for a
// full disk (insufficient system storage), 4.3.0 otherwise.
func statusOf(err error) string {
	if errors.Is(store.Classify(err), store.ErrStorageFull) {
		return "4.3.1"
	}
	return "4.3.0"
}

const ingestUsage = `Usage: casegate ingest [--config FILE] [--from SENDER] [--to RCPT...]
       [--client-ip IP --helo NAME] [--json] < message.eml

  --config FILE    config file (YAML)
  --from SENDER    envelope sender, Postfix's ${sender}; '', '<>' and MAILER-DAEMON
                   are the null sender of a delivery report; left out: not known
  --to RCPT...     envelope recipients, Postfix's ${recipient}: one or more after
                   --to, --to=RCPT, or --to repeated
  --client-ip IP   the connecting client's address, Postfix's ${client_address}:
                   lets SPF run
  --helo NAME      the client's HELO name, Postfix's ${client_helo}
  --json           print the result as JSON
`

// ingestArgs are pipe mode's arguments as an MTA's pipe passes them.
type ingestArgs struct {
	config    string
	from      string
	fromGiven bool
	to        []string
	json      bool
	clientIP  string
	helo      string
}

// envelope is what the arguments say of the envelope: a null sender is
// one decision with SMTP's MAIL FROM:<> (gateway.IsNullSender); a sender
// left out is not known, and is no null sender.
func (a ingestArgs) envelope() gateway.Envelope {
	env := gateway.Envelope{Source: "pipe", From: a.from, To: a.to, ClientIP: a.clientIP, HELO: a.helo}
	if a.fromGiven && gateway.IsNullSender(a.from) {
		env.From, env.NullSender = "", true
	}
	return env
}

// parseIngestArgs reads --config, --from, --json, --to, --client-ip and
// --helo, each with one
// or two dashes and with a value after "=" or as the next argument. --to
// takes every argument up to the next option: a pipe's "--to ${recipient}"
// becomes "--to a b" for a mail to two recipients. Anything else is an
// error, never ignored.
func parseIngestArgs(args []string) (ingestArgs, error) {
	var a ingestArgs
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
			return a, fmt.Errorf("argument %q not understood", arg)
		}
		next := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", arg)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "config":
			a.config, err = next()
		case "from":
			a.from, err = next()
			a.fromGiven = true
		case "json":
			if hasValue {
				return a, fmt.Errorf("argument %q not understood", arg)
			}
			a.json = true
		case "to":
			n := len(a.to)
			if hasValue {
				a.to = append(a.to, value)
			}
			for !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				a.to = append(a.to, args[i])
			}
			if len(a.to) == n {
				err = fmt.Errorf("%s needs a recipient", arg)
			}
		case "client-ip":
			a.clientIP, err = next()
		case "helo":
			a.helo, err = next()
		case "h", "help":
			return a, flag.ErrHelp
		default:
			return a, fmt.Errorf("argument %q not understood", arg)
		}
		if err != nil {
			return a, err
		}
	}
	for _, r := range a.to {
		if strings.TrimSpace(r) == "" || !strings.Contains(r, "@") {
			return a, fmt.Errorf("recipient %q is not an address", r)
		}
	}
	return a, nil
}

// describeResult is one line saying what ingestion did.
func describeResult(res gateway.Result) string {
	switch {
	case res.Outcome == gateway.OutcomeQuarantined:
		return fmt.Sprintf("quarantined (%s) as %d", res.Reason, res.Quarantine)
	case res.Case != "":
		return fmt.Sprintf("%s: %s, message %d", res.Outcome, res.Case, res.MessageID)
	}
	return fmt.Sprintf("%s: message %d", res.Outcome, res.MessageID)
}

// dbPath is the SQLite database file under the data directory.
func dbPath(cfg Config) string { return filepath.Join(cfg.DataDir, "casegate.db") }

// openConfiguredStore opens the configured database: the SQLite file under
// data_dir, or the PostgreSQL database whose URL is in database.url_env.
func openConfiguredStore(ctx context.Context, cfg Config, opts store.Options) (*store.Store, error) {
	if cfg.Database.Driver != "postgres" {
		return store.Open(ctx, dbPath(cfg), opts)
	}
	url := os.Getenv(cfg.Database.URLEnv)
	if url == "" {
		return nil, fmt.Errorf("database.url_env: $%s is empty; it holds the PostgreSQL URL", cfg.Database.URLEnv)
	}
	return store.OpenPostgres(ctx, url, opts)
}
