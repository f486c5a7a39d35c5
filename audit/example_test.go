package audit_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
)

// A write's entry commits with the write, a read's is noted; an account's
// entries are listed, and the whole trail verifies.
func Example() {
	ctx := context.Background()
	master, err := crypto.NewKeyring() // in memory, like the store; a lasting one is a file (crypto.CreateKeyringFile)
	if err != nil {
		log.Fatal(err)
	}
	s := memstore.New()
	l, err := audit.Open(ctx, audit.Config{Store: s, Keyring: master})
	if err != nil {
		log.Fatal(err)
	}

	// A write: its entry commits with it.
	err = s.Update(ctx, func(tx store.Tx) error {
		// … the write …
		return l.Record(tx, audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK,
			Account: "shop", Reference: "order-1001", Client: "203.0.113.7:51234"})
	})
	if err != nil {
		log.Fatal(err)
	}
	// A read: noted, and chained with others in the background (every 100 ms; Flush now).
	err = l.Note(audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "shop", Reference: "order-1001"})
	if err != nil {
		log.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		log.Fatal(err)
	}

	entries, _, err := l.List(ctx, "shop", time.Time{}, time.Time{}, "", 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		fmt.Printf("%d %s %s %s client=%q\n", e.Seq, e.Op, e.Outcome, e.Reference, e.Client)
	}
	if err := l.Close(); err != nil {
		log.Fatal(err)
	}

	rep, err := audit.Verify(ctx, s, master) // a *audit.TamperError names the first bad entry
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Entries, "entries verified")
	// Output:
	// 2 item.read ok order-1001 client=""
	// 1 item.stored ok order-1001 client="203.0.113.7"
	// 2 entries verified
}
