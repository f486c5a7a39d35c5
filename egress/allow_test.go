package egress_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/egress"
)

func TestParseAllowList(t *testing.T) {
	good := []struct{ in, want string }{ // want: the entries' String, comma-joined
		{"", ""},
		{"  ", ""},
		{"psp.internal", "psp.internal"},
		{"PSP.Internal", "psp.internal"},
		{"psp.internal:8443", "psp.internal:8443"},
		{"10.0.0.7", "10.0.0.7"},
		{"10.0.0.7:443", "10.0.0.7:443"},
		{"::1", "::1"},
		{"[::1]", "::1"},
		{"[fd00::7]:9000", "[fd00::7]:9000"},
		{"::ffff:127.0.0.1", "127.0.0.1"},
		{"[::ffff:127.0.0.1]:80", "127.0.0.1:80"},
		{"10.1.0.0/16", "10.1.0.0/16"},
		{"fd00::/8", "fd00::/8"},
		{"127.0.0.1/32", "127.0.0.1/32"},
		{"a.example, 10.0.0.0/8 ,\tb.example:1", "a.example,10.0.0.0/8,b.example:1"},
		{"a.example,a.example", "a.example,a.example"},
	}
	for _, c := range good {
		t.Run("ok "+c.in, func(t *testing.T) {
			entries, err := egress.ParseAllowList(c.in)
			require.NoError(t, err)
			require.Equal(t, c.want, joinEntries(entries))
		})
	}
	bad := []struct{ in, msg string }{
		{",", "entry 1"},
		{"a.example,", "entry 2 \"\": empty"},
		{"a.example,,b.example", "entry 2"},
		{"10.0.0.0/33", "not a CIDR prefix"},
		{"10.1.2.3/16", "host bits set: did you mean 10.1.0.0/16?"},
		{"0.0.0.0/0", "lets every address through"},
		{"::/0", "lets every address through"},
		{"::ffff:10.0.0.0/104", "IPv4-mapped prefix"},
		{"fe80::1%eth0", "zone is not allowed"},
		{"[fe80::1%eth0]:80", "zone is not allowed"},
		{"fe80::/10%eth0", "not a CIDR prefix"},
		{"psp.internal.", "not a host name"},
		{"psp.internal:0", "port must be"},
		{"psp.internal:65536", "port must be"},
		{"psp.internal:", "port must be"},
		{"psp.internal:+80", "port must be"},
		{"psp.internal:080", "port must be"},
		{"psp.internal:80:80", "written [addr]:port"},
		{"[10.0.0.1]:80", "not an IPv6 address"},
		{"[::1", "written [addr]:port"},
		{"psp#evil", "not a host name"},
		{"psp.example@evil", "not a host name"},
		{"psp%2eexample", "not a host name"},
		{"*.example", "not a host name"},
		{"http://psp.example", "not a CIDR prefix"},
		{"psp.example?x", "not a host name"},
		{"127.1", "not a host name"},
		{"2130706433", "not a host name"},
		{strings.Repeat("a", 64) + ".example", "not a host name"},
		{strings.Repeat("a.", 130) + "example", "not a host name"},
		{strings.Repeat("a,", egress.MaxAllowEntries) + "a", "over 256 entries"},
		{strings.Repeat(" ", egress.MaxAllowListLen+1), "over 65536 bytes"},
	}
	for _, c := range bad {
		t.Run("bad "+c.in[:min(len(c.in), 40)], func(t *testing.T) {
			entries, err := egress.ParseAllowList(c.in)
			require.Nil(t, entries)
			require.ErrorIs(t, err, egress.ErrInvalidConfig)
			require.ErrorIs(t, err, cardvault.ErrInvalid)
			require.ErrorContains(t, err, c.msg)
		})
	}
}

// A bare IPv6 address is read whole: "::1:80" is the address ::1:80 on any
// port, not ::1 on port 80 (that is "[::1]:80").
func TestParseAllowListBareIPv6IsWhole(t *testing.T) {
	entries, err := egress.ParseAllowList("::1:80")
	require.NoError(t, err)
	require.Equal(t, "::1:80", joinEntries(entries))
}

func joinEntries(entries []egress.AllowEntry) string {
	s := make([]string, len(entries))
	for i, e := range entries {
		s[i] = e.String()
	}
	return strings.Join(s, ",")
}

func TestLoadRoots(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})

	t.Run("a bundle with comments", func(t *testing.T) {
		p := write("bundle.pem", append(append([]byte("# our CA\n"), certPEM...), append([]byte("\n# again\n"), certPEM...)...))
		certs, err := egress.LoadRoots(p)
		require.NoError(t, err)
		require.Len(t, certs, 2)
		require.True(t, certs[0].Equal(srv.Certificate()))
	})
	for name, c := range map[string]struct {
		data []byte
		msg  string
	}{
		"empty":          {nil, "no PEM CERTIFICATE block"},
		"text only":      {[]byte("hello\n"), "no PEM CERTIFICATE block"},
		"a private key":  {append(append([]byte{}, certPEM...), keyPEM...), `PEM block 2 is a "EC PRIVATE KEY"`},
		"bad DER":        {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("nope")}), "certificate 1 does not parse"},
		"truncated":      {append(append([]byte{}, certPEM...), certPEM[:len(certPEM)/2]...), "malformed"},
		"over the limit": {make([]byte, egress.MaxRootsFileSize+1), "over 4194304 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			certs, err := egress.LoadRoots(write(strings.ReplaceAll(name, " ", "-")+".pem", c.data))
			require.Nil(t, certs)
			require.ErrorIs(t, err, egress.ErrInvalidConfig)
			require.ErrorContains(t, err, c.msg)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := egress.LoadRoots(filepath.Join(dir, "none.pem"))
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

// ValidHostname is the syntax of a host name; the guard also refuses a name
// whose last label reads as a number, which ValidHostname leaves to it.
func TestValidHostname(t *testing.T) {
	for _, h := range []string{
		"psp.example", "a", "xn--bcher-kva.example", "a-b.c-d",
		strings.Repeat("a", 63) + ".example",
		"127.1", "2130706433", // names by their syntax, which the guard refuses
	} {
		require.True(t, egress.ValidHostname(h), "%q", h)
	}
	for _, h := range []string{
		"", "Psp.example" /* lower case only */, "psp.example.", ".example", "a..b",
		"-a.example", "a-.example", "a_b.example", "bücher.example",
		strings.Repeat("a", 64) + ".example",
		strings.Repeat("a.", 127) + "ab", // 256 bytes
	} {
		require.False(t, egress.ValidHostname(h), "%q", h)
	}
}
