package server_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/server"
	"github.com/cardvault/cardvault/store/memstore"
)

// A server over an in-memory store with one Basic account, and the first
// call of the vault/capture API: creating a vault key.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "cardvault-example")
	defer os.RemoveAll(dir)
	keyring, err := crypto.CreateKeyringFile(filepath.Join(dir, "master.key"))
	if err != nil {
		panic(err)
	}
	// Passwords and API keys have 16 characters at least.
	accounts, _ := access.ParseAccounts("user:a-long-random-password")
	keys, _ := access.ParseAPIKeys("a-long-random-api-key:1234001")
	srv, err := server.New(server.Config{
		Store: memstore.New(), Keyring: keyring, Accounts: accounts, APIKeys: keys,
		WorkFactor: 10, // scrypt work factor; leave 0 (18) in production
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()

	req, _ := http.NewRequest("POST", ts.URL+"/v1/key", strings.NewReader(`{"user": "test-user", "passphrase": "ALongAndVerySecretPassphraseThatIsSuperSecure"}`))
	req.SetBasicAuth("user", "a-long-random-password")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Print(string(body))

	resp, _ = http.Get(ts.URL + "/v1/key")
	resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("WWW-Authenticate"))
	// Output:
	// 200 OK
	// {"user":"test-user","passphrase":"ALongAndVerySecretPassphraseThatIsSuperSecure"}
	// 401 Unauthorized Basic realm="cardvault", charset="UTF-8"
}
