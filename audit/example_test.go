package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "audit-example")
	defer os.RemoveAll(dir)
	kr, _ := crypto.CreateKeyringFile(filepath.Join(dir, "master.key"))
	st := memstore.New()

	l, err := audit.Open(ctx, audit.Config{Store: st, Keyring: kr})
	if err != nil {
		panic(err)
	}
	// A write: its entry commits with it.
	err = st.Update(ctx, func(tx store.Tx) error {
		// ... the work: store the item ...
		return l.Record(tx, audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK,
			Account: "shop", User: "customer-42", Reference: "order-1001", Client: "203.0.113.7:51234"})
	})
	if err != nil {
		panic(err)
	}
	// A read: noted, and chained with others in the background.
	_ = l.Note(audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "shop", User: "customer-42", Reference: "order-1001"})
	_ = l.Flush(ctx) // what the background does every 100 ms

	entries, _, _ := l.List(ctx, "shop", time.Time{}, time.Time{}, "", 10)
	for _, e := range entries {
		fmt.Printf("%d %s %s %s client=%q\n", e.Seq, e.Op, e.Outcome, e.Reference, e.Client)
	}
	_ = l.Close()

	rep, err := audit.Verify(ctx, st, kr)
	fmt.Println(rep.Entries, "entries, verified:", err == nil)
	// Output:
	// 2 item.read ok order-1001 client=""
	// 1 item.stored ok order-1001 client="203.0.113.7"
	// 2 entries, verified: true
}
