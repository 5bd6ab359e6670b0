package main

import (
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

	"github.com/casegate/casegate/gateway"
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
// before the commit (database locked or unavailable, bad config, internal
// error), so the MTA retries; 65 only for input that is no message at all
// (empty) or over smtp.max_message_bytes, which the SMTP listener would
// refuse with 552 before accepting it: the MTA returns it to its sender.
func cmdIngest(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	from := fs.String("from", "", "envelope sender (the MTA's ${sender}; empty = null sender)")
	var to stringList
	fs.Var(&to, "to", "envelope recipient (repeatable; the MTA's ${recipient})")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	clientIP := fs.String("client-ip", "", "the connecting client's address (the MTA's ${client_address}): enables SPF")
	helo := fs.String("helo", "", "the client's HELO name (the MTA's ${client_helo})")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: exitTempFail, err: err} // a broken pipe transport: keep the mail
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return &exitError{code: exitTempFail, err: err}
	}
	raw, err := io.ReadAll(io.LimitReader(stdin, cfg.SMTP.MaxMessageBytes+1))
	if err != nil {
		return &exitError{code: exitTempFail, err: fmt.Errorf("read message: %w", err)}
	}
	switch {
	case len(bytes.TrimSpace(raw)) == 0:
		return &exitError{code: exitDataErr, err: errors.New("ingest: empty input is no message")}
	case int64(len(raw)) > cfg.SMTP.MaxMessageBytes:
		return &exitError{code: exitDataErr, err: fmt.Errorf("ingest: message over smtp.max_message_bytes (%d)", cfg.SMTP.MaxMessageBytes)}
	}
	g, st, err := gatewayFor(ctx, cfg, newLogger(stderr))
	if err != nil {
		return &exitError{code: exitTempFail, err: err}
	}
	defer st.Close()
	res, err := g.Ingest(ctx, raw, gateway.Envelope{Source: "pipe", From: *from, To: to,
		ClientIP: *clientIP, HELO: *helo})
	if err != nil {
		return &exitError{code: exitTempFail, err: err}
	}
	if *asJSON {
		return printJSON(stdout, res)
	}
	fmt.Fprintln(stdout, describeResult(res))
	return nil
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
