// Package pgtest gives tests a fresh PostgreSQL database on the throwaway
// server that `make test` starts (scripts/with-postgres.sh), and the load
// generator a database per server it compares (CreateDatabase).
//
// A test that needs PostgreSQL fails — it does not skip — when no server was
// provided: a skipped test would report green for code that never ran.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that holds the server's URL.
const EnvURL = "CARDVAULT_TEST_POSTGRES_URL"

// ServerURL returns the URL of the test server's maintenance database, and
// fails the test when none is configured.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Fatalf("this test needs PostgreSQL: run `make test`, which starts a throwaway server, "+
			"or set %s to the URL of a server the test may create databases on", EnvURL)
	}
	return u
}

// URL creates an empty database on the test server and returns its URL. The
// database is dropped when the test and its subtests end.
func URL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, drop, err := CreateDatabase(ctx, ServerURL(t), "cardvault_test_")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drop(ctx); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return u
}

// CreateDatabase creates an empty database, named prefix and 16 random hex
// digits, on the server whose URL is server (its user needs CREATEDB), and
// returns its URL and what drops it.
func CreateDatabase(ctx context.Context, server, prefix string) (string, func(context.Context) error, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, fmt.Errorf("the server's URL does not parse: %w", err)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	name := pgx.Identifier{prefix + hex.EncodeToString(b[:])}.Sanitize()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to the server: %w", err)
	}
	defer conn.Close(ctx)
	// template0: nobody connects to it, so concurrent CREATE DATABASE calls
	// do not trip over one another the way they do on template1.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", nil, fmt.Errorf("creating a database: %w", err)
	}
	drop := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			return fmt.Errorf("connecting to drop %s: %w", name, err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("dropping %s: %w", name, err)
		}
		return nil
	}
	u.Path = "/" + prefix + hex.EncodeToString(b[:])
	return u.String(), drop, nil
}
