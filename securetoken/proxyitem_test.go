package securetoken_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/securetoken"
)

func TestProxyItem(t *testing.T) {
	e := newSvc(t, memstoreFor(t))
	card, err := e.svc.Create(ctx, "1234001", seedRequest(t, "card-1"), nil)
	require.NoError(t, err)
	item, err := e.svc.ProxyItem(ctx, "1234001", "card-1")
	require.NoError(t, err)
	require.JSONEq(t, `{"secure_token_id":"card-1","token":"`+card.Token+`","processing_terminal_id":"1234001",
		"card_number":"4539858876047062","expiry":"12/30","card_holder":"Sarah Hazel Hopper","card_type":"Visa"}`, string(item),
		"whole numbers, the vault's member names, no CVV although the request had one")

	for _, tc := range []struct{ body, want string }{
		{`{"secureTokenId":"ach-1","source":{"type":"ach","nameOnAccount":"Sarah Hopper","accountNumber":"1234567890","routingNumber":"011000015","accountType":"checking","secCode":"web"}}`,
			`"account_number":"1234567890","routing_number":"011000015","account_holder":"Sarah Hopper","account_type":"checking","sec_code":"web"`},
		{`{"secureTokenId":"pad-1","source":{"type":"pad","nameOnAccount":"Sarah Hopper","accountNumber":"12345678","transitNumber":"12345","institutionNumber":"001"}}`,
			`"account_number":"12345678","transit_number":"12345","institution_number":"001","account_holder":"Sarah Hopper"`},
	} {
		req, err := securetoken.ParseCreateRequest([]byte(tc.body))
		require.NoError(t, err)
		res, err := e.svc.Create(ctx, "1234001", req, nil)
		require.NoError(t, err)
		item, err := e.svc.ProxyItem(ctx, "1234001", res.SecureTokenID)
		require.NoError(t, err)
		require.JSONEq(t, `{"secure_token_id":"`+res.SecureTokenID+`","token":"`+res.Token+`","processing_terminal_id":"1234001",`+tc.want+`}`, string(item))
	}

	// Another terminal's token, a missing one, a malformed id: not found.
	for _, c := range [][2]string{{"9999001", "card-1"}, {"1234001", "nope"}, {"1234001", ""}, {"", "card-1"}} {
		_, err := e.svc.ProxyItem(ctx, c[0], c[1])
		require.ErrorIs(t, err, securetoken.ErrNotFound, "%q", c)
	}
}
