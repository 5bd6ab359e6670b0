//go:build unix

package gateway

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used so far, in user space and
// in the kernel (system calls: writing pages to the file, fsync, sockets).
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
