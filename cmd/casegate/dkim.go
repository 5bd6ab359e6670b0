package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/casegate/casegate/gateway"
)

// cmdDKIM is `casegate dkim keygen`: a new signing key for outbound mail,
// written to a file, and the DNS TXT record that publishes it.
func cmdDKIM(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "keygen" {
		return &exitError{code: 2, err: errors.New("usage: casegate dkim keygen [--type rsa|ed25519] --selector S --domain D --out FILE")}
	}
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("type", "rsa", "key type: rsa (2048 bits) or ed25519")
	selector := fs.String("selector", "", "selector (s=): the record is SELECTOR._domainkey.DOMAIN")
	domain := fs.String("domain", "", "signing domain (d=): our From domain or a parent of it")
	out := fs.String("out", "", "file to write the private key to (PEM); it must not exist")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2, err: err}
	}
	if *selector == "" || *domain == "" || *out == "" {
		return &exitError{code: 2, err: errors.New("dkim keygen: --selector, --domain and --out are required")}
	}
	pemKey, record, err := gateway.GenerateDKIMKey(*kind)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("dkim keygen: %w", err)}
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("dkim keygen: %w", err)
	}
	if _, err := f.Write(pemKey); err != nil {
		f.Close()
		return fmt.Errorf("dkim keygen: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("dkim keygen: %w", err)
	}
	fmt.Fprintf(stdout, "; publish this record, then set dkim: {domain: %s, selector: %s, key_file: %s}\n", *domain, *selector, *out)
	fmt.Fprintf(stdout, "%s._domainkey.%s. IN TXT %s\n", *selector, strings.TrimSuffix(*domain, "."), txtStrings(record))
	return nil
}

// txtStrings quotes a TXT record value as character-strings of at most
// 255 bytes (RFC 1035 §3.3.14), in parentheses when there are several.
func txtStrings(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	parts = append(parts, `"`+v+`"`)
	if len(parts) == 1 {
		return parts[0]
	}
	return "( " + strings.Join(parts, " ") + " )"
}
