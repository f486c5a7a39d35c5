package egress

import (
	"context"
	"net"
	"net/netip"
)

// CheckAddr exposes the address rule, a pure function, to the tests.
func (g *Guard) CheckAddr(host string, port uint16, a netip.Addr) error {
	return g.checkAddr(host, port, a)
}

// DialContext exposes the guarded dialer, so that the tests dial through
// it directly as well as through HTTP requests (whose IP-literal URLs the
// transport refuses before any dial).
func (g *Guard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return g.dial(ctx, network, addr)
}

// UsesProxy reports whether the guard's transport has a proxy function:
// it must not, or HTTP(S)_PROXY would dial in the guard's place.
func (g *Guard) UsesProxy() bool {
	return g.client.Transport.(*transport).base.Proxy != nil
}
