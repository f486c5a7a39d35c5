//go:build !unix

package reliability

import "time"

// processCPU is not measured here.
func processCPU() (time.Duration, bool) { return 0, false }
