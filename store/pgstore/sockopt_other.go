//go:build !linux

package pgstore

import "time"

// setTCPUserTimeout does nothing where TCP_USER_TIMEOUT is Linux's alone.
func setTCPUserTimeout(uintptr, time.Duration) error { return nil }
