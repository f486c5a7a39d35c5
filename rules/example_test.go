package rules_test

import (
	"context"
	"fmt"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/rules"
	"github.com/cardvault/cardvault/store/memstore"
)

// A rule that prepares a card stored as "4111 1111 1111 1111" with
// card_expiry "06-2027" for a PSP that wants the number without spaces and
// the expiry in two fields, and adds a masked number for the merchant's
// own records.
func ExampleEngine_Apply() {
	r, err := rules.Parse([]byte(`[
		{"input": "card_number", "output": "card_number", "operation": "replace", "arguments": {"substr": " "}},
		{"input": "card_expiry", "output": "exp_month", "operation": "substr", "arguments": {"start": 0, "end": 2}},
		{"input": "card_expiry", "output": "exp_year", "operation": "substr", "arguments": {"start": -4}},
		{"input": "card_number", "output": "masked", "operation": "mask"},
		{"input": "cvv", "output": "cvv", "operation": "mask"}
	]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	e := rules.NewEngine(crypto.NewHasherFromKey(crypto.NewDataKey()))
	out, _ := e.Apply("acme", []byte(`{"card_number":"4111 1111 1111 1111","card_expiry":"06-2027","cvv":"737"}`), r)
	fmt.Println(string(out))
	// Output:
	// {"card_number":"4111111111111111","card_expiry":"06-2027","cvv":"***","exp_month":"06","exp_year":"2027","masked":"411111******1111"}
}

// An account keeps rules under ids and runs them by id: here a masked view
// of an item, as GET /v1/vault?rules=masked would return it.
func ExampleService() {
	ctx := context.Background()
	svc, _ := rules.New(rules.Config{Store: memstore.New(), Hasher: crypto.NewHasherFromKey(crypto.NewDataKey())})
	r, _ := rules.Parse([]byte(`[{"input": "card_number", "output": "card_number", "operation": "mask"},
		{"input": "cvv", "output": "cvv", "operation": "mask"}]`))
	if _, err := svc.Create(ctx, "acme", "masked", r); err != nil {
		fmt.Println(err)
		return
	}
	_, err := svc.Create(ctx, "acme", "masked", r)
	fmt.Println(err)
	_, err = svc.Get(ctx, "globex", "masked")
	fmt.Println(err)
	view, _ := svc.Apply(ctx, "acme", []string{"masked"}, []byte(`{"card_number":"4111111111111111","cvv":"737"}`))
	fmt.Println(string(view))
	// Output:
	// rules: a rule with that id exists: conflict: "masked"
	// rules: no such rule: not found: "masked"
	// {"card_number":"411111******1111","cvv":"***"}
}
