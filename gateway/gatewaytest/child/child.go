// Package child stops the servers that tests and the load tool run as
// child processes (Dovecot, PostgreSQL, rspamd, casegate serve).
package child

import (
	"os"
	"time"
)

// Stop sends sig to p, the process whose end closes exited, and waits up
// to grace for it to end; a process still running then is killed. It
// reports whether it had to kill.
func Stop(p *os.Process, exited <-chan struct{}, sig os.Signal, grace time.Duration) (killed bool) {
	p.Signal(sig)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
		return false
	case <-t.C:
		p.Kill()
		<-exited
		return true
	}
}
