package proxy_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/mask"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/proxy"
)

func TestMaskAnswer(t *testing.T) {
	numbers := []string{"4242424242424242", "000123456789"}
	for _, c := range []struct{ in, want string }{
		{`{"number":"4242424242424242","cvc":"737","amount":1737}`, `{"number":"424242******4242","cvc":"***","amount":1737}`},
		{"n=4242+4242+4242+4242", "n=4242+42**+****+4242"},
		{"pan 4242.4242.4242.4242", "pan 4242.42**.****.4242"},
		{"other card 4000 0566 5566 5556", "other card 4000 05** **** 5556"},
		{`{"account":"000123456789"}`, `{"account":"********6789"}`},
		{"embedded x4242424242424242000y", "embedded x***************2000y"},
		{`{"created":1700000000}`, `{"created":1700000000}`},
		{"737-1234", "737-1234"}, // a run, not the CVV standing alone
	} {
		got := proxy.MaskAnswer(numbers, []string{"737"}, c.in)
		require.Equal(t, c.want, got, c.in)
		require.Len(t, got, len(c.in), "the answer keeps its length")
	}
}

// FuzzMaskAnswer: after masking, no digit run of the answer is a card
// number, none holds the item's number, and no run is the CVV; the answer
// keeps its length.
func FuzzMaskAnswer(f *testing.F) {
	for _, s := range []string{`{"n":"4242424242424242"}`, "4242 4242 4242 4242", "a737b", "n=4242+4242+4242+4242", "4242-4242.4242+4242", "x4242424242424242x"} {
		f.Add(s)
	}
	numbers, cvvs := []string{"4242424242424242"}, []string{"737"}
	f.Fuzz(func(t *testing.T, s string) {
		out := proxy.MaskAnswer(numbers, cvvs, s)
		require.Len(t, out, len(s))
		mask.Runs(out, 1, func(run, digits string) string {
			require.False(t, luhn.IsCardNumber(digits), "a card number is left in %q", out)
			require.NotEqual(t, "737", run, "the CVV is left in %q", out)
			return run
		})
		mask.RunsWith(out, " -+.", 1, func(run, digits string) string {
			require.False(t, strings.Contains(digits, numbers[0]), "the item's number is left in %q", out)
			return run
		})
	})
}
