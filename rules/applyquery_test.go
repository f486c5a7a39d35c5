package rules_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/store/memstore"
)

func TestApplyQuery(t *testing.T) {
	s := service(t, memstore.New(), testkit.NewClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)))
	_, err := s.Create(ctx, "acme", "mask-card", rule(t, maskRule))
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		q     url.Values
		same  bool   // doc is answered as it is, not wiped
		err   error  // the error's kind
		field string // the InvalidError's field
	}{
		{"no rules=", url.Values{"token": {"t"}}, true, nil, ""},
		{"a rule", url.Values{"rules": {"mask-card"}}, false, nil, ""},
		{"an empty rules=", url.Values{"rules": {""}}, true, cardvault.ErrInvalid, "rules"},
		{"another account's", url.Values{"rules": {"other"}}, false, cardvault.ErrNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(card)
			out, err := s.ApplyQuery(ctx, "acme", tc.q, doc)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				if tc.field != "" {
					var inv *cardvault.InvalidError
					require.ErrorAs(t, err, &inv)
					require.Equal(t, tc.field, inv.Fields[0].Field)
				}
				return
			}
			require.NoError(t, err)
			if tc.same {
				require.Equal(t, card, string(out))
				return
			}
			require.NotContains(t, string(out), "4111 1111 1111 1111")
			require.Equal(t, make([]byte, len(card)), doc, "the stored item is wiped")
		})
	}
}
