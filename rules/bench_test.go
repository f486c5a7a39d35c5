package rules_test

import "testing"

// BenchmarkApply: the four-operation rule of the package example (number
// without spaces, expiry month and year, a masked number) over a card.
func BenchmarkApply(b *testing.B) {
	e := engine(b)
	r := rule(b, `[
		{"input": "card_number", "output": "card_number", "operation": "replace", "arguments": {"substr": " "}},
		{"input": "card_expiry", "output": "exp_month", "operation": "substr", "arguments": {"start": 0, "end": 2}},
		{"input": "card_expiry", "output": "exp_year", "operation": "substr", "arguments": {"start": -4}},
		{"input": "card_number", "output": "masked", "operation": "mask"}
	]`)
	doc := []byte(card)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Apply("acme", doc, r); err != nil {
			b.Fatal(err)
		}
	}
}
