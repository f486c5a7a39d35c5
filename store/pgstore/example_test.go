package pgstore_test

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/pgstore"
)

// Open takes a connection string, which may also set the pool's size; the
// first Open creates the tables.
func ExampleOpen() {
	ctx := context.Background()
	s, err := pgstore.Open(ctx, "postgres://cardvault@db.internal/cardvault?sslmode=verify-full&pool_max_conns=16", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// A readiness check.
	pingCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := s.Ping(pingCtx); err != nil {
		log.Printf("not ready: %v", err)
	}

	err = s.Update(ctx, func(tx store.Tx) error {
		return tx.Put("greetings", []byte("en"), []byte("hello"))
	})
	if err != nil {
		log.Fatal(err)
	}
}

// On an HA formation — here pg_auto_failover's three data nodes — name
// every node, let target_session_attrs find the primary, and have a write
// acknowledged only once a standby has it: an error wrapping
// store.ErrCommitUnknown says it was not confirmed in time (try again).
func ExampleOpen_formation() {
	ctx := context.Background()
	s, err := pgstore.Open(ctx, "postgres://cardvault@db1:5432,db2:5432,db3:5432/cardvault"+
		"?sslmode=verify-full&target_session_attrs=read-write&cardvault_min_standbys=1", nil)
	if err != nil {
		log.Fatal(err) // also when the user may not read pg_stat_replication: grant it pg_monitor
	}
	defer s.Close()

	err = s.Update(ctx, func(tx store.Tx) error {
		return tx.Put("greetings", []byte("en"), []byte("hello"))
	})
	if errors.Is(err, store.ErrCommitUnknown) {
		log.Printf("not confirmed on a standby: try again later")
	} else if err != nil {
		log.Fatal(err)
	}
}
