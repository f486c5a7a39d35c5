package vault_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/vault"
)

// The vault benchmarks run with a warm key cache, in parallel, on every
// backend: what a steady stream of requests with one vault key costs.
func BenchmarkVault(b *testing.B) {
	for _, be := range teststores.All() {
		b.Run(be.Name, func(b *testing.B) {
			v := openVault(b, be.Open(b), newKeyring(b))
			c := newKey(b, v, "acme", "bench")
			ref, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "r"})
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.Run("Tokenize", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(concurrency)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						ref := fmt.Sprint(n.Add(1))
						if _, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: ref}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("Retrieve", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(concurrency)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := v.Retrieve(ctx, c, ref); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("Update", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(concurrency)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := v.Update(ctx, c, ref, []byte(`{"cvv":"123"}`), vault.UpdateOptions{}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// concurrency is how many callers per CPU the parallel benchmarks run: a
// server has many requests in flight, and group commit needs them.
const concurrency = 16
