package proxy_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/proxy"
)

// TestParseCall: a route's request is its options and its call; bad
// options are refused before the body is read, and a bad body is the
// call's error.
func TestParseCall(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"request":{"method":"GET","url":"https://psp.example/card"}}`)
	for name, c := range map[string]struct {
		body      []byte
		query     url.Values
		withRules bool
		want      error // nil: parses
		wantTries int
	}{
		"call and options":         {body, url.Values{"tries": {"3"}}, false, nil, 3},
		"no options":               {body, nil, true, nil, 0},
		"bad options, good call":   {body, url.Values{"tries": {"0"}}, false, cardvault.ErrInvalid, 0},
		"bad options, bad call":    {[]byte(`[]`), url.Values{"debug": {"maybe"}}, false, cardvault.ErrInvalid, 0},
		"good options, bad call":   {[]byte(`{"request":{"method":"GET"}}`), nil, false, proxy.ErrInvalidCall, 0},
		"rules only when asked to": {body, url.Values{"rules": {"r1"}}, false, cardvault.ErrInvalid, 0},
	} {
		t.Run(name, func(t *testing.T) {
			call, opts, err := e.px.ParseCall(c.body, c.query, c.withRules)
			if c.want != nil {
				require.ErrorIs(t, err, c.want)
				if name == "bad options, bad call" {
					require.NotErrorIs(t, err, proxy.ErrInvalidCall, "the options are checked first")
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.wantTries, opts.Tries)
			require.Equal(t, proxy.Request{Method: "GET", URL: "https://psp.example/card"}, call.Request())
			require.Equal(t, "psp.example", call.Host())
		})
	}
}
