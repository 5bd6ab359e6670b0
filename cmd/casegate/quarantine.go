package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/casegate/casegate/gateway"
	"github.com/casegate/casegate/store"
)

// cmdQuarantine lists quarantined messages, prints one raw, and replays
// one through the ingestion path.
func cmdQuarantine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{code: 2, err: errors.New("quarantine: want list, show or replay")}
	}
	switch args[0] {
	case "list":
		return quarantineList(ctx, args[1:], stdout, stderr)
	case "show":
		return quarantineShow(ctx, args[1:], stdout, stderr)
	case "replay":
		return quarantineReplay(ctx, args[1:], stdout, stderr)
	}
	return &exitError{code: 2, err: fmt.Errorf("quarantine: unknown subcommand %q", args[0])}
}

func quarantineList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := newOpsFlags("quarantine list", stderr)
	limit := o.fs.Int("limit", 50, "at most N messages, newest first (0 = all)")
	if _, err := o.parse(args); err != nil {
		return err
	}
	st, _, err := o.store(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.ListQuarantine(ctx, *limit)
	if err != nil {
		return err
	}
	if *o.asJSON {
		if rows == nil {
			rows = []store.Quarantined{}
		}
		return printJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tSOURCE\tREASON\tSIZE\tFROM\tREPLAYED\tDETAIL")
	for _, q := range rows {
		replayed := "-"
		if q.ReplayedAt != nil {
			replayed = q.ReplayedAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", q.ID, q.CreatedAt.Format("2006-01-02 15:04"), q.Source,
			q.Reason, q.Size, term(q.EnvelopeFrom), replayed, truncate(term(q.Detail), 60))
	}
	return tw.Flush()
}

// quarantineShow prints a quarantined message's raw bytes, as received
// (escaped on a terminal).
func quarantineShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := newOpsFlags("quarantine show", stderr)
	arg, err := o.parse(args)
	if err != nil {
		return err
	}
	id, err := o.id(arg, "quarantine show")
	if err != nil {
		return err
	}
	st, _, err := o.store(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	q, err := st.QuarantinedByID(ctx, id)
	if err != nil {
		return err
	}
	if *o.asJSON {
		return printJSON(stdout, q)
	}
	if isTerminal(stdout) {
		// As received, but never a control sequence on the terminal;
		// redirected, the bytes are written untouched, a piece at a time.
		var raw bytes.Buffer
		if err := st.WriteQuarantinedRaw(ctx, id, &raw); err != nil {
			return err
		}
		_, err = io.WriteString(stdout, termText(strings.ReplaceAll(raw.String(), "\r\n", "\n")))
		return err
	}
	return st.WriteQuarantinedRaw(ctx, id, stdout)
}

// quarantineReplay runs a quarantined message through ingestion again. It
// fails (exit 1) when the message is quarantined again, saying why.
func quarantineReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := newOpsFlags("quarantine replay", stderr)
	arg, err := o.parse(args)
	if err != nil {
		return err
	}
	id, err := o.id(arg, "quarantine replay")
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*o.configPath)
	if err != nil {
		return err
	}
	g, st, err := gatewayFor(ctx, cfg, newLogger(stderr))
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := g.Replay(ctx, id)
	if err != nil {
		if errors.Is(err, gateway.ErrStillQuarantined) {
			return fmt.Errorf("replay %d: still not accepted, quarantined again (%s)", id, res.Reason)
		}
		return err
	}
	if *o.asJSON {
		return printJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "quarantine %d replayed: %s\n", id, describeResult(res))
	return nil
}

// cmdAddresses lists addresses with bounces and clears undeliverable ones.
func cmdAddresses(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{code: 2, err: errors.New("addresses: want list or clear")}
	}
	o := newOpsFlags("addresses "+args[0], stderr)
	switch args[0] {
	case "list":
		only := o.fs.Bool("undeliverable", false, "only addresses marked undeliverable")
		if _, err := o.parse(args[1:]); err != nil {
			return err
		}
		return addressesList(ctx, o, *only, stdout)
	case "clear":
		email, err := o.parse(args[1:])
		if err != nil {
			return err
		}
		if !strings.Contains(email, "@") {
			return &exitError{code: 2, err: fmt.Errorf("addresses clear: want an address, got %q", email)}
		}
		st, _, err := o.store(ctx)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.ClearAddress(ctx, email, cliUser()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is deliverable again\n", email)
		return nil
	}
	return &exitError{code: 2, err: fmt.Errorf("addresses: unknown subcommand %q", args[0])}
}

func addressesList(ctx context.Context, o *opsFlags, only bool, stdout io.Writer) error {
	st, _, err := o.store(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.ListAddresses(ctx, only)
	if err != nil {
		return err
	}
	if *o.asJSON {
		return printJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tUNDELIVERABLE\tHARD\tSOFT\tLAST STATUS\tREASON\tLAST BOUNCE")
	for _, a := range rows {
		last := "-"
		if a.LastBounceAt != nil {
			last = a.LastBounceAt.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%t\t%d\t%d\t%s\t%s\t%s\n", term(a.Email), a.Undeliverable, a.HardBounces, a.SoftBounces,
			orDash(term(a.LastStatus)), orDash(term(a.LastReason)), last)
	}
	return tw.Flush()
}

// cliUser names the operator on the host, for the record.
func cliUser() string {
	for _, v := range []string{"USER", "LOGNAME"} {
		if u := os.Getenv(v); u != "" {
			return "cli:" + u
		}
	}
	return "cli"
}
