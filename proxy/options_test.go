package proxy_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/proxy"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		query     string
		withRules bool
		want      proxy.Options
		bad       []string // the fields named, in order
	}{
		{query: "", want: proxy.Options{}},
		{query: "tries=3&synchronous=true&debug=1", want: proxy.Options{Tries: 3, Synchronous: true, Debug: true}},
		{query: "rules=a,b.c", withRules: true, want: proxy.Options{Rules: []string{"a", "b.c"}}},
		{query: "tries=0", bad: []string{"tries"}},
		{query: "tries=99", bad: []string{"tries"}},
		{query: "tries=x&synchronous=maybe&debug=2", bad: []string{"tries", "synchronous", "debug"}},
		{query: "rules=a", bad: []string{"rules"}},
		{query: "rules=a,,b", withRules: true, bad: []string{"rules"}},
		{query: "rules=" + url.QueryEscape("a b"), withRules: true, bad: []string{"rules"}},
	} {
		q, err := url.ParseQuery(tc.query)
		require.NoError(t, err)
		got, err := proxy.ParseOptions(q, tc.withRules)
		if tc.bad == nil {
			require.NoError(t, err, tc.query)
			require.Equal(t, tc.want, got, tc.query)
			continue
		}
		var inv *cardvault.InvalidError
		require.ErrorAs(t, err, &inv, tc.query)
		var fields []string
		for _, f := range inv.Fields {
			fields = append(fields, f.Field)
		}
		require.Equal(t, tc.bad, fields, tc.query)
	}
}
