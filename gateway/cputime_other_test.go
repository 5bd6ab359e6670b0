//go:build !unix

package gateway

import "time"

// cpuTime is not measured here: benchmarks report 0 CPU time.
func cpuTime() (user, sys time.Duration) { return 0, 0 }
