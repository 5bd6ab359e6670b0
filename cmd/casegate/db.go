package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/casegate/casegate/store"
)

// cmdDB holds the database commands: `db copy --to postgres` moves a
// gateway's SQLite database into an empty PostgreSQL database.
func cmdDB(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		return &exitError{code: 2, err: errors.New("db: want copy")}
	}
	fs := flag.NewFlagSet("db copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	to := fs.String("to", "", "the destination: postgres")
	urlEnv := fs.String("url-env", "", "the variable holding the PostgreSQL URL (default: database.url_env)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return &exitError{code: 2, err: err}
	}
	if *to != "postgres" {
		return &exitError{code: 2, err: fmt.Errorf("db copy: --to postgres is the one destination, not %q", *to)}
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *urlEnv == "" {
		*urlEnv = cfg.Database.URLEnv
	}
	url := os.Getenv(*urlEnv)
	if url == "" {
		return fmt.Errorf("db copy: $%s is empty; it holds the PostgreSQL URL", *urlEnv)
	}
	opts, err := storeOptions()
	if err != nil {
		return err
	}
	if _, err := os.Stat(dbPath(cfg)); err != nil {
		return fmt.Errorf("db copy: the SQLite database: %w", err)
	}
	src, err := store.Open(ctx, dbPath(cfg), opts)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := store.OpenPostgres(ctx, url, opts)
	if err != nil {
		return err
	}
	defer dst.Close()
	tables, err := src.CopyTo(ctx, dst)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, tables)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS\tCHECKSUM")
	for _, t := range tables {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", t.Table, t.Rows, t.Checksum)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "copied %s into PostgreSQL; every table's count and checksum match\n", dbPath(cfg))
	return nil
}
