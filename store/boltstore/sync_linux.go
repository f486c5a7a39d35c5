package boltstore

import (
	"os"
	"syscall"
)

// fdatasync makes f's data (and the size it needs to read it back) durable,
// without its other metadata, as bbolt does on Linux.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
