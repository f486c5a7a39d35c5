package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "boltstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := boltstore.Open(filepath.Join(dir, "cardvault.db"), nil)
	if errors.Is(err, boltstore.ErrLocked) {
		log.Fatal("another cardvault process has the file open")
	}
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	// Update returns once the write is on disk.
	err = s.Update(ctx, func(tx store.Tx) error {
		return tx.Put("greetings", []byte("en"), []byte("hello"))
	})
	if err != nil {
		log.Fatal(err)
	}
	err = s.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get("greetings", []byte("en"))
		if err != nil {
			return err
		}
		fmt.Println(string(v))
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output: hello
}
