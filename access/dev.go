package access

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cardvault/cardvault/crypto"
)

// DevCredentials are the credentials a server started with none configured
// makes for itself, so that `go run ./examples/server` works on a fresh
// clone: one Basic account for the vault/capture API and one API key for
// every processing terminal.
type DevCredentials struct {
	Account Account `json:"account"`
	APIKey  APIKey  `json:"api_key"`
}

// LoadOrCreateDevCredentials reads the dev credentials kept at path, or
// generates them (account "dev" with a random password, a random API key for
// all terminals) and writes them to a new file there with permissions 0600,
// so that a restart keeps them. Like crypto.LoadKeyring, it refuses a file
// that others than its owner may read or write. It reports whether it
// created the file.
//
// This is for development only: the file holds the credentials in clear.
func LoadOrCreateDevCredentials(path string) (DevCredentials, bool, error) {
	var dc DevCredentials
	raw, err := readPrivateFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &dc); err != nil || dc.Account.Name == "" || dc.Account.Password == "" || dc.APIKey.Key == "" {
			return dc, false, fmt.Errorf("access: %s does not hold dev credentials", path)
		}
		if len(dc.APIKey.Terminals) == 0 {
			dc.APIKey.Terminals = []string{"*"}
		}
		return dc, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return dc, false, err
	}
	dc = DevCredentials{
		Account: Account{Name: "dev", Password: crypto.NewSecret()},
		APIKey:  APIKey{Key: crypto.NewSecret(), Terminals: []string{"*"}},
	}
	raw, err = json.MarshalIndent(dc, "", "  ")
	if err != nil {
		return dc, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return dc, false, fmt.Errorf("access: creating the dev credentials file: %w", err)
	}
	if _, err := f.Write(append(raw, '\n')); err != nil {
		f.Close()
		os.Remove(path)
		return dc, false, fmt.Errorf("access: writing the dev credentials file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return dc, false, fmt.Errorf("access: writing the dev credentials file: %w", err)
	}
	return dc, true, nil
}

// readPrivateFile reads a file only its owner may read and write.
func readPrivateFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("access: %s is accessible by others (mode %v); make it 0600", path, info.Mode().Perm())
	}
	return os.ReadFile(path)
}
