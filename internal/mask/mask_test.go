package mask_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/mask"
	"github.com/cardvault/cardvault/luhn"
)

func TestCard(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"4539858876047062", "453985******7062"},
		{"378282246310005", "378282*****0005"},
		{"4000056655665556123", "400005*********6123"},
		{"123456789012", "123456**9012"},
		{"12345678901", "***********"}, // too short to keep ten
		{"737", "***"},
		{"", ""},
		{"453985******7062", "453985******7062"}, // idempotent
	} {
		require.Equal(t, c.want, mask.Card(c.in), c.in)
		require.Equal(t, mask.Card(c.in), mask.Card(mask.Card(c.in)), "idempotent: %s", c.in)
	}
}

func TestAccount(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"000123456789", "*****6789"},
		{"12345678", "*****5678"},
		{"1234567", "*****567"},
		{"1234", "*****34"},
		{"1", "*****"},
		{"", ""},
		{"*****6789", "*****6789"},
	} {
		require.Equal(t, c.want, mask.Account(c.in), c.in)
		require.Equal(t, mask.Account(c.in), mask.Account(mask.Account(c.in)), "idempotent: %s", c.in)
	}
}

func TestShownDigits(t *testing.T) {
	require.Equal(t, "453985", mask.CardFirst6("4539858876047062"))
	require.Equal(t, "7062", mask.CardLast4("4539858876047062"))
	require.Empty(t, mask.CardFirst6("12345678901"))
	require.Empty(t, mask.CardLast4("12345678901"))
	require.Equal(t, "5929", mask.AccountLast4("0012345929"))
	require.Empty(t, mask.AccountLast4("1234567"), "a short account shows fewer than four")
	// What they return is what the masks show.
	for _, n := range []string{"4539858876047062", "371449635398431", "0012345929", "12345678"} {
		if d := mask.CardLast4(n); d != "" {
			require.True(t, strings.HasSuffix(mask.Card(n), d))
			require.True(t, strings.HasPrefix(mask.Card(n), mask.CardFirst6(n)))
		}
		if d := mask.AccountLast4(n); d != "" {
			require.True(t, strings.HasSuffix(mask.Account(n), d))
		}
	}
}

func TestCardNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"card 4242 4242 4242 4242 ok":     "card 4242 42** **** 4242 ok",
		"qty 1 4111 1111 1111 1111":       "qty 1 4111 11** **** 1111", // a digit in front hides nothing
		"order 12345678901234 and 424242": "order 12345678901234 and 424242",
		"4242424242424242":                "424242******4242",
	} {
		require.Equal(t, want, mask.CardNumbers(in), in)
	}
}

// Replace splices what replace returns into the text, range by range, and
// keeps a range replace returns as it is.
func TestReplace(t *testing.T) {
	ranges := func(rs ...[2]int) func(yield func(int, int) bool) {
		return func(yield func(int, int) bool) {
			for _, r := range rs {
				if !yield(r[0], r[1]) {
					return
				}
			}
		}
	}
	upper := func(run string) string { return strings.ToUpper(run) }
	s := "abc def ghi"
	for _, c := range []struct {
		name string
		rs   [][2]int
		want string
	}{
		{"none", nil, s},
		{"first", [][2]int{{0, 3}}, "ABC def ghi"},
		{"last", [][2]int{{8, 11}}, "abc def GHI"},
		{"several", [][2]int{{0, 3}, {4, 7}, {8, 11}}, "ABC DEF GHI"},
		{"all of it", [][2]int{{0, 11}}, "ABC DEF GHI"},
	} {
		require.Equal(t, c.want, mask.Replace(s, ranges(c.rs...), upper), c.name)
	}
	require.Equal(t, "a-c", mask.Replace("abc", ranges([2]int{0, 1}, [2]int{1, 2}), func(run string) string {
		if run == "b" {
			return "-"
		}
		return run // kept
	}))
	// A run replaced by nothing at the very start is still a replacement.
	require.Equal(t, " def ghi", mask.Replace(s, ranges([2]int{0, 3}), func(string) string { return "" }))
}

func TestRuns(t *testing.T) {
	cards := func(run, digits string) string {
		if luhn.IsCardNumber(digits) {
			return mask.Card(digits)
		}
		return run
	}
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"no digits", "no digits"},
		{`{"number":"4242424242424242"}`, `{"number":"424242******4242"}`},
		{"card 4242 4242 4242 4242 ok", "card 424242******4242 ok"},
		{"card 4242-4242-4242-4242", "card 424242******4242"},
		{"4242424242424242", "424242******4242"},
		{"two 4242424242424242,4000056655665556", "two 424242******4242,400005******5556"},
		{"not Luhn 4242424242424241", "not Luhn 4242424242424241"},
		{"double space 4242  4242424242424242", "double space 4242  424242******4242"},
		{"trailing dash 4242424242424242- x", "trailing dash 424242******4242- x"},
		{"amount 1234 and 12", "amount 1234 and 12"},
	} {
		require.Equal(t, c.want, mask.Runs(c.in, 12, cards), c.in)
	}

	// Short runs reach replace only when asked for.
	var seen []string
	mask.Runs("a 1, 22, 333, 4444-5", 3, func(run, digits string) string {
		seen = append(seen, run+"="+digits)
		return run
	})
	require.Equal(t, []string{"333=333", "4444-5=44445"}, seen)
	require.Equal(t, "x ***, 1234", mask.Runs("x 737, 1234", 1, func(run, digits string) string {
		if digits == "737" {
			return "***"
		}
		return run
	}))
}

func FuzzRuns(f *testing.F) {
	for _, s := range []string{"", "4242 4242 4242 4242", "a-1-2-3", "1 2 3 4 5 6 7 8 9 0 1 2 3", "--9--"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Keeping every run gives s back; masking card numbers leaves no
		// run that is one.
		require.Equal(t, s, mask.Runs(s, 0, func(run, _ string) string { return run }))
		out := mask.Runs(s, 12, func(run, digits string) string {
			if luhn.IsCardNumber(digits) {
				return mask.Card(digits)
			}
			return run
		})
		mask.Runs(out, 12, func(run, digits string) string {
			require.False(t, luhn.IsCardNumber(digits), "a card number is left in %q", out)
			return run
		})
	})
}

func TestCardRun(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"4242424242424242", "424242******4242"},
		{"4242 4242 4242 4242", "4242 42** **** 4242"},
		{"4242-4242-4242-4242", "4242-42**-****-4242"},
		{"42424242424", "***********"},
		{"737", "***"},
	} {
		got := mask.CardRun(c.in)
		require.Equal(t, c.want, got, c.in)
		require.Len(t, got, len(c.in))
	}
	for _, c := range []struct{ in, want string }{
		{"000123456789", "********6789"},
		{"0001-2345-6789", "****-****-6789"},
		{"1234", "**34"},
	} {
		require.Equal(t, c.want, mask.AccountRun(c.in), c.in)
	}
	// RunsWith takes other separators.
	require.Equal(t, "n=4242+42**+****+4242", mask.RunsWith("n=4242+4242+4242+4242", "+", 12, func(run, digits string) string {
		if luhn.IsCardNumber(digits) {
			return mask.CardRun(run)
		}
		return run
	}))
}
