package securetoken_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store/pgstore"
	"github.com/cardvault/cardvault/vault"
)

// TestCrossProcessExactlyOnce races two OS processes, each with its own
// services over one PostgreSQL database, for one single-use token
// (update-account) and one single-use capture grant: each is used exactly
// once in all.
func TestCrossProcessExactlyOnce(t *testing.T) {
	if os.Getenv("CARDVAULT_RACE_CHILD") != "" {
		raceChild(t)
		return
	}
	url := pgtest.URL(t)
	keyPath := filepath.Join(t.TempDir(), "master.key")
	kr, err := crypto.CreateKeyringFile(keyPath)
	require.NoError(t, err)
	st, err := pgstore.Open(ctx, url, nil)
	require.NoError(t, err)
	defer st.Close()
	e := openSvc(t, st, kr, keyPath)

	_, err = e.svc.Create(ctx, "1234001", seedRequest(t, "raced"), nil)
	require.NoError(t, err)
	su, err := e.capture.MintSingleUse(ctx, "1234001", mustSource(t, `{"card_number":"5555555555554444","card_holder":"S","expiry":"12/30"}`))
	require.NoError(t, err)
	key, err := e.vault.CreateKey(ctx, vault.Credentials{User: "racer", Passphrase: "a passphrase for the race"})
	require.NoError(t, err)
	g, err := e.capture.CreateGrant(ctx, capture.GrantRequest{Credentials: key, SingleUse: true})
	require.NoError(t, err)

	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 2)
	for i := range outs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrossProcessExactlyOnce$", "-test.count=1")
		cmd.Env = append(os.Environ(), "CARDVAULT_RACE_CHILD=1", "CARDVAULT_RACE_URL="+url, "CARDVAULT_RACE_KEY="+keyPath,
			"CARDVAULT_RACE_TOKEN="+su.Token, "CARDVAULT_RACE_GRANT="+g.ID, "CARDVAULT_RACE_SECRET="+g.Secret)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		require.NoError(t, cmd.Start())
		wg.Go(func() { require.NoError(t, cmd.Wait(), "child %d", i) })
	}
	wg.Wait()
	var updates, captures int
	for _, o := range outs {
		var u, c int
		for line := range strings.SplitSeq(o.String(), "\n") {
			if _, err := fmt.Sscanf(line, "RESULT updates=%d captures=%d", &u, &c); err == nil {
				updates += u
				captures += c
			}
		}
	}
	require.Equal(t, 1, updates, "one update-account in all")
	require.Equal(t, 1, captures, "one capture in all")
	res, err := e.svc.Retrieve(ctx, "1234001", "raced")
	require.NoError(t, err)
	require.Equal(t, "555555******4444", res.Source.Card.CardNumber.Masked())
	items, err := e.vault.List(ctx, "", "racer", vault.ItemRef{}, 0)
	require.NoError(t, err)
	require.Len(t, items, 1, "the single-use grant stored one card")
}

func raceChild(t *testing.T) {
	keyring, err := crypto.LoadKeyring(os.Getenv("CARDVAULT_RACE_KEY"))
	require.NoError(t, err)
	st, err := pgstore.Open(ctx, os.Getenv("CARDVAULT_RACE_URL"), nil)
	require.NoError(t, err)
	defer st.Close()
	e := openSvc(t, st, keyring, os.Getenv("CARDVAULT_RACE_KEY"))
	const racers = 6
	var mu sync.Mutex
	updates, captures := 0, 0
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			_, err := e.svc.UpdateAccount(ctx, "1234001", "raced", securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: os.Getenv("CARDVAULT_RACE_TOKEN")}, nil)
			var bad *cardvault.InvalidError
			switch {
			case err == nil:
				mu.Lock()
				updates++
				mu.Unlock()
			case errors.As(err, &bad) && bad.Fields[0].Detail == "already used":
			default:
				t.Errorf("update-account: %v", err)
			}
			_, err = e.capture.Redeem(ctx, os.Getenv("CARDVAULT_RACE_GRANT"), os.Getenv("CARDVAULT_RACE_SECRET"), fmt.Appendf(nil, `{"card_number":"4242424242424242","cvv":"%03d"}`, i))
			switch {
			case err == nil:
				mu.Lock()
				captures++
				mu.Unlock()
			case errors.Is(err, capture.ErrUsed):
			default:
				t.Errorf("capture: %v", err)
			}
		})
	}
	wg.Wait()
	fmt.Printf("RESULT updates=%d captures=%d\n", updates, captures)
}
