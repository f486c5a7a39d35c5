//go:build unix

package reliability

import (
	"syscall"
	"time"
)

// processCPU is the CPU time the process has used, user and system: what
// a benchmark's calls cost on a machine others share, where their rate
// follows the others' load.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
