// Package pgtest runs a throwaway PostgreSQL cluster for tests: initdb
// into a temporary directory, the server on a free loopback port (TCP
// only), stopped when the tests end. Each test gets a
// database of its own, created from template0, so tests stay independent
// and can run in parallel on one cluster.
//
// One cluster serves a whole test binary: Database starts it on first use
// and Main stops it after the tests. A test that stops or restarts the
// server (reconnection tests) starts a cluster of its own with Start.
//
// The binaries are looked up in PATH, then in /usr/lib/postgresql/*/bin
// (Debian's postgresql package). Without them the test is skipped, unless
// CASEGATE_REQUIRE_POSTGRES=1 (set by .ci/run) makes that a failure. As
// root (CI), initdb and the server run as the unprivileged user nobody,
// since PostgreSQL refuses to run as root.
//
// The cluster runs with fsync off: the tests exercise behaviour, not
// durability; the store still asks for synchronous_commit on.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/casegate/casegate/gateway/gatewaytest/child"
	"github.com/casegate/casegate/gateway/gatewaytest/freeport"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// RequireEnv names the environment variable that, set to 1, turns a
// missing PostgreSQL into a test failure instead of a skip.
const RequireEnv = "CASEGATE_REQUIRE_POSTGRES"

// superuser is the cluster's superuser; the server trusts loopback.
const superuser = "casegate"

// ErrNotInstalled is Start's error when no PostgreSQL binaries are found.
var ErrNotInstalled = errors.New("postgresql not installed (apt-get install postgresql)")

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	Addr    string // 127.0.0.1:port
	Version string // as `postgres --version` prints it

	bin    string
	dir    string
	cred   *syscall.Credential
	cmd    *exec.Cmd
	exited chan struct{}

	mu    sync.Mutex
	admin *sql.DB
	n     int
}

// Start runs initdb in a new temporary directory and starts the server.
func Start() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin}
	out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("postgres --version: %w", err)
	}
	c.Version = strings.TrimSpace(string(out))
	if c.dir, err = os.MkdirTemp(tempBase(), "casegate-pg-"); err != nil {
		return nil, err
	}
	if err := c.initdb(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	if c.Addr, err = freeAddr(); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	if err := c.start(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// StartT is Start for one test: it skips (or fails, under RequireEnv)
// where PostgreSQL is missing, and stops the cluster when the test ends.
func StartT(t testing.TB) *Cluster {
	t.Helper()
	c, err := Start()
	if err != nil {
		skipOrFail(t, err)
	}
	t.Cleanup(c.Stop)
	return c
}

func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNotInstalled) && os.Getenv(RequireEnv) != "1" {
		t.Skip(err)
	}
	if errors.Is(err, ErrNotInstalled) {
		t.Fatalf("%v and %s=1", err, RequireEnv)
	}
	t.Fatalf("postgresql: %v", err)
}

// tempBase is where the cluster's directory goes: the temporary
// directory, unless running as root with one the server's user cannot
// reach.
func tempBase() string {
	dir := os.TempDir()
	if os.Geteuid() != 0 {
		return dir
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 != 0 {
		return dir
	}
	return "/tmp"
}

// findBin returns the directory of initdb and postgres.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("postgres"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

// version is the major version in /usr/lib/postgresql/VERSION/bin.
func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// initdb creates the cluster's data directory, owned by the user the
// server runs as.
func (c *Cluster) initdb() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return fmt.Errorf("running as root and no user nobody to run postgres as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			return err
		}
	}
	cmd := c.command("initdb", "-D", c.dataDir(), "-U", superuser, "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// command runs a PostgreSQL binary as the cluster's user.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "HOME="+c.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

// start runs the server and waits until it takes connections.
func (c *Cluster) start() error {
	_, port, _ := net.SplitHostPort(c.Addr)
	logf, err := os.OpenFile(filepath.Join(c.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// TCP on loopback only: no Unix socket, whose path could be too long
	// under a deep temporary directory.
	cmd := c.command("postgres", "-D", c.dataDir(), "-p", port, "-c", "unix_socket_directories=",
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=400", "-c", "shared_buffers=64MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.cmd, c.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", c.URL("postgres"))
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres exited at start:\n%s", c.Log())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not start: %v\n%s", err, c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log returns what the server logged so far.
func (c *Cluster) Log() string {
	b, err := os.ReadFile(filepath.Join(c.dir, "server.log"))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// URL is the connection URL of database name.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", superuser, c.Addr, name)
}

// Halt stops the server (fast shutdown: connections are dropped); the
// data stays, and Resume starts it again on the same address.
func (c *Cluster) Halt() {
	if c.cmd == nil {
		return
	}
	child.Stop(c.cmd.Process, c.exited, syscall.SIGINT, 15*time.Second)
	c.cmd, c.exited = nil, nil
}

// Resume starts a halted server again on the same address.
func (c *Cluster) Resume() error {
	c.mu.Lock()
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	c.mu.Unlock()
	return c.start()
}

// Stop stops the server and removes its files.
func (c *Cluster) Stop() {
	c.mu.Lock()
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	c.mu.Unlock()
	c.Halt()
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase() (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.admin == nil {
		db, err := sql.Open("pgx", c.URL("postgres"))
		if err != nil {
			return "", err
		}
		c.admin = db
	}
	c.n++
	name := fmt.Sprintf("casegate_test_%d", c.n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// freeAddr picks a free loopback port below the ephemeral range (package
// freeport).
func freeAddr() (string, error) { return freeport.Addr() }

// The cluster shared by the tests of one binary.
var shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Database returns the URL of a new empty database on the binary's shared
// cluster, starting it on first use. It skips the test where PostgreSQL
// is missing, unless RequireEnv is set.
func Database(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() { shared.c, shared.err = Start() })
	if shared.err != nil {
		skipOrFail(t, shared.err)
	}
	url, err := shared.c.NewDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// Main runs the tests and then stops the shared cluster; call it from
// TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.c != nil {
		shared.c.Stop()
	}
	return code
}
