// Command casegate is the email-driven support-case gateway: `casegate
// serve` runs it; the other commands are for operators on the host.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `casegate — email-driven support cases

Usage:
  casegate serve [--config FILE]          run the gateway
  casegate cases list [flags]             list cases (--state, --kind, --limit N, --json)
  casegate cases show NUMBER [--json]     show a case with its thread
  casegate cases comment NUMBER --body TEXT [--internal] [--author ADDR]
                                          add a comment; public (mailed) unless --internal
  casegate cases transition NUMBER --to STATE [--note TEXT] [--author ADDR]
                                          move a case (resolved needs --note)
  casegate cases watch NUMBER --add ADDR | --remove ADDR
                                          change a case's watch list
  casegate classify [--json] [--client-ip IP --helo NAME] < message.eml
                                          dry run: what was parsed, what would happen
  casegate ingest [--from S] [--to R]... [--client-ip IP --helo NAME] < message.eml
                                          pipe mode: exit 0 stored, 75 try again, 65 never
  casegate outbox list [--status dead]    list the outbox (--limit N, --json)
  casegate outbox retry ID                queue a dead letter again
  casegate quarantine list|show|replay ID list, print raw, or replay quarantined mail
  casegate addresses list [--undeliverable]  addresses with bounces
  casegate addresses clear ADDRESS        make an undeliverable address deliverable again
  casegate dkim keygen [--type rsa|ed25519] --selector S --domain D --out FILE
                                          a DKIM signing key, and the DNS record to publish
  casegate db copy --to postgres [--url-env NAME]
                                          copy the SQLite database into an empty PostgreSQL one
  casegate version                        print the version

Every command takes --config FILE (default: embedded defaults).
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries a process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// run is the whole command line, testable without a process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "cases":
		err = cmdCases(ctx, args[1:], stdout, stderr)
	case "classify":
		err = cmdClassify(ctx, args[1:], stdin, stdout, stderr)
	case "ingest":
		err = cmdIngest(ctx, args[1:], stdin, stdout, stderr)
	case "outbox":
		err = cmdOutbox(ctx, args[1:], stdout, stderr)
	case "quarantine":
		err = cmdQuarantine(ctx, args[1:], stdout, stderr)
	case "addresses":
		err = cmdAddresses(ctx, args[1:], stdout, stderr)
	case "db":
		err = cmdDB(ctx, args[1:], stdout, stderr)
	case "dkim":
		err = cmdDKIM(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "casegate", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "casegate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "casegate:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// newLogger logs text on a terminal and JSON otherwise.
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil))
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Config: cfg, Log: newLogger(stderr)}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	m.Log.Info("shutting down")
	return m.Close()
}
