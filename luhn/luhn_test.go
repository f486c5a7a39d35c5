package luhn_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/luhn"
)

// Published test card numbers of the card schemes and of the payment
// processors' sandboxes; every one is Luhn-valid.
var testCards = []struct{ brand, number string }{
	{"visa", "4111111111111111"},
	{"visa", "4242424242424242"},
	{"visa", "4012888888881881"},
	{"visa 13", "4222222222222"},
	{"mastercard", "5555555555554444"},
	{"mastercard", "5105105105105100"},
	{"mastercard 2-series", "2223003122003222"},
	{"amex", "378282246310005"},
	{"amex", "371449635398431"},
	{"discover", "6011111111111117"},
	{"discover", "6011000990139424"},
	{"jcb", "3530111333300000"},
	{"jcb", "3566002020360505"},
	{"diners", "30569309025904"},
	{"diners", "38520000023237"},
	{"diners", "36227206271667"},
	{"unionpay", "6200000000000005"},
	{"unionpay 19", "6205500000000000004"},
	{"maestro", "6759649826438453"},
}

func TestValidPublishedCards(t *testing.T) {
	for _, c := range testCards {
		t.Run(c.brand+"/"+c.number[len(c.number)-4:], func(t *testing.T) {
			require.True(t, luhn.Valid(c.number))

			check, err := luhn.CheckDigit(c.number[:len(c.number)-1])
			require.NoError(t, err)
			require.Equal(t, c.number[len(c.number)-1], check)
		})
	}
}

// Luhn detects every single-digit error and every transposition of adjacent
// digits except 09 <-> 90; the mutations below check both on real numbers.
func TestValidRejectsMutations(t *testing.T) {
	for _, c := range testCards {
		n := []byte(c.number)
		for i := range n {
			orig := n[i]
			for d := byte('0'); d <= '9'; d++ {
				if d == orig {
					continue
				}
				n[i] = d
				require.False(t, luhn.Valid(string(n)), "digit %d of %s changed to %c", i, c.brand, d)
			}
			n[i] = orig
		}
		for i := 0; i+1 < len(n); i++ {
			a, b := n[i], n[i+1]
			if a == b || (a == '0' && b == '9') || (a == '9' && b == '0') {
				continue
			}
			n[i], n[i+1] = b, a
			require.False(t, luhn.Valid(string(n)), "digits %d,%d of %s swapped", i, i+1, c.brand)
			n[i], n[i+1] = a, b
		}
	}
}

func TestValidMalformed(t *testing.T) {
	for _, in := range []string{
		"", "0", "7",
		"4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111\n",
		"411111111111111a", "-4111111111111111", "+79927398713", "٣٤٥", "４１１１",
	} {
		require.False(t, luhn.Valid(in), "%q", in)
	}
	require.True(t, luhn.Valid("00"))
	require.True(t, luhn.Valid("79927398713")) // the textbook example
}

func TestCheckDigitErrors(t *testing.T) {
	_, err := luhn.CheckDigit("")
	require.ErrorIs(t, err, luhn.ErrEmpty)

	_, err = luhn.CheckDigit("12x4")
	require.ErrorIs(t, err, luhn.ErrNotDigits)
	require.EqualError(t, err, "luhn: input holds a non-digit at position 2")

	d, err := luhn.CheckDigit("7992739871")
	require.NoError(t, err)
	require.Equal(t, byte('3'), d)
}

func TestGenerate(t *testing.T) {
	for length := luhn.MinLength; length <= luhn.MaxLength; length++ {
		for _, prefix := range []string{"", "4", "296753", strings.Repeat("9", length-1)} {
			n, err := luhn.Generate(prefix, length, nil)
			require.NoError(t, err)
			require.Len(t, n, length)
			require.True(t, strings.HasPrefix(n, prefix))
			require.True(t, luhn.Valid(n), n)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	cases := []struct {
		name   string
		prefix string
		length int
		want   error
		msg    string
	}{
		{"too short", "", 11, luhn.ErrLength, "luhn: length out of range: 11 is not within 12-19"},
		{"too long", "", 20, luhn.ErrLength, "luhn: length out of range: 20 is not within 12-19"},
		{"negative", "", -1, luhn.ErrLength, "luhn: length out of range: -1 is not within 12-19"},
		{"prefix fills it", "123456789012", 12, luhn.ErrPrefix, "luhn: prefix too long: a 12-digit prefix leaves no room in 12 digits"},
		{"prefix non-digit", "2967a3", 16, luhn.ErrNotDigits, "luhn: input holds a non-digit: prefix position 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := luhn.Generate(c.prefix, c.length, nil)
			require.ErrorIs(t, err, c.want)
			require.EqualError(t, err, c.msg)
			require.Empty(t, n)
		})
	}
}

func TestGenerateReadError(t *testing.T) {
	boom := errors.New("entropy gone")
	_, err := luhn.Generate("4", 16, iotest.ErrReader(boom))
	require.ErrorIs(t, err, boom)

	// A short source runs out mid-number: an error, not a short number.
	_, err = luhn.Generate("4", 16, bytes.NewReader(make([]byte, 5)))
	require.Error(t, err)
}

// Generate must map random bytes to digits without bias: every byte >= 250
// is skipped, so a source of only such bytes followed by zeros gives zeros.
func TestGenerateRejectsBiasedBytes(t *testing.T) {
	src := append(bytes.Repeat([]byte{250, 255}, 16), make([]byte, 64)...)
	n, err := luhn.Generate("", 12, bytes.NewReader(src))
	require.NoError(t, err)
	require.Equal(t, "000000000000", n)
}

// Over many draws each digit position is close to uniform.
func TestGenerateUniform(t *testing.T) {
	const draws = 20000
	var counts [10]int
	for i := 0; i < draws; i++ {
		n, err := luhn.Generate("", 12, nil)
		require.NoError(t, err)
		counts[n[0]-'0']++
	}
	// Expected 2000 per digit, standard deviation ~42; 6 sigma is 255.
	for d, c := range counts {
		require.InDelta(t, draws/10, c, 255, "digit %d", d)
	}
}

// validSink keeps the calls of TestValidAllocatesNothing from being
// optimized away, and their answers checked.
var validSink bool

func TestValidAllocatesNothing(t *testing.T) {
	n := testing.AllocsPerRun(100, func() { validSink = luhn.Valid("6205500000000000004") })
	require.True(t, validSink)
	require.Zero(t, n)
}

func BenchmarkValid(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		luhn.Valid("6205500000000000004")
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := luhn.Generate("296753", 16, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHasDigits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want bool
	}{
		{"", 0, true},
		{"", 1, false},
		{"a1b2c3", 3, true},
		{"a1b2c3", 4, false},
		{"4111 1111 1111", 12, true},
		{"4111 1111 111", 12, false},
		{"١٢٣", 1, false}, // ASCII digits only, as the scans read them
	} {
		require.Equal(t, tc.want, luhn.HasDigits(tc.in, tc.n), "HasDigits(%q, %d)", tc.in, tc.n)
	}
}

func TestCardNumberRuns(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"4111111111111111", []string{"4111111111111111"}},
		{"card 4111 1111 1111 1111 end", []string{"4111 1111 1111 1111"}},
		{"a5555-5555-5555-4444b", []string{"5555-5555-5555-4444"}},
		{"4111111111111112", nil},                                    // fails the check
		{"12345678901", nil},                                         // too short
		{"4111  1111 1111 1111", nil},                                // two spaces end a run: 4 and 12 digits, 12 failing
		{"123456789012345678901", []string{"123456789012345678901"}}, // over 19 digits
		{"x 4111111111111111 y 378282246310005 ", []string{"4111111111111111", "378282246310005"}},
		{"4111111111111111-", []string{"4111111111111111"}},
		{"1 4111 1111 1111 1111", []string{"4111 1111 1111 1111"}}, // a digit in front hides nothing
	} {
		var got []string
		for start, end := range luhn.CardNumberRuns(tc.in) {
			got = append(got, tc.in[start:end])
		}
		require.Equal(t, tc.want, got, "%q", tc.in)
		require.Equal(t, tc.want != nil, luhn.HasCardNumber(tc.in), "HasCardNumber(%q)", tc.in)
	}
	// Stopping early is honoured.
	n := 0
	for range luhn.CardNumberRuns("4111111111111111 4111111111111111") {
		n++
		break
	}
	require.Equal(t, 1, n)
}

func TestIsCardNumber(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"4242424242424242", true},
		{"378282246310005", true},
		{"4242424242424241", false}, // check digit
		{"42424242424", false},      // 11 digits
		{"79927398713", false},      // Luhn-valid, too short
		{"42424242424242424242", false},
	} {
		require.Equal(t, c.want, luhn.IsCardNumber(c.in), c.in)
	}
}
