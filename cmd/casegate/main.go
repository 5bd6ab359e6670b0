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
  casegate ingest [--from S] [--to R...] [--client-ip IP --helo NAME] < message.eml
                                          pipe mode: exit 0 stored, 75 try again, 65 never
  casegate outbox list [--status dead]    list the outbox (--limit N, --json)
  casegate outbox retry ID                queue a dead letter again
  casegate quarantine list|show|replay ID list, print raw, or replay quarantined mail
  casegate addresses list [--undeliverable]  addresses with bounces
  casegate addresses clear ADDRESS        make an undeliverable address deliverable again
  casegate contacts forget ADDRESS        erase a person's data (mail, address, notifications)
  casegate dkim keygen [--type rsa|ed25519] --selector S --domain D --out FILE
                                          a DKIM signing key, and the DNS record to publish
  casegate db copy --to postgres [--url-env NAME]
                                          copy the SQLite database into an empty PostgreSQL one
  casegate backup FILE                    a consistent copy of the database, while serve runs
  casegate reload [--check]               make the running serve read its config file again
                                          (or send it SIGHUP); --check only checks the file
  casegate version                        print the version

Every command takes --config FILE (default: embedded defaults).
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitError carries a process exit code.
type exitError struct {
	code  int
	err   error
	bare  bool // print the message without the "casegate:" prefix
	quiet bool // already logged: print nothing
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
	case "contacts":
		err = cmdContacts(ctx, args[1:], stdout, stderr)
	case "db":
		err = cmdDB(ctx, args[1:], stdout, stderr)
	case "dkim":
		err = cmdDKIM(ctx, args[1:], stdout, stderr)
	case "backup":
		err = cmdBackup(ctx, args[1:], stdout, stderr)
	case "reload":
		err = cmdReload(ctx, args[1:], stdout, stderr)
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
	var ee *exitError
	if !errors.As(err, &ee) {
		fmt.Fprintln(stderr, "casegate:", err)
		return 1
	}
	switch {
	case ee.quiet:
	case ee.bare:
		fmt.Fprintln(stderr, err)
	default:
		fmt.Fprintln(stderr, "casegate:", err)
	}
	return ee.code
}

// newLogger logs text on a terminal and JSON otherwise.
func newLogger(w io.Writer) *slog.Logger { return slog.New(logHandler(w, w)) }

// logHandler writes to out, as text when w is a terminal and as JSON
// otherwise.
func logHandler(w, out io.Writer) slog.Handler {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.NewTextHandler(out, nil)
		}
	}
	return slog.NewJSONHandler(out, nil)
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
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	pid, err := lockPIDFile(cfg.DataDir) // one serve per data_dir; `casegate reload` finds it here
	if err != nil {
		return err
	}
	defer pid.Close()
	m := &Main{Config: cfg, ConfigPath: *configPath, Log: newLogger(stderr)}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	hup := make(chan os.Signal, 1)
	notifyReload(hup)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			_ = m.Reload() // logged; a refused file leaves the running config
		case <-ctx.Done():
			m.Log.Info("shutting down")
			return m.Close()
		}
	}
}
