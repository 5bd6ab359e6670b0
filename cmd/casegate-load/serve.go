package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest/child"
	"github.com/casegate/casegate/gateway/gatewaytest/freeport"

	"github.com/emersion/go-smtp"
	"gopkg.in/yaml.v3"
)

// gatewayProc is a `casegate serve` the tool started for the run, on a
// new data directory and a generated config, on free loopback ports.
type gatewayProc struct {
	bin, dir, config string
	SMTPAddr         string
	cmd              *exec.Cmd
	exited           chan struct{}
	waitErr          error
}

// gatewayConfig is the config of a gateway under load: the embedded
// defaults but for the listeners, a new data directory, the recording
// relay as outbound relay, and the limits that would refuse a load test
// from one address raised (every mail of the test comes from 127.0.0.1,
// where in production each customer's server has its own). set holds
// key.path=value overrides, the value in YAML.
func gatewayConfig(dir, smtpAddr, httpAddr, relayAddr string, sessions int, set []string) ([]byte, error) {
	smtpCfg := map[string]any{"listen": smtpAddr, "max_connections_per_ip_per_minute": 1000000,
		"max_connections_per_ip": sessions + 10}
	if sessions+10 > 100 { // the default smtp.max_connections
		smtpCfg["max_connections"] = sessions + 10
	}
	cfg := map[string]any{
		"data_dir": filepath.Join(dir, "data"),
		"smtp":     smtpCfg,
		"http":     map[string]any{"listen": httpAddr},
		"outbound": map[string]any{"relay": relayAddr, "tls": "none"},
	}
	for _, kv := range set {
		if err := setKey(cfg, kv); err != nil {
			return nil, err
		}
	}
	return yaml.Marshal(cfg)
}

// setKey applies one -set key.path=value to cfg.
func setKey(cfg map[string]any, kv string) error {
	key, raw, ok := strings.Cut(kv, "=")
	if !ok || key == "" {
		return fmt.Errorf("-set %q: want key.path=value", kv)
	}
	var v any
	if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
		return fmt.Errorf("-set %s: %w", key, err)
	}
	path := strings.Split(key, ".")
	m := cfg
	for _, k := range path[:len(path)-1] {
		sub, ok := m[k].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[k] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = v
	return nil
}

// freeAddr returns a loopback address nobody listens on at the moment,
// below the ephemeral range (package freeport).
func freeAddr() (string, error) { return freeport.Addr() }

// startGateway runs bin serve and returns once its SMTP listener greets.
func startGateway(ctx context.Context, bin, relayAddr string, sessions int, set []string) (*gatewayProc, error) {
	dir, err := os.MkdirTemp("", "casegate-load-")
	if err != nil {
		return nil, err
	}
	g := &gatewayProc{bin: bin, dir: dir, config: filepath.Join(dir, "casegate.yaml"), exited: make(chan struct{})}
	smtpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg, err := gatewayConfig(dir, smtpAddr, httpAddr, relayAddr, sessions, set)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(g.config, cfg, 0o600); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "casegate.log"))
	if err != nil {
		return nil, err
	}
	g.cmd = exec.Command(bin, "serve", "--config", g.config)
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	if err := g.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		logf.Close()
		close(g.exited)
	}()
	g.SMTPAddr = smtpAddr
	if err := g.waitListening(ctx, 60*time.Second); err != nil {
		g.stop()
		return g, err
	}
	return g, nil
}

func (g *gatewayProc) waitListening(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c, err := smtp.Dial(g.SMTPAddr); err == nil {
			c.Quit()
			return nil
		}
		select {
		case <-g.exited:
			return fmt.Errorf("casegate serve exited (%v); its log is %s", g.waitErr, filepath.Join(g.dir, "casegate.log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("casegate serve does not listen on %s after %v", g.SMTPAddr, timeout)
		}
	}
}

// stop ends the gateway with SIGTERM, as an operator would, and kills it
// after 30 s.
func (g *gatewayProc) stop() error {
	select {
	case <-g.exited:
		return g.exitErr()
	default:
	}
	if child.Stop(g.cmd.Process, g.exited, syscall.SIGTERM, 30*time.Second) {
		return errors.New("casegate serve did not stop within 30s of SIGTERM; killed")
	}
	return g.exitErr()
}

func (g *gatewayProc) exitErr() error {
	if g.waitErr != nil {
		return fmt.Errorf("casegate serve: %w", g.waitErr)
	}
	return nil
}

// countCases asks the gateway's own CLI how many cases are stored.
func (g *gatewayProc) countCases(ctx context.Context) (int, error) {
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, g.bin, "cases", "list", "--config", g.config, "--limit", "0", "--json")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("casegate cases list: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	var cases []struct {
		Number string `json:"number"`
	}
	if err := json.Unmarshal(out.Bytes(), &cases); err != nil {
		return 0, fmt.Errorf("casegate cases list: %w", err)
	}
	return len(cases), nil
}
