package testkit

import "testing"

// Concurrency is how many callers per CPU the parallel benchmarks of the
// services run: a server has many requests in flight, and group commit
// needs them.
const Concurrency = 16

// Parallel runs op from Concurrency callers per CPU at a time, b.N times
// in all, reporting allocations; the first error op returns fails the
// benchmark.
func Parallel(b *testing.B, op func() error) {
	b.ReportAllocs()
	b.SetParallelism(Concurrency)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
