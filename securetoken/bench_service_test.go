package securetoken_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/securetoken"
)

// BenchmarkService: the service's operations on each backend, in parallel.
func BenchmarkService(b *testing.B) {
	teststores.EachBench(b, func(b *testing.B, be teststores.Backend) {
		e := newSvc(b, be.Open(b))
		for i := range 200 {
			if _, err := e.svc.Create(ctx, "1234001", seedRequest(b, fmt.Sprint("seed-", i)), nil); err != nil {
				b.Fatal(err)
			}
		}
		var n atomic.Int64
		b.Run("Create", func(b *testing.B) {
			testkit.Parallel(b, func() error {
				_, err := e.svc.Create(ctx, "1234001", seedRequest(b, fmt.Sprint("c-", n.Add(1))), nil)
				return err
			})
		})
		b.Run("Retrieve", func(b *testing.B) {
			testkit.Parallel(b, func() error {
				_, err := e.svc.Retrieve(ctx, "1234001", "seed-7")
				return err
			})
		})
		b.Run("Patch", func(b *testing.B) {
			testkit.Parallel(b, func() error {
				id := fmt.Sprint("seed-", n.Add(1)%200)
				_, err := e.svc.Patch(ctx, "1234001", id, []byte(`[{"op":"replace","path":"/customer/lastName","value":"Hopper"},{"op":"replace","path":"/mitAgreement","value":"recurring"},{"op":"replace","path":"/source/expiryDate","value":"1229"}]`), nil)
				return err
			})
		})
		b.Run("ListFiltered", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := e.svc.List(ctx, "1234001", securetoken.ListQuery{Last4: "7062", CustomerName: "Sarah Hopper", Limit: 10})
				if err != nil || len(p.Items) != 10 {
					b.Fatal(err, len(p.Items))
				}
			}
		})
	})
}
