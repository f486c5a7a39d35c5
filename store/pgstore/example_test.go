package pgstore_test

import (
	"context"
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
