//go:build unix

package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
)

// pidFile is serve's pid file, exclusively locked (flock) while serve
// runs, so a stale file left by a crash is told apart from a live one.
type pidFile struct {
	f    *os.File
	path string
}

// lockPIDFile writes our process ID into data_dir/casegate.pid and holds
// its lock; it fails when another serve holds it.
func lockPIDFile(dataDir string) (*pidFile, error) {
	path := filepath.Join(dataDir, pidFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("another casegate serve (pid %s) runs on %s", trimPID(b), dataDir)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pid file: %w", err)
	}
	return &pidFile{f: f, path: path}, nil
}

// Close removes the pid file, then lets go of its lock.
func (p *pidFile) Close() error {
	os.Remove(p.path)
	return p.f.Close()
}

// signalReload sends SIGHUP to the serve whose pid file is in dataDir.
func signalReload(dataDir string) (int, error) {
	path := filepath.Join(dataDir, pidFileName)
	f, err := os.Open(path)
	if isNotExist(err) {
		return 0, notRunning(dataDir, "no pid file")
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0, notRunning(dataDir, "stale pid file, nobody holds its lock")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(trimPID(b))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is no process ID", path, trimPID(b))
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return 0, fmt.Errorf("signal pid %d: %w", pid, err)
	}
	return pid, nil
}

// notifyReload delivers SIGHUP to c.
func notifyReload(c chan<- os.Signal) { signal.Notify(c, syscall.SIGHUP) }
