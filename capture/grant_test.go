package capture_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
	"github.com/cardvault/cardvault/webhook"
)

var ctx = context.Background()

// env is a vault and a capture service over one store, with a vault key
// holding the seed's card.
type env struct {
	st    *store.Store
	vault *vault.Vault
	svc   *capture.Service
	clock *testkit.Clock // shared by the vault and the capture service
	key   vault.Credentials
	card  vault.ItemRef
}

const seedCard = `{"card_number":"4111111111111111","card_holder":"Ada Lovelace","card_expiry":"06-2024","cvv":"123"}`

func newEnv(t testing.TB, st *store.Store, opts ...func(*capture.Config)) *env {
	t.Helper()
	kr := testkit.Keyring(t)
	c := testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	v, err := vault.Open(ctx, vault.Config{Store: st, Keyring: kr, WorkFactor: 10, Now: c.Now})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	// Webhooks go to test servers on 127.0.0.1, through the real egress
	// guard with an explicit allow entry; the outbox retries fast.
	guard := testkit.Guard(t, egress.Config{AllowHTTP: true}, "127.0.0.1")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ob, err := outbox.Open(ctx, outbox.Config{Store: st, Keyring: kr, Backoff: 20 * time.Millisecond, Poll: 20 * time.Millisecond, Logger: quiet})
	require.NoError(t, err)
	cfg := capture.Config{Store: st, Vault: v, Now: c.Now, Outbox: ob, Egress: guard, Logger: quiet}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := capture.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	testkit.Background(t, ob.Run)
	key, err := v.CreateKey(ctx, vault.Credentials{Owner: "acct", User: "test-user", Passphrase: "ALongAndVerySecretPassphraseThatIsSuperSecure"})
	require.NoError(t, err)
	ref, err := v.Tokenize(ctx, key, []byte(seedCard), vault.TokenizeOptions{Reference: "my-reference"})
	require.NoError(t, err)
	return &env{st: st, vault: v, svc: svc, clock: c, key: key, card: ref}
}

func (e *env) retrieve(t testing.TB, ref vault.ItemRef) map[string]any {
	t.Helper()
	doc, err := e.vault.Retrieve(ctx, e.key, ref)
	require.NoError(t, err)
	return testkit.Object(t, doc)
}

func TestGrants(t *testing.T) {
	teststores.Cases(t, map[string]func(*testing.T, teststores.Backend){
		"locked grant merges into its card": testLockedGrant,
		"open grant stores new cards":       testOpenGrant,
		"secrets":                           testSecrets,
		"lockout raced":                     testLockoutRace,
		"a check counts nothing":            testCheckCountsNothing,
		"lifetime":                          testLifetime,
		"single use, raced":                 testSingleUseGrant,
		"single-use tokens":                 testSingleUseTokens,
		"at rest":                           testGrantsAtRest,
	})
}

// The seed's first flow: an endpoint locked to one card, a POST of a new
// expiry and CVV, the card updated with its number unchanged.
func testLockedGrant(t *testing.T, b teststores.Backend) {
	e := newEnv(t, b.Open(t))
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "PT10M", Lock: &e.card})
	require.NoError(t, err)
	require.Len(t, g.Secret, 64)
	require.Equal(t, e.clock.Now().Add(10*time.Minute), g.ExpiresAt)
	require.Equal(t, &e.card, g.Lock)

	res, err := e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_expiry":"06-2025","cvv":"145"}`))
	require.NoError(t, err)
	require.Equal(t, "test-user", res.User)
	require.Equal(t, e.card, res.Item)
	got := e.retrieve(t, e.card)
	require.Equal(t, "4111111111111111", got["card_number"])
	require.Equal(t, "06-2025", got["card_expiry"])
	require.Equal(t, "145", got["cvv"])
	require.Equal(t, "Ada Lovelace", got["card_holder"])

	// The number is immutable; a reference naming another item is refused.
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"5555555555554444"}`))
	require.ErrorIs(t, err, vault.ErrNumberImmutable)
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"1","reference":"other"}`))
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"999","reference":"my-reference"}`))
	require.NoError(t, err)
	require.Equal(t, "999", e.retrieve(t, e.card)["cvv"])
	require.NotContains(t, e.retrieve(t, e.card), "reference", "the reference addresses the item; it is not stored in it")

	// A field allow-list (a CVV-only form) refuses anything else.
	cvvOnly, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card, AllowedFields: []string{"cvv"}})
	require.NoError(t, err)
	_, err = e.svc.Redeem(ctx, cvvOnly.ID, cvvOnly.Secret, []byte(`{"cvv":"321","card_holder":"Eve"}`))
	require.ErrorIs(t, err, vault.ErrFieldNotAllowed)
	require.Equal(t, "Ada Lovelace", e.retrieve(t, e.card)["card_holder"])

	// Creating a grant needs the passphrase, and the locked item must exist.
	_, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: vault.Credentials{Owner: "acct", User: "test-user", Passphrase: "wrong"}, Lock: &e.card})
	require.ErrorIs(t, err, vault.ErrWrongKey)
	_, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &vault.ItemRef{Token: e.card.Token, Reference: "nope"}})
	require.ErrorIs(t, err, vault.ErrItemNotFound)

	// Listing and deleting.
	list, err := e.svc.ListGrants(ctx, "acct", "test-user", "", "", 0)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.ErrorIs(t, e.svc.DeleteGrant(ctx, "another-account", g.ID), capture.ErrGrantNotFound, "an account deletes only its own grants")
	require.NoError(t, e.svc.DeleteGrant(ctx, "acct", g.ID))
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrDeleted)
	require.Equal(t, "999", e.retrieve(t, e.card)["cvv"])
	list, err = e.svc.ListGrants(ctx, "acct", "test-user", "", "", 0)
	require.NoError(t, err)
	require.Len(t, list, 1)

	// A replaced card no longer opens with the grant's key.
	_, err = e.vault.Tokenize(ctx, e.key, []byte(seedCard), vault.TokenizeOptions{Reference: "my-reference"})
	require.NoError(t, err)
	_, err = e.svc.Redeem(ctx, cvvOnly.ID, cvvOnly.Secret, []byte(`{"cvv":"111"}`))
	require.ErrorIs(t, err, vault.ErrItemNotFound)
}

func testOpenGrant(t *testing.T, b teststores.Backend) {
	var hooks atomic.Int32
	var hookBody atomic.Value
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hooks.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first try fails: it must be retried
			return
		}
		body, _ := io.ReadAll(r.Body)
		hookBody.Store(map[string]string{"secret": r.Header.Get(webhook.SecretHeader), "body": string(body),
			"delivery": r.Header.Get(webhook.DeliveryHeader), "signature": r.Header.Get(webhook.SignatureHeader)})
	}))
	defer hook.Close()
	e := newEnv(t, b.Open(t))
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, UniqueID: "checkout-42",
		Webhook: &capture.Webhook{URL: hook.URL + "/hook", Secret: "whsec"}})
	require.NoError(t, err)
	require.Equal(t, "checkout-42", g.ID)
	require.Nil(t, g.Lock)
	require.Equal(t, e.clock.Now().Add(24*time.Hour), g.ExpiresAt, "24 hours by default")

	res, err := e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"5555 5555 5555 4444","card_holder":"Grace Hopper","card_expiry":"12-2030","reference":"order-42"}`))
	require.NoError(t, err)
	require.Equal(t, "order-42", res.Item.Reference)
	require.Regexp(t, `^[0-9a-f]{64}$`, res.Item.Token)
	got := e.retrieve(t, res.Item)
	require.Equal(t, "Grace Hopper", got["card_holder"])
	require.NotContains(t, got, "reference")

	// Each post stores another card; without a reference one is generated.
	res2, err := e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"4242424242424242"}`))
	require.NoError(t, err)
	require.NotEqual(t, res.Item, res2.Item)
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"123"}`))
	require.ErrorIs(t, err, vault.ErrNoNumber)
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`[1]`))
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"1","card_number":"2"}`))
	require.ErrorIs(t, err, cardvault.ErrInvalid)

	// unique_id is unique while the grant lives.
	_, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, UniqueID: "checkout-42"})
	require.ErrorIs(t, err, capture.ErrGrantExists)
	_, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, UniqueID: "../etc/passwd"})
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	// The hosted forms' path segment: a grant of that id could not be
	// posted to.
	_, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, UniqueID: "iframe"})
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	require.ErrorContains(t, err, "reserved")
	// A webhook the egress guard would refuse for what its URL says is
	// refused when the grant is created; nothing is stored.
	for _, u := range []string{"ftp://x", "https://169.254.169.254/latest/meta-data?token=planted", "https://10.0.0.1/hook",
		"https://[::ffff:127.0.0.2]/hook", "https://user:pw@hooks.example/", "https://hooks.example%23.evil/"} {
		_, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, UniqueID: "refused-hook", Webhook: &capture.Webhook{URL: u, Secret: "s"}})
		require.ErrorIs(t, err, cardvault.ErrInvalid, u)
		require.ErrorContains(t, err, "webhook url", u)
		require.NotContains(t, err.Error(), "planted", "the error does not repeat the query")
		_, err = e.svc.Grant(ctx, "acct", "refused-hook")
		require.ErrorIs(t, err, capture.ErrGrantNotFound)
	}

	// The webhook arrives (after one retry) with safe data only.
	require.Eventually(t, func() bool { return hookBody.Load() != nil }, 10*time.Second, 10*time.Millisecond)
	h := hookBody.Load().(map[string]string)
	require.Equal(t, "whsec", h["secret"])
	require.NotEmpty(t, h["delivery"])
	require.NoError(t, webhook.Verify("whsec", h["signature"], []byte(h["body"]), e.clock.Now(), 0), "signed")
	require.NotContains(t, h["body"], "5555", "a webhook must not carry the card number")
	var payload struct {
		Metadata  map[string]string `json:"metadata"`
		TokenInfo struct {
			Token    string            `json:"token"`
			SafeData map[string]string `json:"safe_data"`
		} `json:"token_info"`
	}
	require.NoError(t, json.Unmarshal([]byte(h["body"]), &payload))
	require.Equal(t, "checkout-42", payload.Metadata["capture_id"])
	require.Contains(t, []string{res.Item.Token, res2.Item.Token}, payload.TokenInfo.Token)
	if payload.TokenInfo.Token == res.Item.Token {
		require.Equal(t, map[string]string{"card_holder": "Grace Hopper", "last_four": "4444", "card_type": "Mastercard", "expiry": "12-2030"}, payload.TokenInfo.SafeData)
	}
}

func testSecrets(t *testing.T, b teststores.Backend) {
	e := newEnv(t, b.Open(t), func(c *capture.Config) { c.MaxFailures = 3 })
	g1, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card})
	require.NoError(t, err)
	g2, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card})
	require.NoError(t, err)

	_, err = e.svc.Redeem(ctx, g1.ID, g2.Secret, []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrWrongSecret, "a secret of one grant must not open another")
	require.ErrorIs(t, err, cardvault.ErrUnauthorized)
	_, err = e.svc.Redeem(ctx, "no-such-grant", g1.Secret, []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrGrantNotFound)
	_, err = e.svc.Redeem(ctx, g1.ID, "", []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrWrongSecret)
	require.Equal(t, "123", e.retrieve(t, e.card)["cvv"], "nothing written")

	// The third failure locks g1: even its own secret is refused, and a
	// form page's check says so.
	_, err = e.svc.Redeem(ctx, g1.ID, strings.Repeat("A", 64), []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrWrongSecret)
	_, err = e.svc.Redeem(ctx, g1.ID, g1.Secret, []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrLocked)
	require.ErrorIs(t, err, cardvault.ErrLocked)
	var locked *capture.LockedError
	require.ErrorAs(t, err, &locked)
	require.Equal(t, e.clock.Now().Add(capture.DefaultLockDelay), locked.Until, "the first lock lasts LockDelay")
	_, err = e.svc.Check(ctx, g1.ID, g1.Secret)
	require.ErrorIs(t, err, capture.ErrLocked)
	// g2 is untouched by g1's lock.
	_, err = e.svc.Redeem(ctx, g2.ID, g2.Secret, []byte(`{"cvv":"222"}`))
	require.NoError(t, err)
	// Unknown ids lock too, so probing them teaches nothing.
	for range 3 {
		_, err = e.svc.Redeem(ctx, "probe", "x", nil)
		require.ErrorIs(t, err, capture.ErrGrantNotFound)
	}
	_, err = e.svc.Redeem(ctx, "probe", "x", nil)
	require.ErrorAs(t, err, &locked)
	require.Equal(t, e.clock.Now().Add(capture.DefaultLockDelay), locked.Until, "on the same schedule")

	// The lock lifts; three more wrong secrets lock it for twice as long,
	// and so on, up to a day.
	e.clock.Advance(capture.DefaultLockDelay - time.Second)
	_, err = e.svc.Redeem(ctx, g1.ID, g1.Secret, []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrLocked, "a second before it lifts")
	e.clock.Advance(time.Second)
	_, err = e.svc.Redeem(ctx, g1.ID, g1.Secret, []byte(`{"cvv":"444"}`))
	require.NoError(t, err, "lifted: the right secret works again")
	require.Equal(t, "444", e.retrieve(t, e.card)["cvv"])
	for i, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute} {
		for range 3 {
			_, err = e.svc.Redeem(ctx, g1.ID, "wrong", nil)
			require.ErrorIs(t, err, capture.ErrWrongSecret, "lock %d", i+2)
		}
		_, err = e.svc.Redeem(ctx, g1.ID, g1.Secret, nil)
		require.ErrorAs(t, err, &locked)
		require.Equal(t, e.clock.Now().Add(want), locked.Until, "lock %d", i+2)
		e.clock.Advance(want)
	}
	for n := 5; n <= 12; n++ {
		want := min(capture.DefaultLockDelay<<(n-1), 24*time.Hour)
		for range 3 {
			_, err = e.svc.Redeem(ctx, g1.ID, "wrong", nil)
			require.ErrorIs(t, err, capture.ErrWrongSecret, "lock %d", n)
		}
		_, err = e.svc.Check(ctx, g1.ID, g1.Secret)
		require.ErrorAs(t, err, &locked)
		require.Equal(t, e.clock.Now().Add(want), locked.Until, "lock %d", n)
		e.clock.Advance(want)
	}
	// A day without failures forgives the id: its next lock is a short one
	// again.
	e.clock.Advance(24 * time.Hour)
	for range 3 {
		_, err = e.svc.Redeem(ctx, g1.ID, "wrong", nil)
		require.ErrorIs(t, err, capture.ErrWrongSecret)
	}
	_, err = e.svc.Check(ctx, g1.ID, g1.Secret)
	require.ErrorAs(t, err, &locked)
	require.Equal(t, e.clock.Now().Add(capture.DefaultLockDelay), locked.Until)
}

// Of concurrent wrong secrets, exactly MaxFailures are counted — the lock
// is checked and the failure counted in one transaction — and every other
// one finds the id locked; the right secret after them too.
func testLockoutRace(t *testing.T, b teststores.Backend) {
	e := newEnv(t, b.Open(t))
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card, TTL: "PT10M"})
	require.NoError(t, err)
	for _, id := range []string{g.ID, "an-id-with-no-grant"} {
		var wrong, lockedN atomic.Int32
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				_, err := e.svc.Redeem(ctx, id, crypto.NewSecret(), []byte(`{"cvv":"000"}`))
				switch {
				case errors.Is(err, capture.ErrWrongSecret), errors.Is(err, capture.ErrGrantNotFound):
					wrong.Add(1)
				case errors.Is(err, capture.ErrLocked):
					lockedN.Add(1)
				default:
					t.Errorf("%s: unexpected error %v", id, err)
				}
			})
		}
		wg.Wait()
		require.Equal(t, int32(capture.DefaultMaxFailures), wrong.Load(), "%s: exactly the limit counted", id)
		require.Equal(t, int32(64-capture.DefaultMaxFailures), lockedN.Load(), "%s: the rest locked out", id)
	}
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrLocked)
	require.Equal(t, "123", e.retrieve(t, e.card)["cvv"])
}

// A form page's check counts nothing: loading the page with a wrong secret
// any number of times locks nobody out.
func testCheckCountsNothing(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	e := newEnv(t, st)
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card, TTL: "PT10M"})
	require.NoError(t, err)
	before := failureCounters(t, st)
	for range 3 * capture.DefaultMaxFailures {
		_, err = e.svc.Check(ctx, g.ID, crypto.NewSecret())
		require.ErrorIs(t, err, capture.ErrWrongSecret)
		_, err = e.svc.Check(ctx, "no-such-grant", crypto.NewSecret())
		require.ErrorIs(t, err, capture.ErrGrantNotFound)
	}
	require.Equal(t, before, failureCounters(t, st), "nothing was counted")
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"555"}`))
	require.NoError(t, err)
	for range capture.DefaultMaxFailures - 1 {
		_, err = e.svc.Redeem(ctx, "no-such-grant", "wrong", nil)
		require.ErrorIs(t, err, capture.ErrGrantNotFound, "the checks left the unknown id's count at zero too")
	}
}

// TestUnknownIDFlood posts 4,000 wrong secrets to random ids with no grant
// on the embedded store and measures the store before and after: unknown
// ids leave no record, so its data (bbolt's high-water mark) grows by less
// than 64 KiB and the file, which bbolt grows in steps of its mapping
// (doubling), by at most a step — it grew by 2 MB when each one stored a
// failure counter.
func TestUnknownIDFlood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cardvault.db")
	kr := testkit.Keyring(t)
	open := func() (*store.Store, *vault.Vault, *capture.Service) {
		st, err := boltstore.Open(path, nil)
		require.NoError(t, err)
		v, err := vault.Open(ctx, vault.Config{Store: st, Keyring: kr, WorkFactor: 10})
		require.NoError(t, err)
		svc, err := capture.New(capture.Config{Store: st, Vault: v})
		require.NoError(t, err)
		return st, v, svc
	}
	shut := func(st *store.Store, v *vault.Vault, svc *capture.Service) {
		require.NoError(t, svc.Close())
		require.NoError(t, v.Close())
		require.NoError(t, st.Close())
	}
	st, v, svc := open()
	key, err := v.CreateKey(ctx, vault.Credentials{Owner: "acct", User: "test-user", Passphrase: "ALongAndVerySecretPassphraseThatIsSuperSecure"})
	require.NoError(t, err)
	ref, err := v.Tokenize(ctx, key, []byte(seedCard), vault.TokenizeOptions{Reference: "my-reference"})
	require.NoError(t, err)
	g, err := svc.CreateGrant(ctx, capture.GrantRequest{Credentials: key, Lock: &ref, TTL: "PT10M"})
	require.NoError(t, err)
	// Some posts first, so that the decoy counters exist before the
	// measurement starts: what is measured is what the flood adds. Each
	// post picks one of 64 decoys at random; after 500 posts one was
	// still missing in about 1 run in 40 (64 × (63/64)^500), and the
	// flood then created it. After 2,000, 1 in 10^12.
	for range 2000 {
		_, err := svc.Redeem(ctx, crypto.NewID(16), crypto.NewSecret(), []byte(`{"cvv":"000"}`))
		require.ErrorIs(t, err, capture.ErrGrantNotFound)
	}
	shut(st, v, svc)
	before, beforeFile := boltSize(t, path)
	keysBefore := boltKeys(t, path)

	st, v, svc = open()
	// One at a time: concurrent writers and readers make bbolt keep freed
	// pages pending for a while, which grows the file by some pages
	// whatever is written (28-53 KiB over this flood with 4 goroutines,
	// the same after 40,000 posts); alone, the flood's own growth shows.
	const posts = 4000
	for range posts {
		_, err := svc.Redeem(ctx, crypto.NewID(16), crypto.NewSecret(), []byte(`{"cvv":"000"}`))
		require.ErrorIs(t, err, capture.ErrGrantNotFound)
	}
	_, err = svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"321"}`))
	require.NoError(t, err, "the real grant still works")
	shut(st, v, svc)
	after, afterFile := boltSize(t, path)
	t.Logf("%d posts to random ids: data %d → %d bytes (+%d), file %d → %d bytes", posts, before, after, after-before, beforeFile, afterFile)
	require.Less(t, after-before, int64(64<<10), "the store grew by less than 64 KiB")
	// The file grows by doubling bbolt's mapping: one step from a 64 KiB
	// file is 64 KiB, which the data's few new pages (the checkpoint's
	// copy-on-write of the counters' pages) may cross. The finding was
	// 2 MB.
	require.Less(t, afterFile-beforeFile, int64(256<<10), "and so did its file (the finding's measure)")
	require.Equal(t, keysBefore, boltKeys(t, path), "no record was added")
}

// boltKeys counts the keys of each bucket of the bbolt file at path.
func boltKeys(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	out := map[string]int{}
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			out[string(name)] = b.Stats().KeyN
			return nil
		})
	}))
	return out
}

// boltSize returns the size of the data in the bbolt file at path (its
// high-water mark, which the file grows to fit) and the file's size.
func boltSize(t *testing.T, path string) (data, file int64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error { data = tx.Size(); return nil }))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return data, fi.Size()
}

// failureCounters is what the store holds in the failure counters' bucket.
func failureCounters(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, st.View(ctx, func(tx store.Tx) error {
		return tx.Scan("capture.failures", store.Range{}, func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	}))
	return out
}

func testLifetime(t *testing.T, b teststores.Backend) {
	// Grants that never expire only where allowed.
	strict := newEnv(t, b.Open(t))
	for _, ttl := range []string{"P0T", "0", "PT0S"} {
		_, err := strict.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: strict.key, TTL: ttl})
		require.ErrorIs(t, err, capture.ErrInvalidTTL, ttl)
		require.ErrorContains(t, err, "never expires", ttl)
	}
	e := newEnv(t, b.Open(t), func(c *capture.Config) { c.AllowUnexpiring = true })
	short, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card, TTL: "PT10M"})
	require.NoError(t, err)
	forever, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card, TTL: "P0T"})
	require.NoError(t, err)
	require.True(t, forever.ExpiresAt.IsZero())
	_, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "-PT1M"})
	require.ErrorIs(t, err, capture.ErrInvalidTTL)
	_, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "P1M"})
	require.ErrorIs(t, err, capture.ErrInvalidTTL)

	info, err := e.svc.Check(ctx, short.ID, short.Secret)
	require.NoError(t, err)
	require.False(t, info.Expired(e.clock.Now()))
	e.clock.Advance(10 * time.Minute)
	_, err = e.svc.Redeem(ctx, short.ID, short.Secret, []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrExpired)
	_, err = e.svc.Check(ctx, short.ID, short.Secret)
	require.ErrorIs(t, err, capture.ErrExpired)
	_, err = e.svc.Redeem(ctx, forever.ID, forever.Secret, []byte(`{"cvv":"777"}`))
	require.NoError(t, err)

	// The sweeper removes the expired grant without a request touching it.
	n, err := expiry.NewSweeper(e.st, e.clock.Now, nil).Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = e.svc.Redeem(ctx, short.ID, short.Secret, []byte(`{"cvv":"000"}`))
	require.ErrorIs(t, err, capture.ErrGrantNotFound)
	list, err := e.svc.ListGrants(ctx, "acct", "test-user", "", "", 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, forever.ID, list[0].ID)

	// A deleted grant answers ErrDeleted until its tombstone is swept; then
	// its id is free.
	require.NoError(t, e.svc.DeleteGrant(ctx, "acct", forever.ID))
	_, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, UniqueID: forever.ID})
	require.NoError(t, err, "a deleted grant's id is free again")

	// A maximum lifetime refuses longer grants and eternal ones.
	capped := newEnv(t, b.Open(t), func(c *capture.Config) { c.MaxTTL = time.Hour; c.DefaultTTL = 30 * time.Minute })
	_, err = capped.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: capped.key, TTL: "PT2H"})
	require.ErrorIs(t, err, capture.ErrInvalidTTL)
	_, err = capped.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: capped.key, TTL: "0"})
	require.ErrorIs(t, err, capture.ErrInvalidTTL)
	_, err = capped.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: capped.key, TTL: "PT1H"})
	require.NoError(t, err)

	// A maximum for grants that stand for existing data: locked ones and
	// single-use-token ones; open ones may live longer, and never expire
	// when allowed.
	upd := newEnv(t, b.Open(t), func(c *capture.Config) { c.MaxLockedTTL = 24 * time.Hour; c.AllowUnexpiring = true })
	for _, req := range []capture.GrantRequest{
		{Credentials: upd.key, Lock: &upd.card, TTL: "PT24H1S"},
		{Credentials: upd.key, Lock: &upd.card, TTL: "P0T"},
		{Owner: "k", Terminal: "1234001", TTL: "P2D"},
	} {
		_, err = upd.svc.CreateGrant(ctx, req)
		require.ErrorIs(t, err, capture.ErrInvalidTTL, req.TTL)
		require.ErrorContains(t, err, "24h0m0s", req.TTL)
	}
	g, err := upd.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: upd.key, Lock: &upd.card, TTL: "P1D"})
	require.NoError(t, err)
	require.Equal(t, upd.clock.Now().Add(24*time.Hour), g.ExpiresAt)
	g, err = upd.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: upd.key, TTL: "P30D"})
	require.NoError(t, err, "an open grant has no maximum here")
	require.Equal(t, upd.clock.Now().Add(30*24*time.Hour), g.ExpiresAt)
	g, err = upd.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: upd.key, TTL: "P0T"})
	require.NoError(t, err)
	require.True(t, g.ExpiresAt.IsZero())
	// The default gives way to a shorter maximum.
	short1h := newEnv(t, b.Open(t), func(c *capture.Config) { c.MaxLockedTTL = time.Hour })
	g, err = short1h.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: short1h.key, Lock: &short1h.card})
	require.NoError(t, err)
	require.Equal(t, short1h.clock.Now().Add(time.Hour), g.ExpiresAt)
	g, err = short1h.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: short1h.key})
	require.NoError(t, err)
	require.Equal(t, short1h.clock.Now().Add(capture.DefaultTTL), g.ExpiresAt)
}

// testSingleUseGrant races many redemptions of a single-use grant: exactly
// one writes.
func testSingleUseGrant(t *testing.T, b teststores.Backend) {
	e := newEnv(t, b.Open(t))
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card, SingleUse: true})
	require.NoError(t, err)
	const n = 16
	ok, used := testkit.Race(t, n, func(i int) error {
		_, err := e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"`+string(rune('a'+i))+`"}`))
		return err
	}, isUsed)
	require.Equal(t, 1, ok)
	require.Equal(t, n-1, used)
}

func isUsed(err error) bool { return errors.Is(err, capture.ErrUsed) }

func testSingleUseTokens(t *testing.T, b teststores.Backend) {
	e := newEnv(t, b.Open(t))
	details := []byte(`{"card_number":"4111111111111111","expiry":"12/30","card_holder":"Ada"}`)
	su, err := e.svc.MintSingleUse(ctx, "1234001", details)
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{128}$`, su.Token)
	require.Equal(t, e.clock.Now().Add(30*time.Minute), su.ExpiresAt)

	_, err = e.svc.MintSingleUse(ctx, "12", details)
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	_, err = e.svc.MintSingleUse(ctx, "1234001", nil)
	require.ErrorIs(t, err, cardvault.ErrInvalid)

	// Another terminal cannot use it, a failing use leaves it usable, and
	// then exactly one of many racing uses succeeds.
	nop := func(store.Tx, []byte) error { return nil }
	require.ErrorIs(t, e.svc.RedeemSingleUse(ctx, "9999001", su.Token, nop), capture.ErrTerminal)
	boom := errors.New("boom")
	require.ErrorIs(t, e.svc.RedeemSingleUse(ctx, "1234001", su.Token, func(store.Tx, []byte) error { return boom }), boom)
	var seen atomic.Value
	ok, used := testkit.Race(t, 16, func(int) error {
		return e.svc.RedeemSingleUse(ctx, "1234001", su.Token, func(_ store.Tx, d []byte) error {
			seen.Store(string(d))
			return nil
		})
	}, isUsed)
	require.Equal(t, 1, ok)
	require.Equal(t, 15, used)
	require.Equal(t, string(details), seen.Load())
	require.ErrorIs(t, e.svc.RedeemSingleUse(ctx, "1234001", strings.Repeat("0", 128), nop), capture.ErrTokenNotFound)

	// Expiry, and the sweeper.
	su2, err := e.svc.MintSingleUse(ctx, "1234001", details)
	require.NoError(t, err)
	e.clock.Advance(30 * time.Minute)
	require.ErrorIs(t, e.svc.RedeemSingleUse(ctx, "1234001", su2.Token, nop), capture.ErrExpired)
	n, err := expiry.NewSweeper(e.st, e.clock.Now, nil).Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.ErrorIs(t, e.svc.RedeemSingleUse(ctx, "1234001", su2.Token, nop), capture.ErrTokenNotFound)

	// A single-use-token grant: a browser posts card data, gets a token.
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Owner: "api-key-1", Terminal: "1234001", SingleUse: true})
	require.NoError(t, err)
	res, err := e.svc.Redeem(ctx, g.ID, g.Secret, details)
	require.NoError(t, err)
	require.NotNil(t, res.SingleUse)
	require.Equal(t, "1234001", res.SingleUse.Terminal)
	require.NoError(t, e.svc.RedeemSingleUse(ctx, "1234001", res.SingleUse.Token, func(_ store.Tx, d []byte) error {
		require.JSONEq(t, string(details), string(d))
		return nil
	}))
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, details)
	require.ErrorIs(t, err, capture.ErrUsed)
	list, err := e.svc.ListGrants(ctx, "api-key-1", "", "1234001", "", 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
}

// testGrantsAtRest looks for secrets and card data in what the backend
// wrote: grant secrets, webhook secrets and single-use tokens are stored
// only as hashes or sealed.
func testGrantsAtRest(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	e := newEnv(t, st)
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card,
		Webhook: &capture.Webhook{URL: "http://127.0.0.1:1/hook", Secret: "VeryPrivateWebhookSecret"}})
	require.NoError(t, err)
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"9753"}`))
	require.NoError(t, err)
	su, err := e.svc.MintSingleUse(ctx, "1234001", []byte(`{"card_number":"6011111111111117","cvv":"8642"}`))
	require.NoError(t, err)
	raw := string(b.Raw(t, st))
	require.Contains(t, raw, g.ID, "the scan sees the grant")
	// A CVV is looked for as the JSON string it would be stored as: four
	// bare digits turn up by chance in the hex of tokens and ids.
	testkit.RequireNoSecret(t, raw, g.Secret, "VeryPrivateWebhookSecret", su.Token, `"9753"`, `"8642"`, "6011111111111117", "4111111111111111", "Ada Lovelace")
}

// A single-use-token grant runs what it captured through
// Config.SingleUseDetails; a refusal mints nothing and does not use the
// grant up.
func TestSingleUseDetailsHook(t *testing.T) {
	refused := errors.New("securetoken: /card_number: required")
	e := newEnv(t, teststores.All()[0].Open(t), func(c *capture.Config) {
		c.SingleUseDetails = func(captured []byte) ([]byte, error) {
			if !strings.Contains(string(captured), "card_number") {
				return nil, refused
			}
			return []byte("canonical:" + string(captured)), nil
		}
	})
	g, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Owner: "k", Terminal: "1234001", SingleUse: true})
	require.NoError(t, err)
	_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"123"}`))
	require.ErrorIs(t, err, refused)
	res, err := e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"4111111111111111"}`))
	require.NoError(t, err, "the refused post must not have used the grant up")
	require.NoError(t, e.svc.RedeemSingleUse(ctx, "1234001", res.SingleUse.Token, func(_ store.Tx, d []byte) error {
		require.Equal(t, `canonical:{"card_number":"4111111111111111"}`, string(d))
		return nil
	}))
}

// A store written before package expiry kept capture's own expiry indexes:
// opening the service moves their entries, so the sweeper still finds them.
func TestOldExpiryIndexesAreMoved(t *testing.T) {
	st := teststores.All()[0].Open(t)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	key := binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano()))
	require.NoError(t, st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put("capture.expiry", append(bytes.Clone(key), "grant-id"...), nil); err != nil {
			return err
		}
		return tx.Put("capture.singleuse.expiry", append(bytes.Clone(key), "token-hash"...), nil)
	}))
	newEnv(t, st)
	var entries []string
	require.NoError(t, st.View(ctx, func(tx store.Tx) error {
		for _, old := range []string{"capture.expiry", "capture.singleuse.expiry"} {
			if err := tx.Scan(old, store.Range{}, func(k, _ []byte) error { return fmt.Errorf("%s still holds %q", old, k) }); err != nil {
				return err
			}
		}
		return tx.Scan(expiry.Bucket, store.Range{}, func(k, _ []byte) error {
			// capture's own: the fixture's card has a CVV, whose entry
			// is the vault's.
			if bytes.HasPrefix(k[8:], []byte("capture.")) {
				entries = append(entries, string(k))
			}
			return nil
		})
	}))
	require.ElementsMatch(t, []string{
		string(expiry.EntryKey("capture.grant", []byte("grant-id"), at)),
		string(expiry.EntryKey("capture.singleuse", []byte("token-hash"), at)),
	}, entries)
}

// A capture body is held to the item size limit of the vault the service
// stores into, not to the default one: a vault that takes larger items
// takes them from a capture endpoint too, and over its limit the post is
// refused before the grant is used.
func TestRedeemWithinTheVaultsItemSize(t *testing.T) {
	st := memstore.New()
	kr := testkit.Keyring(t)
	const max = 2 * vault.DefaultMaxItemSize
	v, err := vault.Open(ctx, vault.Config{Store: st, Keyring: kr, WorkFactor: 10, MaxItemSize: max})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	svc, err := capture.New(capture.Config{Store: st, Vault: v, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	key, err := v.CreateKey(ctx, vault.Credentials{Owner: "acct", User: "large", Passphrase: "ALongAndVerySecretPassphraseThatIsSuperSecure"})
	require.NoError(t, err)
	g, err := svc.CreateGrant(ctx, capture.GrantRequest{Credentials: key, TTL: "PT10M", SingleUse: true})
	require.NoError(t, err)

	body := func(n int) []byte {
		return []byte(`{"card_number":"4111111111111111","note":"` + strings.Repeat("x", n) + `"}`)
	}
	_, err = svc.Redeem(ctx, g.ID, g.Secret, body(max))
	require.ErrorIs(t, err, cardvault.ErrTooLarge)
	require.ErrorContains(t, err, fmt.Sprintf("at most %d", max))
	res, err := svc.Redeem(ctx, g.ID, g.Secret, body(vault.DefaultMaxItemSize+1))
	require.NoError(t, err, "over the default limit, within this vault's; the refused post did not use the single-use grant")
	require.Equal(t, "large", res.User)
}
