package capture_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/capture"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"PT10M", 10 * time.Minute},
		{"PT1H30M", 90 * time.Minute},
		{"P1D", 24 * time.Hour},
		{"P1W", 7 * 24 * time.Hour},
		{"P1DT12H", 36 * time.Hour},
		{"PT36H", 36 * time.Hour},
		{"PT0.5S", 500 * time.Millisecond},
		{"PT1,25S", 1250 * time.Millisecond},
		{"PT1M0.000000001S", time.Minute + 1},
		{"P0T", 0},
		{"0", 0},
		{"PT0S", 0},
		{"P0D", 0},
		{"P36500D", 36500 * 24 * time.Hour},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := capture.ParseDuration(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	for _, in := range []string{
		"", "P", "PT", "10M", "pt10m", "-PT10M", "P-1D", "PT10", "P1M", "P1Y", "PT1D", "P1H", "PT10M5H",
		"PT1M1M", "P1DT", "PT1.5M", "PT.5S", "PT5.S", "PT1.2.3S", "PT1SX", "P1D1W", "P36501D",
		"PT99999999999999999999S", "P" + string(make([]byte, 70)), "PT1H ", " PT1H", "P1DTT1H",
	} {
		t.Run("bad "+in, func(t *testing.T) {
			_, err := capture.ParseDuration(in)
			require.ErrorIs(t, err, capture.ErrInvalidTTL)
		})
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT10M", "P1DT1H1M1.5S", "P0T", "0", "-PT1M", "P1W2D"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := capture.ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 || d > 100*365*24*time.Hour {
			t.Fatalf("%q parsed to %v, out of range", s, d)
		}
		if len(s) == 0 || (s[0] != 'P' && s != "0") {
			t.Fatalf("%q accepted", s)
		}
	})
}

func TestTerminalTTL(t *testing.T) {
	for in, want := range map[string]string{
		"": capture.DefaultTerminalTTL, "PT1S": "PT1S", "PT10M": "PT10M", "P1D": "P1D", "PT24H": "PT24H",
	} {
		got, err := capture.TerminalTTL(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"P0T", "0", "PT0.5S", "P1DT1S", "P2D", "PT", "-PT1M", "10m"} {
		_, err := capture.TerminalTTL(bad)
		var inv *cardvault.InvalidError
		require.ErrorAs(t, err, &inv, bad)
		require.Equal(t, []cardvault.FieldError{{Field: "/ttl", Detail: "invalid value",
			Message: "must be an ISO 8601 duration from PT1S to P1D"}}, inv.Fields, bad)
	}
}
