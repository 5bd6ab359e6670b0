package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/casegate/casegate/gateway/gatewaytest"
)

// smallFilesystem mounts a tmpfs of size bytes for the test, or skips it
// where the test may not mount one (not root, or no CAP_SYS_ADMIN).
func smallFilesystem(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root; the full-disk path is also tested with SQLite's page limit in gateway")
	}
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the full-disk path is also tested with SQLite's page limit in gateway", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the file system is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling: %v", err)
			}
			return path
		}
	}
}

func bigMail(n int) string {
	return fmt.Sprintf("From: Gina <gina%d@customer.example>\nTo: support@localhost\nSubject: Plotter %d\n"+
		"Message-ID: <plotter.%d@customer.example>\n\n%s", n, n, n, strings.Repeat("The plotter prints only stripes.\n", 10000))
}

// A full file system (ENOSPC under SQLite; a 32 MiB tmpfs filled up) on every path: SMTP 452 4.3.1,
// pipe 75 with 4.3.1, API 503 insufficient_storage, /healthz degraded, one
// ERROR line; once space is freed the same mail is taken and the database
// is intact.
func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a file system and runs the binary")
	}
	small := smallFilesystem(t, 32<<20)
	t.Setenv("CASEGATE_API_TOKENS", "disk-token")
	cfg := defaultConfig()
	cfg.DataDir = filepath.Join(small, "data")
	cfg.SMTP.Listen, cfg.HTTP.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Outbound.Relay, cfg.Outbound.TLS = gatewaytest.StartRelay(t).Addr, "none"
	logs := &gatewaytest.LogBuffer{}
	m := &Main{Config: cfg, Log: slog.New(slog.NewTextHandler(logs, nil))}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	mustSend(t, m.SMTPAddr, "gina1@customer.example", []string{"support@localhost"}, bigMail(1))

	// The WAL keeps the space it grew to, and after a checkpoint writes
	// start again at its beginning: a write that fits there needs no new
	// space, full disk or not. Emptied first, every write below needs
	// space the disk no longer has.
	if err := m.Store.Exec(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	filler := fill(t, small)
	err := sendMail(t, m.SMTPAddr, "gina2@customer.example", []string{"support@localhost"}, bigMail(2))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Fatalf("SMTP on a full disk: %v, want 452 4.3.1", err)
	}

	config := writeConfig(t, t.TempDir(), "data_dir: "+cfg.DataDir+"\n")
	code, out, errOut := runIngestArgs(t, bigMail(3), "--config", config, "--from", "gina3@customer.example", "--to", "support@localhost")
	if code != 75 || !strings.HasPrefix(errOut, "4.3.1 ") {
		t.Errorf("pipe on a full disk: exit %d, stderr %q; want 75 and 4.3.1\n%s", code, errOut, out)
	}

	status, body := apiRequest(t, m, "POST", "/api/v1/cases/CS0000001/comments",
		fmt.Sprintf(`{"body": %q, "public": true, "author": "grace@agents.example"}`, strings.Repeat("We sent a technician.\n", 20000)))
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code": "insufficient_storage"`) {
		t.Errorf("API on a full disk: %d %s", status, body)
	}
	if h := health(t, m); h["status"] != "degraded" || h["storage"] != "full" {
		t.Errorf("/healthz on a full disk: %v", h)
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d ERROR lines on a full disk within a minute, want 1:\n%s", n, logs)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	mustSend(t, m.SMTPAddr, "gina2@customer.example", []string{"support@localhost"}, bigMail(2))
	if h := health(t, m); h["status"] != "ok" || h["storage"] != "ok" {
		out, _ := exec.Command("df", small).CombinedOutput()
		ls, _ := exec.Command("ls", "-la", cfg.DataDir).CombinedOutput()
		t.Errorf("/healthz after space was freed: %v\n%s\n%s\n%s", h, out, ls, logs)
	}
	if err := m.Store.Exec(context.Background(), `PRAGMA integrity_check`); err != nil {
		t.Fatal(err)
	}
	if n := storedMessages(t, m.Store); n != 2 {
		t.Fatalf("%d messages stored, want the first and the retried one", n)
	}
}

func apiRequest(t *testing.T, m *Main, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+m.HTTPAddr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer disk-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func health(t *testing.T, m *Main) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + m.HTTPAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}
