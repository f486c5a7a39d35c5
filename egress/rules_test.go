package egress_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/testkit"
)

// The addresses of these tests are data only: CheckAddr is a pure function
// and nothing here dials them.

func TestAddressRulesRefuse(t *testing.T) {
	g := testkit.Guard(t, egress.Config{}, "")
	cases := []struct {
		addr  string
		class string // the class the message names
	}{
		// loopback
		{"127.0.0.1", "a loopback address"},
		{"127.255.255.254", "a loopback address"},
		{"::1", "a loopback address"},
		// RFC 1918
		{"10.0.0.1", "a private address (RFC 1918)"},
		{"10.255.255.255", "a private address (RFC 1918)"},
		{"172.16.0.1", "a private address (RFC 1918)"},
		{"172.31.255.255", "a private address (RFC 1918)"},
		{"192.168.1.1", "a private address (RFC 1918)"},
		// link-local, cloud metadata included
		{"169.254.169.254", "a link-local address"},
		{"169.254.0.1", "a link-local address"},
		{"fe80::1", "a link-local address"},
		// CGNAT
		{"100.64.0.1", "(CGNAT, 100.64.0.0/10)"},
		{"100.127.255.254", "(CGNAT, 100.64.0.0/10)"},
		// unique local
		{"fc00::1", "a unique local address"},
		{"fd12:3456:789a::1", "a unique local address"},
		// multicast
		{"224.0.0.1", "a multicast address"},
		{"239.255.255.250", "a multicast address"},
		{"ff02::1", "a multicast address"},
		{"ff05::1:3", "a multicast address"},
		// unspecified and "this network"
		{"0.0.0.0", "an unspecified address"},
		{"::", "an unspecified address"},
		{"0.1.2.3", "a special-purpose address"},
		// IPv4-mapped IPv6 forms are judged as the IPv4 address
		{"::ffff:127.0.0.1", "a loopback address"},
		{"::ffff:10.0.0.1", "a private address (RFC 1918)"},
		{"::ffff:169.254.169.254", "a link-local address"},
		{"::ffff:100.64.0.1", "(CGNAT, 100.64.0.0/10)"},
		{"::ffff:0.0.0.0", "an unspecified address"},
		// documentation and benchmarking ranges (the library refuses them)
		{"192.0.2.1", "a special-purpose address"},
		{"198.51.100.7", "a special-purpose address"},
		{"203.0.113.9", "a special-purpose address"},
		{"198.18.0.1", "a special-purpose address"},
		{"198.19.255.255", "a special-purpose address"},
		{"2001:db8::1", "a special-purpose address"},
		{"3fff::1", "a special-purpose address"},
		// reserved, broadcast, IETF protocol assignments, 6to4 relay
		{"240.0.0.1", "a special-purpose address"},
		{"255.255.255.255", "a special-purpose address"},
		{"192.0.0.8", "a special-purpose address"},
		{"192.88.99.1", "a special-purpose address"},
		// IPv6 outside global unicast, and special ranges inside it
		{"64:ff9b::7f00:1", "a special-purpose address"}, // NAT64 of 127.0.0.1
		{"::127.0.0.1", "a special-purpose address"},     // IPv4-compatible
		{"fec0::1", "a special-purpose address"},         // site-local
		{"2002:7f00:1::", "a special-purpose address"},   // 6to4 of 127.0.0.1
		{"2001::1", "a special-purpose address"},         // Teredo
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			err := g.CheckAddr("hook.example", 443, netip.MustParseAddr(c.addr))
			require.ErrorIs(t, err, egress.ErrRefused)
			require.ErrorIs(t, err, cardvault.ErrForbidden)
			require.Contains(t, err.Error(), "hook.example resolves to")
			require.Contains(t, err.Error(), c.class)
		})
	}
}

func TestAddressRulesAllowPublic(t *testing.T) {
	g := testkit.Guard(t, egress.Config{}, "")
	for _, a := range []string{
		"8.8.8.8", "1.1.1.1", "93.184.215.14", "11.0.0.1",
		"100.63.255.255", "100.128.0.0", // either side of CGNAT
		"172.15.255.255", "172.32.0.0", // either side of 172.16/12
		"169.253.255.255", "169.255.0.0", // either side of link-local
		"192.167.255.255", "192.169.0.0",
		"2606:4700:4700::1111", "2001:4860:4860::8888",
		"::ffff:8.8.8.8", // a mapped public address is that address
	} {
		t.Run(a, func(t *testing.T) {
			require.NoError(t, g.CheckAddr("hook.example", 443, netip.MustParseAddr(a)))
		})
	}
}

func TestAddressRulesAllowList(t *testing.T) {
	g := testkit.Guard(t, egress.Config{}, "10.1.0.0/16, fd00:1::/32, PSP.internal, hook.internal:8443, 127.0.0.1, [fd00:2::7]:9000")
	cases := []struct {
		host string
		port uint16
		addr string
		ok   bool
	}{
		{"any.example", 443, "10.1.2.3", true},        // CIDR: any name that resolves there
		{"any.example", 443, "::ffff:10.1.2.3", true}, // mapped form normalised
		{"any.example", 443, "10.2.0.1", false},       // outside the CIDR
		{"any.example", 443, "fd00:1:ffff::1", true},  // IPv6 CIDR
		{"any.example", 443, "fd00:3::1", false},      //
		{"psp.internal", 1234, "10.9.9.9", true},      // host: any port, any address
		{"psp.internal", 443, "127.0.0.1", true},      // even loopback: the operator chose the name
		{"psp.internal.evil.test", 443, "10.9.9.9", false},
		{"evil.psp.internal", 443, "10.9.9.9", false},
		{"hook.internal", 8443, "192.168.0.5", true},   // host:port
		{"hook.internal", 443, "192.168.0.5", false},   // another port
		{"127.0.0.1", 8080, "127.0.0.1", true},         // an IP-literal host entry
		{"localhost", 8080, "127.0.0.1", false},        // a name is not the literal
		{"fd00:2::7", 9000, "fd00:2::7", true},         // [v6]:port
		{"fd00:2::7", 9001, "fd00:2::7", false},        //
		{"any.example", 443, "8.8.8.8", true},          // public stays allowed
		{"any.example", 443, "169.254.169.254", false}, // the rest stays refused
	}
	for _, c := range cases {
		err := g.CheckAddr(c.host, c.port, netip.MustParseAddr(c.addr))
		if c.ok {
			require.NoError(t, err, "%s:%d -> %s", c.host, c.port, c.addr)
		} else {
			require.ErrorIs(t, err, egress.ErrRefused, "%s:%d -> %s", c.host, c.port, c.addr)
		}
	}
}
