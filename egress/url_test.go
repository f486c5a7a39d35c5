package egress_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/testkit"
)

func TestCheckURL(t *testing.T) {
	strict := testkit.Guard(t, egress.Config{}, "")
	allowing := testkit.Guard(t, egress.Config{}, "169.254.169.254, 10.0.0.0/8, ::1, 127.0.0.1")
	httpOK := testkit.Guard(t, egress.Config{AllowHTTP: true}, "")

	const (
		ok      = ""
		invalid = "invalid"
		refused = "refused"
	)
	cases := []struct {
		url             string
		strict, allowed string // the outcome with strict and with allowing
		msg             string // in the strict error
	}{
		{"https://hooks.example/capture?x=1", ok, ok, ""},
		{"https://hooks.example:8443/p", ok, ok, ""},
		{"https://HOOKS.Example/p", ok, ok, ""},
		{"https://xn--bcher-kva.example/", ok, ok, ""},
		{"https://8.8.8.8/p", ok, ok, ""},
		{"https://[2606:4700:4700::1111]:443/p", ok, ok, ""},
		{"https://localhost/p", ok, ok, ""}, // names are checked at dial time
		{"https://hooks.example", ok, ok, ""},

		// refused classes as IP literals
		{"https://169.254.169.254/latest/meta-data", refused, ok, "169.254.169.254 is a link-local address"},
		{"https://10.0.0.1/x", refused, ok, "10.0.0.1 is a private address"},
		{"https://[::1]/x", refused, ok, "::1 is a loopback address"},
		{"https://[::ffff:127.0.0.1]/x", refused, ok, "127.0.0.1 is a loopback address"},
		{"https://[::ffff:10.0.0.1]/x", refused, ok, "10.0.0.1 is a private address"},
		{"https://127.0.0.1:8443/x", refused, ok, "127.0.0.1 is a loopback address"},
		{"https://0.0.0.0/x", refused, refused, "0.0.0.0 is an unspecified address"},
		{"https://[fd00::1]/x", refused, refused, "fd00::1 is a unique local address"},
		{"https://100.64.0.1/x", refused, refused, "CGNAT"},
		{"https://224.0.0.1/x", refused, refused, "multicast"},

		// not https
		{"http://hooks.example/x", refused, refused, "http:// is not allowed"},
		{"ftp://hooks.example/x", invalid, invalid, "scheme must be https"},
		{"javascript:alert(1)", invalid, invalid, "scheme must be https"},
		{"//hooks.example/x", invalid, invalid, "scheme must be https"},
		{"hooks.example/x", invalid, invalid, "scheme must be https"},
		{"", invalid, invalid, "scheme must be https"},

		// user-info, fragments, odd hosts
		{"https://user:pw@hooks.example/x", invalid, invalid, "user-info"},
		{"https://user@hooks.example/x", invalid, invalid, "user-info"},
		{"https://hooks.example/x#frag", invalid, invalid, "fragment"},
		{"https://hooks.example/x#", invalid, invalid, "fragment"},
		{"https://psp.example#@evil.test/", invalid, invalid, "fragment"},
		{"https://psp.example%23@evil.test/", invalid, invalid, "user-info"},
		{"https://psp.example%23.evil.test/", invalid, invalid, ""},
		{"https://psp.example%3f.evil.test/", invalid, invalid, ""},
		{"https://%6c%6fcalhost/", invalid, invalid, ""},
		{"https://b%C3%BCcher.example/", invalid, invalid, "not a host name"},
		{"https://a%25b.example/", invalid, invalid, ""},
		{"https://evil.test\\@psp.example/", invalid, invalid, ""},
		{"https://psp.example\\x/", invalid, invalid, ""},
		{"https://psp example/", invalid, invalid, "space"},
		{"https://psp.example/\x00", invalid, invalid, "control character"},
		{"https://psp.exämple/", invalid, invalid, "non-ASCII"},
		{"https://psp.example./", invalid, invalid, "not a host name"},
		{"https://-psp.example/", invalid, invalid, "not a host name"},
		{"https://psp_x.example/", invalid, invalid, "not a host name"},
		{"https://2130706433/", invalid, invalid, "not a host name"},
		{"https://0x7f000001/", invalid, invalid, "not a host name"},
		{"https://127.1/", invalid, invalid, "not a host name"},
		{"https://0177.0.0.1/", invalid, invalid, "not a host name"},
		{"https://[fe80::1%25eth0]/", invalid, invalid, ""},
		{"https://[10.0.0.1]/", invalid, invalid, ""},
		{"https:///x", invalid, invalid, "absolute"},
		{"https:hooks.example", invalid, invalid, "absolute"},
		{"https://hooks.example:0/", invalid, invalid, "port"},
		{"https://hooks.example:65536/", invalid, invalid, "port"},
		{"https://hooks.example:/", invalid, invalid, "port"},
		{"https://hooks.example:08443/", invalid, invalid, "port"},
		{"https://hooks.example:x/", invalid, invalid, ""},
		{"https://" + strings.Repeat("a", 64) + ".example/", invalid, invalid, "not a host name"},
		{"https://hooks.example/" + strings.Repeat("p", egress.MaxURLLength), invalid, invalid, "longer than 2048"},
	}
	check := func(t *testing.T, g *egress.Guard, raw, want string) error {
		t.Helper()
		err := g.CheckURL(raw)
		switch want {
		case ok:
			require.NoError(t, err)
		case invalid:
			require.ErrorIs(t, err, egress.ErrInvalidURL)
		case refused:
			require.ErrorIs(t, err, egress.ErrRefused)
		}
		return err
	}
	for _, c := range cases {
		t.Run(c.url[:min(len(c.url), 60)], func(t *testing.T) {
			err := check(t, strict, c.url, c.strict)
			check(t, allowing, c.url, c.allowed)
			if err == nil {
				return
			}
			require.Contains(t, err.Error(), c.msg)
			// The message never repeats the URL's path or query.
			if i := strings.IndexAny(c.url[min(len(c.url), len("https://")):], "/?"); i >= 0 {
				if rest := c.url[len("https://")+i:]; len(rest) > 2 {
					require.NotContains(t, err.Error(), rest)
				}
			}
		})
	}
	require.NoError(t, httpOK.CheckURL("http://hooks.example/x"))
	require.ErrorIs(t, httpOK.CheckURL("http://10.0.0.1/x"), egress.ErrRefused)
}
