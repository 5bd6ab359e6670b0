package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/casegate/casegate/store"
)

// opsFlags are the flags every operator command shares.
type opsFlags struct {
	fs         *flag.FlagSet
	configPath *string
	asJSON     *bool
}

func newOpsFlags(name string, stderr io.Writer) *opsFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &opsFlags{fs: fs, configPath: fs.String("config", "", "config file (YAML)"), asJSON: fs.Bool("json", false, "print JSON")}
}

// parse reads the flags and an optional leading or trailing argument.
func (o *opsFlags) parse(args []string) (string, error) {
	arg := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		arg, args = args[0], args[1:]
	}
	if err := o.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", &exitError{code: 2, err: err}
	}
	if arg == "" && o.fs.NArg() > 0 {
		arg = o.fs.Arg(0)
	}
	return arg, nil
}

func (o *opsFlags) id(arg, what string) (int64, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return 0, &exitError{code: 2, err: fmt.Errorf("%s: want a numeric ID, got %q", what, arg)}
	}
	return id, nil
}

func (o *opsFlags) store(ctx context.Context) (*store.Store, Config, error) {
	cfg, err := loadConfig(*o.configPath)
	if err != nil {
		return nil, cfg, err
	}
	opts, err := storeOptions()
	if err != nil {
		return nil, cfg, err
	}
	st, err := openConfiguredStore(ctx, cfg, opts)
	return st, cfg, err
}

// cmdOutbox lists the outbox and puts dead letters back in the queue. The
// running server's worker, which polls the outbox, sends them.
func cmdOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{code: 2, err: errors.New("outbox: want list or retry")}
	}
	switch args[0] {
	case "list":
		return outboxList(ctx, args[1:], stdout, stderr)
	case "retry":
		return outboxRetry(ctx, args[1:], stdout, stderr)
	}
	return &exitError{code: 2, err: fmt.Errorf("outbox: unknown subcommand %q", args[0])}
}

func outboxList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := newOpsFlags("outbox list", stderr)
	status := o.fs.String("status", "", "only rows with this status: pending, sent, bounced or dead")
	limit := o.fs.Int("limit", 50, "at most N rows, newest first (0 = all)")
	if _, err := o.parse(args); err != nil {
		return err
	}
	switch *status {
	case "", store.OutboxPending, store.OutboxSent, store.OutboxBounced, store.OutboxDead:
	default:
		return &exitError{code: 2, err: fmt.Errorf("outbox list: --status %q must be pending, sent, bounced or dead", *status)}
	}
	st, _, err := o.store(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.ListOutbox(ctx, *status, *limit)
	if err != nil {
		return err
	}
	if *o.asJSON {
		if rows == nil {
			rows = []store.OutboxMail{}
		}
		return printJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tCASE\tTEMPLATE\tRECIPIENT\tATTEMPTS\tNEXT/SENT\tREPORT\tLAST ERROR")
	for _, m := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", m.ID, m.Status, m.CaseNumber, m.Template, term(m.Recipient),
			m.Attempts, outboxWhen(m), term(outboxReport(m)), truncate(term(m.LastError), 60))
	}
	return tw.Flush()
}

// outboxWhen is when a row was sent, or when it is tried next; nothing
// for a dead letter.
func outboxWhen(m store.OutboxMail) string {
	when := time.Time{}
	switch {
	case m.SentAt != nil:
		when = *m.SentAt
	case m.Status == store.OutboxPending:
		when = m.NextAttemptAt
	}
	if when.IsZero() {
		return ""
	}
	return when.Format("2006-01-02 15:04")
}

// outboxReport sums up what came back about a row: the failure with its
// status, reason and the stored report's message id (or the relay's
// refusal), else a delay warning.
func outboxReport(m store.OutboxMail) string {
	r, what := m.Bounce, ""
	if r == nil {
		r, what = m.Delayed, "delayed "
	}
	if r == nil {
		return ""
	}
	src := "relay refused"
	if r.MessageID != 0 {
		src = fmt.Sprintf("report: message %d", r.MessageID)
	}
	if r.Reason == "delayed" {
		return fmt.Sprintf("%s%s (%s)", what, orDash(r.Status), src)
	}
	return fmt.Sprintf("%s%s %s (%s)", what, orDash(r.Status), r.Reason, src)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func outboxRetry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := newOpsFlags("outbox retry", stderr)
	arg, err := o.parse(args)
	if err != nil {
		return err
	}
	id, err := o.id(arg, "outbox retry")
	if err != nil {
		return err
	}
	st, cfg, err := o.store(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := st.OutboxByID(ctx, id)
	if err != nil {
		return err
	}
	if m.Status != store.OutboxDead {
		return fmt.Errorf("outbox %d is %s: only dead letters are retried", id, m.Status)
	}
	if err := st.RetryOutbox(ctx, id, time.Duration(cfg.Outbound.Lifetime)); err != nil {
		return err
	}
	if m, err = st.OutboxByID(ctx, id); err != nil {
		return err
	}
	if *o.asJSON {
		return printJSON(stdout, m)
	}
	fmt.Fprintf(stdout, "outbox %d to %s queued again with Message-ID <%s>\n", m.ID, term(m.Recipient), m.MessageID)
	return nil
}
