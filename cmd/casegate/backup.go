package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/casegate/casegate/store"
)

// cmdBackup writes a consistent copy of the database to FILE while the
// gateway keeps running (store.Backup: SQLite's VACUUM INTO, checked,
// renamed into place). Restoring is copying it back as data_dir/casegate.db
// with serve stopped; the manual says how.
func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &exitError{code: 2, err: fmt.Errorf("backup: want one file to write, e.g. casegate backup /var/backups/casegate-$(date +%%F).db")}
	}
	file := fs.Arg(0)
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if cfg.Database.Driver == "postgres" {
		return errors.New("backup: the database is PostgreSQL; back it up with pg_dump or the server's own backups")
	}
	opts, err := storeOptions()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, dbPath(cfg), opts)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Backup(ctx, file); err != nil {
		return err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes)\n", dbPath(cfg), file, fi.Size())
	return nil
}
