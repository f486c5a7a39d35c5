// Package pgtest gives tests a fresh PostgreSQL database on the throwaway
// server that `make test` starts (scripts/with-postgres.sh).
//
// A test that needs PostgreSQL fails — it does not skip — when no server was
// provided: a skipped test would report green for code that never ran.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	server := ServerURL(t)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "cardvault_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connecting to the test server: %v", err)
	}
	defer conn.Close(ctx)
	// template0: nobody connects to it, so concurrent CREATE DATABASE calls
	// do not trip over one another the way they do on template1.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatalf("pgtest: creating database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("pgtest: connecting to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping %s: %v", name, err)
		}
	})

	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
