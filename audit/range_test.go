package audit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/audit"
)

func TestParseRange(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, from, to string
		wantFrom       time.Time
		wantTo         time.Time
		err            string
	}{
		{"open", "", "", time.Time{}, time.Time{}, ""},
		{"both", "2026-11-25T12:00:00Z", "2026-11-25T13:00:00.5Z", at, at.Add(time.Hour + 500*time.Millisecond), ""},
		{"from only", "2026-11-25T12:00:00Z", "", at, time.Time{}, ""},
		{"bad from", "yesterday", "", time.Time{}, time.Time{}, "from must be an RFC 3339 time, such as 2026-11-25T12:00:00Z"},
		{"bad to", "", "2026-11-25", time.Time{}, time.Time{}, "to must be an RFC 3339 time, such as 2026-11-25T12:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to, err := audit.ParseRange(tc.from, tc.to)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.True(t, tc.wantFrom.Equal(from), from)
			require.True(t, tc.wantTo.Equal(to), to)
		})
	}
}
