//go:build unix

package pipeline

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time so far. On a shared machine
// a step's CPU time is a steadier measure than its wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
