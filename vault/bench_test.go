package vault_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/vault"
)

// The vault benchmarks run with a warm key cache, in parallel, on every
// backend: what a steady stream of requests with one vault key costs.
func BenchmarkVault(b *testing.B) {
	teststores.EachBench(b, func(b *testing.B, be teststores.Backend) {
		v := openVault(b, be.Open(b), testkit.Keyring(b))
		benchItems(b, v, true)
	})
}

// benchItems runs the parallel Tokenize and Retrieve benchmarks, and with
// update Update too, on a new key of v.
func benchItems(b *testing.B, v *vault.Vault, update bool) {
	c := newKey(b, v, "acme", "bench")
	ref, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "r"})
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.Run("Tokenize", func(b *testing.B) {
		testkit.Parallel(b, func() error {
			_, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: fmt.Sprint(n.Add(1))})
			return err
		})
	})
	b.Run("Retrieve", func(b *testing.B) {
		testkit.Parallel(b, func() error { _, err := v.Retrieve(ctx, c, ref); return err })
	})
	if update {
		b.Run("Update", func(b *testing.B) {
			testkit.Parallel(b, func() error {
				_, err := v.Update(ctx, c, ref, []byte(`{"cvv":"123"}`), vault.UpdateOptions{})
				return err
			})
		})
	}
}

// BenchmarkVaultAudit is what the audit trail costs the vault on the
// embedded store: Tokenize (an entry chained in its transaction, as
// examples/server runs boltstore) and Retrieve (a note, chained in the
// background every 100 ms), each with the trail and without.
func BenchmarkVaultAudit(b *testing.B) {
	for _, be := range teststores.All()[:2] { // memstore, boltstore
		for _, on := range []bool{false, true} {
			name := be.Name + "/off"
			if on {
				name = be.Name + "/on"
			}
			b.Run(name, func(b *testing.B) {
				st, kr := be.Open(b), testkit.Keyring(b)
				var rec audit.Recorder
				if on {
					l, err := audit.Open(ctx, audit.Config{Store: st, Keyring: kr, ChainInTransaction: true})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { _ = l.Close() })
					rec = l
				}
				v, err := vault.Open(ctx, vault.Config{Store: st, Keyring: kr, WorkFactor: testWorkFactor, Audit: rec})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { v.Close() })
				benchItems(b, v, false)
			})
		}
	}
}
