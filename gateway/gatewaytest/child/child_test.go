package child

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// start runs a shell with script and returns it with the channel its end
// closes.
func start(t *testing.T, script string) (*exec.Cmd, chan struct{}) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	time.Sleep(100 * time.Millisecond) // the trap is set
	return cmd, exited
}

// A process that ends on the signal is not killed; one that ignores it is,
// after the grace period.
func TestStop(t *testing.T) {
	cmd, exited := start(t, "exec sleep 30")
	if Stop(cmd.Process, exited, syscall.SIGTERM, 10*time.Second) {
		t.Error("a process that ends on SIGTERM was killed")
	}
	cmd, exited = start(t, "trap '' TERM; exec sleep 30")
	began := time.Now()
	if !Stop(cmd.Process, exited, syscall.SIGTERM, 200*time.Millisecond) {
		t.Error("a process that ignores SIGTERM was not killed")
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("stopping took %v", d)
	}
}
