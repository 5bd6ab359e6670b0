package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/casegate/casegate/templates"
)

// Reloading the configuration (SIGHUP to serve, or `casegate reload`):
// the inbound addresses, agents, accounts, policies, loop protection,
// sender authentication (auth.*), direct rspamd check, DKIM signing key
// and templates change without a restart; every other key needs one, and a
// reload that changes one says so in the log. A file that does not load
// (bad YAML, a bad value, a broken template) is refused with the reason and
// the running configuration stays.

// reloadState serialises reloads of one Main and keeps the configuration
// last put in force (the start configuration until the first reload).
type reloadState struct {
	mu      sync.Mutex
	applied Config
}

// Reload reads the config file again (ConfigPath; the embedded defaults
// without one) and puts its reloadable part in force.
func (m *Main) Reload() error {
	m.reload.mu.Lock()
	defer m.reload.mu.Unlock()
	cfg, err := loadConfig(m.ConfigPath)
	var tpl *templates.Set
	if err == nil {
		tpl, err = templates.New(cfg.TemplatesDir)
	}
	gc := gatewayConfig(cfg)
	if err == nil {
		gc.DKIM, err = dkimConfig(cfg) // the key file is read again: a rotated key takes over
	}
	if err == nil && cfg.Auth.Resolver == m.reload.applied.Auth.Resolver && cfg.Auth.Timeout == m.reload.applied.Auth.Timeout {
		gc.Auth.Resolver = nil // the same resolver: the one in force keeps its cache
	}
	if err == nil {
		err = m.Gateway.Reload(gc, tpl)
	}
	if err != nil {
		m.Log.Error("reload refused: the running configuration stays", "config", m.ConfigPath, "err", err)
		return err
	}
	m.reload.applied = cfg
	if keys := restartKeys(m.Config, cfg); len(keys) > 0 {
		m.Log.Warn("reload: changed settings that take effect only after a restart", "keys", keys)
	}
	m.Log.Info("configuration reloaded", "config", m.ConfigPath, "addresses", len(cfg.Addresses),
		"agents", len(cfg.Agents), "templates_dir", cfg.TemplatesDir)
	return nil
}

// reloadable blanks the keys a reload applies, leaving those that need a
// restart.
func reloadable(c Config) Config {
	c.Addresses, c.Agents, c.Accounts, c.Policy, c.TemplatesDir = nil, nil, nil, PolicyConfig{}, ""
	c.DKIM = DKIMConfig{}
	c.Auth = AuthConfig{}
	c.Rspamd = RspamdConfig{}
	c.SMTP.MaxReceivedHops = 0
	o := &c.Outbound
	o.HardBounceLimit, o.BudgetPerRecipient, o.BudgetPerCase, o.CircuitBreaker, o.CircuitBreakerWindow = 0, 0, 0, 0, 0
	o.MailboxProviders = nil
	return c
}

// restartKeys names the keys ("smtp.listen") whose values differ between
// the running config and next, among those a reload does not apply.
func restartKeys(running, next Config) []string {
	a, b := flatKeys(reloadable(running)), flatKeys(reloadable(next))
	var keys []string
	for k, v := range b {
		if a[k] != v {
			keys = append(keys, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// flatKeys is the config as "section.key" -> value, as the YAML names them.
func flatKeys(c Config) map[string]string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil
	}
	var tree map[string]any
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range tree {
		if section, ok := v.(map[string]any); ok {
			for sk, sv := range section {
				out[k+"."+sk] = fmt.Sprint(sv)
			}
			continue
		}
		out[k] = fmt.Sprint(v)
	}
	return out
}

// cmdReload checks the config file and asks the serve running on its
// data_dir to reload it: a file that does not load is refused here,
// before the running gateway is disturbed. With --check it only checks.
func cmdReload(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (YAML): the one serve was started with")
	check := fs.Bool("check", false, "only check the file, signal nobody")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("reload: unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := loadConfig(*configPath)
	if err == nil {
		_, err = templates.New(cfg.TemplatesDir)
	}
	if err == nil {
		_, err = dkimConfig(cfg)
	}
	if err != nil {
		if *check {
			return err
		}
		return fmt.Errorf("reload refused, the running configuration stays: %w", err)
	}
	if *check {
		fmt.Fprintf(stdout, "%s is a valid configuration\n", describePath(*configPath))
		return nil
	}
	pid, err := signalReload(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	fmt.Fprintf(stdout, "asked casegate serve (pid %d) to reload %s; it logs the result\n", pid, describePath(*configPath))
	return nil
}

func describePath(p string) string {
	if p == "" {
		return "the embedded defaults"
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// pidFileName is the file in data_dir where serve writes its process ID,
// locked while it runs.
const pidFileName = "casegate.pid"

var errNotRunning = errors.New("no casegate serve is running on this data_dir")

// notRunning explains a missing or stale pid file.
func notRunning(dataDir, why string) error {
	return fmt.Errorf("%w (%s: %s)", errNotRunning, filepath.Join(dataDir, pidFileName), why)
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// trimPID reads a pid file's content.
func trimPID(b []byte) string { return strings.TrimSpace(string(b)) }
