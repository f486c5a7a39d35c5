package cardbrand_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/cardbrand"
)

// Published test card numbers of each network.
func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		number string
		want   cardbrand.Brand
	}{
		{"4242424242424242", cardbrand.Visa},
		{"4000056655665556", cardbrand.Visa},
		{"4222222222222", cardbrand.Visa},
		{"5555555555554444", cardbrand.Mastercard},
		{"2223003122003222", cardbrand.Mastercard},
		{"2720999999999996", cardbrand.Mastercard},
		{"378282246310005", cardbrand.Amex},
		{"371449635398431", cardbrand.Amex},
		{"6011111111111117", cardbrand.Discover},
		{"6011000990139424", cardbrand.Discover},
		{"6445644564456445", cardbrand.Discover},
		{"6221260000000000", cardbrand.Discover},
		{"3566002020360505", cardbrand.JCB},
		{"3056930009020004", cardbrand.Diners},
		{"36227206271667", cardbrand.Diners},
		{"6200000000000005", cardbrand.UnionPay},
		{"6205500000000000004", cardbrand.UnionPay},
		{"6759649826438453", cardbrand.Maestro},
		{"2200000000000004", cardbrand.Mir},
		{"453985******7062", cardbrand.Visa},
		{"2721000000000000", cardbrand.Unknown},
		{"9999999999999999", cardbrand.Unknown},
		{"", cardbrand.Unknown},
		{"x4", cardbrand.Unknown},
		{"3", cardbrand.Unknown},
	} {
		t.Run(tc.number, func(t *testing.T) {
			require.Equal(t, tc.want, cardbrand.Detect(tc.number))
		})
	}
	require.Equal(t, 4, cardbrand.Amex.CVVLength)
}

func FuzzDetect(f *testing.F) {
	f.Add("4242424242424242")
	f.Add("62212")
	f.Fuzz(func(t *testing.T, s string) {
		b := cardbrand.Detect(s)
		if b != cardbrand.Unknown && len(s) == 0 {
			t.Fatal("a brand for nothing")
		}
	})
}
