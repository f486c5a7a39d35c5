package luhn_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/luhn"
)

// reference is the textbook Luhn check written as plainly as possible, to
// check Valid against.
func reference(s string) bool {
	if len(s) < 2 {
		return false
	}
	digits := make([]int, len(s))
	for i, r := range []byte(s) {
		if r < '0' || r > '9' {
			return false
		}
		digits[i] = int(r - '0')
	}
	sum := 0
	for i := range digits {
		d := digits[len(digits)-1-i]
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func FuzzValid(f *testing.F) {
	for _, c := range testCards {
		f.Add(c.number)
	}
	f.Add("")
	f.Add("0")
	f.Add("4111 1111")
	f.Fuzz(func(t *testing.T, s string) {
		got := luhn.Valid(s)
		require.Equal(t, reference(s), got)
		if len(s) == 0 {
			return
		}
		check, err := luhn.CheckDigit(s)
		if err != nil {
			require.False(t, reference(s+"0"))
			return
		}
		require.True(t, luhn.Valid(s+string(check)))
	})
}

func FuzzGenerate(f *testing.F) {
	f.Add("296753", 16, []byte("seed"))
	f.Add("", 12, []byte{})
	f.Add("4", 19, []byte{255, 250, 9})
	f.Add("12345678901234567890", 19, []byte{1})
	f.Fuzz(func(t *testing.T, prefix string, length int, seed []byte) {
		// A deterministic source from the fuzzer's bytes, long enough for
		// any length; the tail of zeros keeps it from running out.
		src := bytes.NewReader(append(bytes.Clone(seed), make([]byte, 64)...))
		n, err := luhn.Generate(prefix, length, src)
		if err != nil {
			require.Empty(t, n)
			return
		}
		require.Len(t, n, length)
		require.True(t, strings.HasPrefix(n, prefix))
		require.True(t, luhn.Valid(n))
	})
}

// FuzzCardNumberRuns: outside the runs it yields, no maximal run of plain
// digits (no separators) is a Luhn-valid number of 12 to 19 digits; and
// HasCardNumber is true exactly when it yields a run.
func FuzzCardNumberRuns(f *testing.F) {
	for _, s := range []string{"4111111111111111", "x4111 1111 1111 1111y", "5555-5555-5555-4444", "1234", "123456789012345678901"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		masked := []byte(s)
		last, runs := 0, 0
		for start, end := range luhn.CardNumberRuns(s) {
			runs++
			require.True(t, last <= start && start < end && end <= len(s))
			for i := start; i < end; i++ {
				masked[i] = 'x'
			}
			last = end
		}
		for _, run := range strings.FieldsFunc(string(masked), func(r rune) bool { return r < '0' || r > '9' }) {
			if len(run) >= luhn.MinLength && len(run) <= luhn.MaxLength {
				require.False(t, reference(run), "%q left in %q", run, s)
			}
			require.LessOrEqual(t, len(run), luhn.MaxLength, "%q left in %q", run, s)
		}
		require.Equal(t, runs > 0, luhn.HasCardNumber(s), "HasCardNumber(%q)", s)
	})
}
