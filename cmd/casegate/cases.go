package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/casegate/casegate/store"
)

// openStore opens the database named by the config for a CLI command.
func openStore(ctx context.Context, configPath string) (*store.Store, error) {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, filepath.Join(cfg.DataDir, "casegate.db"), store.Options{})
}

func cmdCases(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &exitError{code: 2, err: fmt.Errorf("cases: want list or show")}
	}
	switch args[0] {
	case "list":
		return casesList(ctx, args[1:], stdout, stderr)
	case "show":
		return casesShow(ctx, args[1:], stdout, stderr)
	}
	return &exitError{code: 2, err: fmt.Errorf("cases: unknown subcommand %q", args[0])}
}

func casesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cases list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	asJSON := fs.Bool("json", false, "print JSON")
	state := fs.String("state", "", "only cases in this state")
	kind := fs.String("kind", "", "only cases of this kind (case, order)")
	limit := fs.Int("limit", 50, "at most N cases, newest first (0 = all)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: err}
	}
	st, err := openStore(ctx, *configPath)
	if err != nil {
		return err
	}
	defer st.Close()
	cases, err := st.ListCases(ctx, store.CaseFilter{State: *state, Kind: *kind, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		if cases == nil {
			cases = []store.Case{}
		}
		return printJSON(stdout, cases)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NUMBER\tKIND\tSTATE\tCONTACT\tUPDATED\tSUBJECT")
	for _, c := range cases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Number, c.Kind, c.State, c.Contact.Email,
			c.UpdatedAt.Format("2006-01-02 15:04"), truncate(c.Subject, 60))
	}
	return tw.Flush()
}

// CaseDetail is a case with its watchers, attachments and thread.
type CaseDetail struct {
	store.Case
	Watchers    []store.Watcher        `json:"watchers"`
	Attachments []store.Attachment     `json:"attachments"`
	Activity    []store.Activity       `json:"activity"`
	Messages    []store.InboundMessage `json:"messages"`
}

func casesShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cases show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	asJSON := fs.Bool("json", false, "print JSON")
	number, rest := "", args
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		number, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return &exitError{code: 2, err: err}
	}
	if number == "" && fs.NArg() == 1 {
		number = fs.Arg(0)
	}
	if number == "" {
		return &exitError{code: 2, err: fmt.Errorf("cases show: want a case number")}
	}
	st, err := openStore(ctx, *configPath)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := loadDetail(ctx, st, number)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, d)
	}
	printDetail(stdout, d)
	return nil
}

func loadDetail(ctx context.Context, st *store.Store, number string) (CaseDetail, error) {
	c, err := st.CaseByNumber(ctx, number)
	if err != nil {
		return CaseDetail{}, err
	}
	d := CaseDetail{Case: c}
	if d.Watchers, err = st.Watchers(ctx, c.ID); err != nil {
		return d, err
	}
	if d.Attachments, err = st.CaseAttachments(ctx, c.ID); err != nil {
		return d, err
	}
	if d.Activity, err = st.Activities(ctx, c.ID); err != nil {
		return d, err
	}
	d.Messages, err = st.CaseMessages(ctx, c.ID)
	return d, err
}

func printDetail(w io.Writer, d CaseDetail) {
	fmt.Fprintf(w, "%s  %s\n", d.Number, d.Subject)
	fmt.Fprintf(w, "  kind %s, state %s, priority %s\n", d.Kind, d.State, d.Priority)
	fmt.Fprintf(w, "  contact %s <%s>", d.Contact.Name, d.Contact.Email)
	if d.Account != "" {
		fmt.Fprintf(w, ", account %s", d.Account)
	}
	fmt.Fprintln(w)
	if d.Assignee != "" {
		fmt.Fprintf(w, "  assignee %s\n", d.Assignee)
	}
	if d.LinkedCase != "" {
		fmt.Fprintf(w, "  continues %s\n", d.LinkedCase)
	}
	for _, wt := range d.Watchers {
		fmt.Fprintf(w, "  watcher %s\n", wt.Email)
	}
	for _, a := range d.Attachments {
		fmt.Fprintf(w, "  attachment %s (%s, %d bytes)\n", a.Filename, a.ContentType, a.Size)
	}
	fmt.Fprintln(w)
	for _, a := range d.Activity {
		vis := ""
		if !a.Public {
			vis = " (internal)"
		}
		fmt.Fprintf(w, "--- %s %s %s%s\n", a.CreatedAt.Format("2006-01-02 15:04"), a.Kind, a.Actor, vis)
		if a.Body != "" {
			fmt.Fprintln(w, strings.TrimRight(a.Body, "\n"))
		}
	}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
