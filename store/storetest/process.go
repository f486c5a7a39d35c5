package storetest

import (
	"fmt"
	"os"
	"testing"
)

// Main is the TestMain of a backend whose tests re-execute their own test
// binary as helper processes (a second writer, a process to kill): with
// the environment variable env unset it runs the tests; set, it runs the
// helper of that name instead and exits with its code.
func Main(m *testing.M, env string, helpers map[string]func() int) {
	name := os.Getenv(env)
	if name == "" {
		os.Exit(m.Run())
	}
	helper, ok := helpers[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown helper", name)
		os.Exit(2)
	}
	os.Exit(helper())
}
