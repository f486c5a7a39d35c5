package securetoken_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/patch"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

var ctx = context.Background()

// svcEnv is a secure-token service with a capture service (for single-use
// tokens) and a vault (whose numbers tokens must avoid) on one store.
type svcEnv struct {
	st      *store.Store
	svc     *securetoken.Service
	capture *capture.Service
	vault   *vault.Vault
	keyring string // path of the master key file
}

func newSvc(t testing.TB, st *store.Store, opts ...func(*securetoken.Config)) *svcEnv {
	t.Helper()
	kr, path := testkit.KeyringFile(t)
	return openSvc(t, st, kr, path, opts...)
}

func openSvc(t testing.TB, st *store.Store, kr *crypto.Keyring, path string, opts ...func(*securetoken.Config)) *svcEnv {
	t.Helper()
	v, err := vault.Open(ctx, vault.Config{Store: st, Keyring: kr, WorkFactor: 10})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	cs, err := capture.New(capture.Config{Store: st, Vault: v, SingleUseDetails: securetoken.CapturedSource})
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	cfg := securetoken.Config{Store: st, Keyring: kr, Capture: cs, NumberInUse: v.HoldsNumber}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := securetoken.Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	return &svcEnv{st: st, svc: svc, capture: cs, vault: v, keyring: path}
}

func contract(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "contract", name))
	require.NoError(t, err)
	return b
}

// seedRequest is the contract's create example: the seed's customer with a
// keyed card.
func seedRequest(t testing.TB, id string) securetoken.CreateRequest {
	t.Helper()
	req, err := securetoken.ParseCreateRequest(contract(t, "createSecureToken.request.createSecureToken.json"))
	require.NoError(t, err)
	req.SecureTokenID = id
	return req
}

func resourceJSON(t testing.TB, r securetoken.Resource) map[string]any {
	t.Helper()
	b, err := json.Marshal(r)
	require.NoError(t, err)
	return testkit.Object(t, b)
}

func TestService(t *testing.T) {
	teststores.Cases(t, map[string]func(*testing.T, teststores.Backend){
		"create variants":        testCreateVariants,
		"tokens":                 testTokens,
		"patch":                  testPatch,
		"immutable paths":        testImmutable,
		"concurrent patches":     testConcurrentPatches,
		"update-account once":    testUpdateAccount,
		"list":                   testList,
		"terminals are isolated": testIsolation,
		"delete":                 testDelete,
		"at rest":                testAtRest,
		"rotation":               testRotation,
	})
}

func testCreateVariants(t *testing.T, b teststores.Backend) {
	e := newSvc(t, b.Open(t))
	card, err := e.svc.Create(ctx, "1234001", seedRequest(t, "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"), nil)
	require.NoError(t, err)
	m := resourceJSON(t, card)
	require.Equal(t, "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa", m["secureTokenId"])
	require.Equal(t, "1234001", m["processingTerminalId"])
	require.Equal(t, "notValidated", m["status"])
	src := m["source"].(map[string]any)
	require.Equal(t, "card", src["type"])
	require.Regexp(t, `^\d{6}\*+\d{4}$`, src["cardNumber"], "cards are masked first six, last four")
	require.NotContains(t, src, "cvv")

	for _, tc := range []struct{ name, body, masked string }{
		{"ach", `{"source":{"type":"ach","nameOnAccount":"Sarah Hopper","accountNumber":"1234567890","routingNumber":"011000015","accountType":"checking"}}`, "*****7890"},
		{"pad", `{"source":{"type":"pad","nameOnAccount":"Sarah Hopper","accountNumber":"12345678","transitNumber":"12345","institutionNumber":"001"}}`, "*****5678"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := securetoken.ParseCreateRequest([]byte(tc.body))
			require.NoError(t, err)
			res, err := e.svc.Create(ctx, "1234001", req, nil)
			require.NoError(t, err)
			m := resourceJSON(t, res)
			require.True(t, strings.HasPrefix(m["secureTokenId"].(string), "MREF_"), "a generated id")
			require.Equal(t, tc.masked, m["source"].(map[string]any)["accountNumber"])
			got, err := e.svc.Retrieve(ctx, "1234001", res.SecureTokenID)
			require.NoError(t, err)
			require.Equal(t, res, got)
		})
	}

	// singleUseToken: minted by the single-use-token route, used once.
	sreq, err := securetoken.ParseSingleUseTokenRequest(contract(t, "createSingleUseToken.request.createSingleUseToken.json"))
	require.NoError(t, err)
	su, err := e.svc.CreateSingleUseToken(ctx, "1234001", sreq, nil)
	require.NoError(t, err)
	require.Len(t, su.Token, 128)
	body := fmt.Sprintf(`{"secureTokenId":"from-single-use","source":{"type":"singleUseToken","token":%q}}`, su.Token)
	req, err := securetoken.ParseCreateRequest([]byte(body))
	require.NoError(t, err)
	res, err := e.svc.Create(ctx, "1234001", req, nil)
	require.NoError(t, err)
	require.Equal(t, "card", string(res.Source.Type))
	req.SecureTokenID = "again"
	_, err = e.svc.Create(ctx, "1234001", req, nil)
	var bad *cardvault.InvalidError
	require.ErrorAs(t, err, &bad)
	require.Equal(t, "/source/token", bad.Fields[0].Field)
	require.Equal(t, "already used", bad.Fields[0].Detail)
	_, err = e.svc.Retrieve(ctx, "1234001", "again")
	require.ErrorIs(t, err, securetoken.ErrNotFound, "a refused create stores nothing")

	// Duplicate ids are refused, on the same terminal only.
	_, err = e.svc.Create(ctx, "1234001", seedRequest(t, "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"), nil)
	require.ErrorIs(t, err, securetoken.ErrExists)
	_, err = e.svc.Create(ctx, "9999001", seedRequest(t, "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"), nil)
	require.NoError(t, err)
	_, err = e.svc.Create(ctx, "12", seedRequest(t, "x"), nil)
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	_, err = e.svc.Create(ctx, "1234001", seedRequest(t, "a/b"), nil)
	require.ErrorIs(t, err, cardvault.ErrInvalid)
}

func testTokens(t *testing.T, b teststores.Backend) {
	e := newSvc(t, b.Open(t))
	seen := map[string]bool{}
	for i := range 20 {
		res, err := e.svc.Create(ctx, "1234001", seedRequest(t, fmt.Sprint("t", i)), nil)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(res.Token, "296753"))
		require.Len(t, res.Token, 16)
		require.True(t, luhn.Valid(res.Token))
		require.False(t, seen[res.Token], "tokens are unique")
		seen[res.Token] = true
	}

	// A configured prefix and length; and a token never equals a card number
	// held elsewhere: in a 12-digit token space of 1,000 numbers, half of
	// them "held", every token drawn is one of the other half.
	var asked atomic.Int32
	short := newSvc(t, b.Open(t), func(c *securetoken.Config) {
		c.TokenPrefix, c.TokenLength = "55555555", 12
		c.NumberInUse = func(_ context.Context, n string) (bool, error) {
			asked.Add(1)
			return (n[8]-'0')%2 == 0, nil // pretend numbers with an even ninth digit are cards
		}
	})
	const n = 20
	for i := range n {
		res, err := short.svc.Create(ctx, "1234001", seedRequest(t, fmt.Sprint("s", i)), nil)
		require.NoError(t, err)
		require.Equal(t, "55555555", res.Token[:8])
		require.Equal(t, 1, int(res.Token[8]-'0')%2)
		require.Len(t, res.Token, 12)
	}
	// Each draw is asked about once it is free of tokens; that some draws
	// were refused (and redrawn) fails with probability 2^-20.
	require.Greater(t, asked.Load(), int32(n))
	_, err := securetoken.Open(ctx, securetoken.Config{Store: memstoreFor(t), Keyring: testkit.Keyring(t), TokenPrefix: "1234567890", TokenLength: 12})
	require.Error(t, err, "a prefix that leaves too few random digits is refused")
}

// The seed's PATCH: its first op is valid, its other two name paths that do
// not exist. The patch fails as a whole, naming both bad paths and the
// paths they meant; nothing changes.
func testPatch(t *testing.T, b teststores.Backend) {
	e := newSvc(t, b.Open(t))
	id := "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"
	before, err := e.svc.Create(ctx, "1234001", seedRequest(t, id), nil)
	require.NoError(t, err)

	seedPatch := `[{"op":"add","path":"/customer/lastName","value":null},
		{"op":"add","path":"/shippingAddress/recipientName","value":null},
		{"op":"add","path":"/source/cardDetails/cardholderName","value":null}]`
	_, err = e.svc.Patch(ctx, "1234001", id, []byte(seedPatch), nil)
	var bad *cardvault.InvalidError
	require.ErrorAs(t, err, &bad)
	require.Len(t, bad.Fields, 2)
	require.Equal(t, "/shippingAddress/recipientName", bad.Fields[0].Field)
	require.Equal(t, "op 1 (add), its path: names no member of a secure token; the nearest valid path is /customer/shippingAddress/recipientName", bad.Fields[0].Message)
	require.Equal(t, "/source/cardDetails/cardholderName", bad.Fields[1].Field)
	require.Contains(t, bad.Fields[1].Message, "op 2 (add), its path: ")
	require.Contains(t, bad.Fields[1].Message, "the nearest valid path is /source/cardholderName")
	// A move or copy's from too, with its path.
	_, err = e.svc.Patch(ctx, "1234001", id, []byte(`[{"op":"copy","from":"/customer/name","path":"/customer/nickname"}]`), nil)
	require.ErrorAs(t, err, &bad)
	require.Equal(t, []string{"/customer/nickname", "/customer/name"}, testkit.InvalidFields(t, err))
	require.Contains(t, bad.Fields[1].Message, "op 0 (copy), its from: ")
	after, err := e.svc.Retrieve(ctx, "1234001", id)
	require.NoError(t, err)
	require.Equal(t, before, after, "a failed patch changes nothing")

	// The seed's intent, on the right paths (null is absent: the fields go).
	res, err := e.svc.Patch(ctx, "1234001", id, []byte(`[
		{"op":"test","path":"/customer/firstName","value":"Sarah"},
		{"op":"replace","path":"/customer/lastName","value":"Hopper-Smith"},
		{"op":"remove","path":"/customer/shippingAddress/recipientName"},
		{"op":"replace","path":"/source/cardholderName","value":"Sarah H. Hopper"},
		{"op":"replace","path":"/source/expiryDate","value":"0130"},
		{"op":"add","path":"/customFields/-","value":{"name":"loyalty","value":"gold"}},
		{"op":"replace","path":"/mitAgreement","value":"recurring"}]`), nil)
	require.NoError(t, err)
	m := resourceJSON(t, res)
	require.Equal(t, "Hopper-Smith", m["customer"].(map[string]any)["lastName"])
	require.NotContains(t, m["customer"].(map[string]any)["shippingAddress"], "recipientName")
	require.Equal(t, "Sarah H. Hopper", m["source"].(map[string]any)["cardholderName"])
	require.Equal(t, "0130", m["source"].(map[string]any)["expiryDate"])
	require.Equal(t, "recurring", m["mitAgreement"])
	require.Equal(t, before.Token, res.Token)
	require.Equal(t, before.Source.Card.CardNumber, res.Source.Card.CardNumber)
	got, err := e.svc.Retrieve(ctx, "1234001", id)
	require.NoError(t, err)
	require.Equal(t, res, got)

	// A failed test is a conflict; an invalid result is refused with its
	// faults; a malformed patch is invalid. None changes anything.
	for _, tc := range []struct {
		name, ops string
		want      error
	}{
		{"test fails", `[{"op":"test","path":"/customer/firstName","value":"Ada"},{"op":"replace","path":"/customer/lastName","value":"X"}]`, patch.ErrTestFailed},
		{"invalid result", `[{"op":"replace","path":"/customer/dateOfBirth","value":"1990-13-45"}]`, cardvault.ErrInvalid},
		{"too long", `[{"op":"replace","path":"/customer/lastName","value":"` + strings.Repeat("x", 61) + `"}]`, cardvault.ErrInvalid},
		{"bad enum", `[{"op":"replace","path":"/mitAgreement","value":"sometimes"}]`, cardvault.ErrInvalid},
		{"not a patch", `{"op":"add"}`, cardvault.ErrInvalid},
		{"unknown op", `[{"op":"merge","path":"/customer"}]`, cardvault.ErrInvalid},
		{"unknown member", `[{"op":"add","path":"/nickname","value":"x"}]`, cardvault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Patch(ctx, "1234001", id, []byte(tc.ops), nil)
			require.ErrorIs(t, err, tc.want)
			after, err := e.svc.Retrieve(ctx, "1234001", id)
			require.NoError(t, err)
			require.Equal(t, got, after)
		})
	}
	_, err = e.svc.Patch(ctx, "1234001", "nope", []byte(`[]`), nil)
	require.ErrorIs(t, err, securetoken.ErrNotFound)

	// A card number in a patch's pointers or member names is not echoed
	// by its faults, as it is not in a create request's.
	for name, ops := range map[string]string{
		"duplicate member in a value": `[{"op":"add","path":"/customFields/-","value":{"name":"x","` + testPAN + `":1,"` + testPAN + `":2}}]`,
		"not a pointer":               `[{"op":"add","path":"` + testPAN + `","value":1}]`,
		"bad escape":                  `[{"op":"add","path":"/customer/` + testPAN + `~2","value":1}]`,
		"move into its own child":     `[{"op":"move","from":"/customer/` + testPAN + `","path":"/customer/` + testPAN + `/x"}]`,
		"unknown path":                `[{"op":"remove","path":"/customer/` + testPAN + `"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.svc.Patch(ctx, "1234001", id, []byte(ops), nil)
			require.ErrorIs(t, err, cardvault.ErrInvalid)
			testkit.RequireNoSecret(t, err.Error(), testPAN)
		})
	}
}

// Every immutable member, by every op that could change or read it, is
// refused with ErrImmutable and changes nothing.
func testImmutable(t *testing.T, b teststores.Backend) {
	e := newSvc(t, b.Open(t))
	card, err := e.svc.Create(ctx, "1234001", seedRequest(t, "card"), nil)
	require.NoError(t, err)
	achReq, err := securetoken.ParseCreateRequest([]byte(`{"secureTokenId":"ach","source":{"type":"ach","nameOnAccount":"S","accountNumber":"1234567890","routingNumber":"011000015"}}`))
	require.NoError(t, err)
	ach, err := e.svc.Create(ctx, "1234001", achReq, nil)
	require.NoError(t, err)
	padReq, err := securetoken.ParseCreateRequest([]byte(`{"secureTokenId":"pad","source":{"type":"pad","nameOnAccount":"S","accountNumber":"1234567","transitNumber":"12345","institutionNumber":"001"}}`))
	require.NoError(t, err)
	pad, err := e.svc.Create(ctx, "1234001", padReq, nil)
	require.NoError(t, err)

	for _, r := range []securetoken.Resource{card, ach, pad} {
		for _, p := range securetoken.PolicyFor(r.Source.Type).ImmutablePaths() {
			for _, op := range []string{
				`{"op":"replace","path":%q,"value":"1"}`,
				`{"op":"remove","path":%q}`,
				`{"op":"copy","from":%q,"path":"/customer/lastName"}`,
				`{"op":"move","from":"/customer/lastName","path":%q}`,
			} {
				ops := "[" + fmt.Sprintf(op, p) + "]"
				t.Run(r.SecureTokenID+ops, func(t *testing.T) {
					_, err := e.svc.Patch(ctx, "1234001", r.SecureTokenID, []byte(ops), nil)
					require.ErrorIs(t, err, securetoken.ErrImmutable)
					after, err := e.svc.Retrieve(ctx, "1234001", r.SecureTokenID)
					require.NoError(t, err)
					require.Equal(t, r, after)
				})
			}
		}
	}
	_, err = e.svc.Patch(ctx, "1234001", "card", []byte(`[{"op":"replace","path":"/source","value":{}}]`), nil)
	require.ErrorIs(t, err, securetoken.ErrImmutable, "replacing a container of immutable members")
	_, err = e.svc.Patch(ctx, "1234001", "card", []byte(`[{"op":"replace","path":"","value":{}}]`), nil)
	require.ErrorIs(t, err, securetoken.ErrImmutable, "replacing the whole document")
}

func testConcurrentPatches(t *testing.T, b teststores.Backend) {
	e := newSvc(t, b.Open(t))
	_, err := e.svc.Create(ctx, "1234001", seedRequest(t, "c"), nil)
	require.NoError(t, err)
	const n = 16
	testkit.Concurrently(t, n, func(i int) error {
		_, err := e.svc.Patch(ctx, "1234001", "c", fmt.Appendf(nil, `[{"op":"add","path":"/customFields/-","value":{"name":"f%d","value":"v"}}]`, i), nil)
		return err
	})
	res, err := e.svc.Retrieve(ctx, "1234001", "c")
	require.NoError(t, err)
	var names []string
	for _, f := range res.CustomFields {
		names = append(names, f.Name)
	}
	for i := range n {
		require.Contains(t, names, fmt.Sprint("f", i), "patch %d was lost", i)
	}
}

// update-account replaces only the payment details, and a single-use token
// is used once however many requests race for it.
func testUpdateAccount(t *testing.T, b teststores.Backend) {
	e := newSvc(t, b.Open(t))
	id := "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"
	before, err := e.svc.Create(ctx, "1234001", seedRequest(t, id), nil)
	require.NoError(t, err)
	_, err = e.svc.Patch(ctx, "1234001", id, []byte(`[{"op":"replace","path":"/mitAgreement","value":"installment"}]`), nil)
	require.NoError(t, err)

	// The hosted-form path: a single-use-token grant captures card fields.
	g, err := e.capture.CreateGrant(ctx, capture.GrantRequest{Owner: "api", Terminal: "1234001", SingleUse: true})
	require.NoError(t, err)
	_, err = e.capture.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"4111111111111112","card_holder":"S","expiry":"12/30"}`))
	var bad *cardvault.InvalidError
	require.ErrorAs(t, err, &bad, "a Luhn-invalid card is refused when captured")
	require.Equal(t, "/card_number", bad.Fields[0].Field)
	got, err := e.capture.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"5555 5555 5555 4444","card_holder":"Sarah Hopper","expiry":"12/30","cvv":"123"}`))
	require.NoError(t, err)
	tok := got.SingleUse.Token

	const racers = 8
	ok, used := testkit.Race(t, racers, func(int) error {
		_, err := e.svc.UpdateAccount(ctx, "1234001", id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: tok}, nil)
		return err
	}, func(err error) bool {
		var bad *cardvault.InvalidError
		return errors.As(err, &bad) && bad.Fields[0].Detail == "already used"
	})
	require.Equal(t, 1, ok)
	require.Equal(t, racers-1, used)

	after, err := e.svc.Retrieve(ctx, "1234001", id)
	require.NoError(t, err)
	require.Equal(t, "555555******4444", after.Source.Card.CardNumber.Masked())
	require.Equal(t, "1230", after.Source.Card.ExpiryDate)
	require.Equal(t, "Mastercard", after.Source.Card.CardType)
	require.Equal(t, before.Customer, after.Customer, "contact details stay")
	require.Equal(t, before.CustomFields, after.CustomFields)
	require.Equal(t, "installment", string(after.MITAgreement), "mitAgreement stays")
	require.Equal(t, before.Token, after.Token, "the secure token stays")

	// A token for another terminal, or for a token that does not exist,
	// leaves the single-use token usable.
	su, err := e.capture.MintSingleUse(ctx, "1234001", mustSource(t, `{"card_number":"4242424242424242","card_holder":"S","expiry":"01/31"}`))
	require.NoError(t, err)
	_, err = e.svc.UpdateAccount(ctx, "9999001", id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: su.Token}, nil)
	require.ErrorIs(t, err, securetoken.ErrNotFound)
	_, err = e.svc.UpdateAccount(ctx, "1234001", "nope", securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: su.Token}, nil)
	require.ErrorIs(t, err, securetoken.ErrNotFound)
	// A single-use token that does not exist, or is another terminal's,
	// is not found — the two alike — and changes nothing.
	other, err := e.svc.Create(ctx, "9999001", seedRequest(t, id), nil)
	require.NoError(t, err)
	_, err = e.svc.UpdateAccount(ctx, "9999001", id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: su.Token}, nil)
	require.ErrorIs(t, err, securetoken.ErrSingleUseNotFound)
	require.ErrorIs(t, err, cardvault.ErrNotFound)
	_, err = e.svc.UpdateAccount(ctx, "1234001", id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: strings.Repeat("ab", 64)}, nil)
	require.ErrorIs(t, err, securetoken.ErrSingleUseNotFound)
	got9, err := e.svc.Retrieve(ctx, "9999001", id)
	require.NoError(t, err)
	require.Equal(t, other, got9)

	_, err = e.svc.UpdateAccount(ctx, "1234001", id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: su.Token}, nil)
	require.NoError(t, err)
}

func mustSource(t testing.TB, captured string) []byte {
	t.Helper()
	b, err := securetoken.CapturedSource([]byte(captured))
	require.NoError(t, err)
	return b
}

func testList(t *testing.T, b teststores.Backend) {
	e := newSvc(t, b.Open(t))
	mk := func(id, first, last, email, phone, number string) securetoken.Resource {
		body := fmt.Sprintf(`{"secureTokenId":%q,"customer":{"firstName":%q,"lastName":%q,"contactMethods":[{"type":"email","value":%q},{"type":"phone","value":%q}]},
			"source":{"type":"card","cardDetails":{"entryMethod":"keyed","keyedData":{"dataFormat":"plainText","cardNumber":%q,"expiryDate":"1230"},"cardholderName":"%s %s"}}}`,
			id, first, last, email, phone, number, first, last)
		req, err := securetoken.ParseCreateRequest([]byte(body))
		require.NoError(t, err, id)
		res, err := e.svc.Create(ctx, "1234001", req, nil)
		require.NoError(t, err, id)
		return res
	}
	var all []securetoken.Resource
	for i := range 25 {
		number := "4242424242424242"
		if i%5 == 0 {
			number = "5555555555554444"
		}
		all = append(all, mk(fmt.Sprintf("id-%02d", i), "Sarah", fmt.Sprintf("Hopper%d", i%3), fmt.Sprintf("S%d@Example.com", i%4), fmt.Sprintf("+1202555-01%02d", i%2), number))
	}
	list := func(q securetoken.ListQuery) securetoken.Page {
		t.Helper()
		p, err := e.svc.List(ctx, "1234001", q)
		require.NoError(t, err)
		return p
	}
	ids := func(p securetoken.Page) []string {
		var out []string
		for _, r := range p.Items {
			out = append(out, r.SecureTokenID)
		}
		return out
	}

	// Paging through everything, forward then back, while tokens are added.
	var seen []string
	q := securetoken.ListQuery{Limit: 7}
	for page := 0; ; page++ {
		p := list(q)
		seen = append(seen, ids(p)...)
		if page == 1 {
			mk("id-00a", "X", "Y", "x@y.z", "1", "4242424242424242") // before the cursor: not seen
			mk("id-99", "X", "Y", "x@y.z", "1", "4242424242424242")  // after: seen
		}
		if !p.HasMore {
			require.Empty(t, p.Next)
			break
		}
		require.Equal(t, p.Items[len(p.Items)-1].SecureTokenID, p.Next)
		q.After = p.Next
	}
	want := []string{}
	for _, r := range all {
		want = append(want, r.SecureTokenID)
	}
	want = append(want, "id-99")
	require.Equal(t, want, seen, "every token once, in id order")

	back := list(securetoken.ListQuery{Limit: 10, Before: "id-20"})
	require.Equal(t, []string{"id-10", "id-11", "id-12", "id-13", "id-14", "id-15", "id-16", "id-17", "id-18", "id-19"}, ids(back))
	require.True(t, back.HasMore)
	require.Equal(t, "id-10", back.Previous)
	require.Equal(t, "id-19", back.Next)
	first := list(securetoken.ListQuery{Limit: 3})
	require.Empty(t, first.Previous)
	second := list(securetoken.ListQuery{Limit: 3, After: first.Next})
	require.Equal(t, second.Items[0].SecureTokenID, second.Previous)

	// Filters, from the blind indexes, alone and together, with paging.
	byName := list(securetoken.ListQuery{CustomerName: "  sarah   HOPPER1 ", Limit: 100})
	require.Len(t, byName.Items, 8, "ids 1,4,7,...,22 (i%3==1)")
	byEmail := list(securetoken.ListQuery{Email: "s2@example.COM", Limit: 100})
	require.Equal(t, []string{"id-02", "id-06", "id-10", "id-14", "id-18", "id-22"}, ids(byEmail))
	both := list(securetoken.ListQuery{Email: "s2@example.com", Phone: "+12025550100", Limit: 100})
	require.Equal(t, []string{"id-02", "id-06", "id-10", "id-14", "id-18", "id-22"}, ids(both))
	none := list(securetoken.ListQuery{Email: "s2@example.com", Phone: "12025550101", Limit: 100})
	require.Empty(t, none.Items)
	mc := list(securetoken.ListQuery{First6: "555555", Last4: "4444", Limit: 2})
	require.Equal(t, []string{"id-00", "id-05"}, ids(mc))
	require.True(t, mc.HasMore)
	mc2 := list(securetoken.ListQuery{First6: "555555", Last4: "4444", Limit: 2, After: mc.Next})
	require.Equal(t, []string{"id-10", "id-15"}, ids(mc2))
	byToken := list(securetoken.ListQuery{Token: all[3].Token})
	require.Equal(t, []string{"id-03"}, ids(byToken))
	byID := list(securetoken.ListQuery{SecureTokenID: "id-04", Last4: "4242"})
	require.Equal(t, []string{"id-04"}, ids(byID))
	byIDMismatch := list(securetoken.ListQuery{SecureTokenID: "id-05", Last4: "4242"})
	require.Empty(t, byIDMismatch.Items)

	// A patch moves the token in the indexes.
	_, err := e.svc.Patch(ctx, "1234001", "id-02", []byte(`[{"op":"replace","path":"/customer/contactMethods/0/value","value":"new@example.com"}]`), nil)
	require.NoError(t, err)
	require.NotContains(t, ids(list(securetoken.ListQuery{Email: "s2@example.com", Limit: 100})), "id-02")
	require.Equal(t, []string{"id-02"}, ids(list(securetoken.ListQuery{Email: "NEW@example.com"})))

	p, err := e.svc.List(ctx, "7777001", securetoken.ListQuery{})
	require.NoError(t, err)
	require.Empty(t, p.Items, "a terminal with no tokens lists none")
	_, err = e.svc.List(ctx, "1234001", securetoken.ListQuery{Limit: 101})
	require.ErrorIs(t, err, cardvault.ErrInvalid)
}

func testIsolation(t *testing.T, b teststores.Backend) {
	e := newSvc(t, b.Open(t))
	a, err := e.svc.Create(ctx, "1111001", seedRequest(t, "shared-id"), nil)
	require.NoError(t, err)
	_, err = e.svc.Create(ctx, "2222001", seedRequest(t, "b-only"), nil)
	require.NoError(t, err)

	_, err = e.svc.Retrieve(ctx, "2222001", "shared-id")
	require.ErrorIs(t, err, securetoken.ErrNotFound)
	_, err = e.svc.Patch(ctx, "2222001", "shared-id", []byte(`[{"op":"replace","path":"/customer/lastName","value":"X"}]`), nil)
	require.ErrorIs(t, err, securetoken.ErrNotFound)
	require.ErrorIs(t, e.svc.Delete(ctx, "2222001", "shared-id", nil), securetoken.ErrNotFound)
	p, err := e.svc.List(ctx, "2222001", securetoken.ListQuery{Token: a.Token})
	require.NoError(t, err)
	require.Empty(t, p.Items)
	p, err = e.svc.List(ctx, "2222001", securetoken.ListQuery{Limit: 100})
	require.NoError(t, err)
	require.Len(t, p.Items, 1)
	require.Equal(t, "b-only", p.Items[0].SecureTokenID)
	still, err := e.svc.Retrieve(ctx, "1111001", "shared-id")
	require.NoError(t, err)
	require.Equal(t, a, still)
}

func testDelete(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	e := newSvc(t, st)
	res, err := e.svc.Create(ctx, "1234001", seedRequest(t, "gone"), nil)
	require.NoError(t, err)
	require.NoError(t, e.svc.Delete(ctx, "1234001", "gone", nil))
	_, err = e.svc.Retrieve(ctx, "1234001", "gone")
	require.ErrorIs(t, err, securetoken.ErrNotFound)
	require.ErrorIs(t, e.svc.Delete(ctx, "1234001", "gone", nil), securetoken.ErrNotFound)
	_, err = e.svc.Create(ctx, "1234001", seedRequest(t, "gone"), nil)
	require.ErrorIs(t, err, securetoken.ErrIDRetired, "a deleted id is never reused")
	p, err := e.svc.List(ctx, "1234001", securetoken.ListQuery{Token: res.Token})
	require.NoError(t, err)
	require.Empty(t, p.Items)
}

// testAtRest stores known values and scans everything the backend wrote.
func testAtRest(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	e := newSvc(t, st)
	req, err := securetoken.ParseCreateRequest([]byte(`{"secureTokenId":"scan","customer":{"firstName":"Philomena","lastName":"Quackenbush",
		"contactMethods":[{"type":"email","value":"philomena.q@example.org"},{"type":"phone","value":"+1 202 555 0199"}]},
		"source":{"type":"card","cardDetails":{"entryMethod":"keyed","cardholderName":"Philomena Quackenbush","keyedData":{"dataFormat":"plainText","cardNumber":"6011000990139424","expiryDate":"1230","cvv":"9182"}}}}`))
	require.NoError(t, err)
	_, err = e.svc.Create(ctx, "1234001", req, nil)
	require.NoError(t, err)
	achReq, err := securetoken.ParseCreateRequest([]byte(`{"secureTokenId":"scan-ach","source":{"type":"ach","nameOnAccount":"Philomena Quackenbush","accountNumber":"98765432101","routingNumber":"011000015"}}`))
	require.NoError(t, err)
	_, err = e.svc.Create(ctx, "1234001", achReq, nil)
	require.NoError(t, err)
	_, err = e.svc.Patch(ctx, "1234001", "scan", []byte(`[{"op":"replace","path":"/customer/lastName","value":"Quackenbush-Smythe"}]`), nil)
	require.NoError(t, err)

	raw := string(b.Raw(t, st))
	require.Contains(t, raw, "scan-ach", "the scan sees the store")
	// A CVV is looked for as the JSON string it would be stored as: four
	// bare digits turn up by chance in the hex of tokens and ids.
	testkit.RequireNoSecret(t, raw, "6011000990139424", `"9182"`, "98765432101", "Philomena", "Quackenbush", "philomena.q@example.org", "2025550199", "555 0199")
}

func testRotation(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	e := newSvc(t, st)
	res, err := e.svc.Create(ctx, "1234001", seedRequest(t, "r"), nil)
	require.NoError(t, err)
	rotated, err := crypto.RotateKeyringFile(e.keyring)
	require.NoError(t, err)
	e2 := openSvc(t, st, rotated, e.keyring)
	n, err := e2.svc.RewrapMasterKey(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the index key and one terminal key")
	_, err = e2.vault.RewrapMasterKey(ctx)
	require.NoError(t, err)
	onlyNew := testkit.CurrentOnly(t, e.keyring)
	e3 := openSvc(t, st, onlyNew, e.keyring)
	got, err := e3.svc.Retrieve(ctx, "1234001", "r")
	require.NoError(t, err)
	require.Equal(t, res, got)
	p, err := e3.svc.List(ctx, "1234001", securetoken.ListQuery{Token: res.Token})
	require.NoError(t, err)
	require.Len(t, p.Items, 1, "the blind indexes survive a rotation")
}

func memstoreFor(t testing.TB) *store.Store { return teststores.All()[0].Open(t) }
