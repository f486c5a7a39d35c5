package mask_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/mask"
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
