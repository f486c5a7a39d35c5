// Package egress is cardvault's one door out. Every outbound connection —
// capture webhooks, the proxy's deliveries to third parties — is made
// through a [Guard], so that a URL a tenant supplied cannot make the
// server talk to itself, to its cloud's metadata service or to the private
// network behind it (server-side request forgery).
//
//	g, err := egress.New(egress.Config{Allow: allow, ExtraRoots: roots})
//	...
//	if err := g.CheckURL(webhookURL); err != nil { ... } // when the URL is configured
//	...
//	resp, err := g.Do(req) // when it is used
//
// # Contract
//
// A [Guard] checks the address of every connection at dial time, in the
// dialer's Control hook, on the IP address actually being connected to —
// after name resolution, for each address tried, on every dial. A name
// that resolves to a refused address (localhost, a record pointing at
// 10.0.0.1, a name that answers differently the second time) is refused;
// nothing is sent. The address rules come from code.dny.dev/ssrf, which
// follows the IANA special-purpose registries: refused are loopback
// (127.0.0.0/8, ::1), "this network" and unspecified (0.0.0.0/8, ::),
// private (10/8, 172.16/12, 192.168/16), link-local (169.254/16 — cloud
// metadata at 169.254.169.254 —, fe80::/10), shared CGNAT space
// (100.64/10), unique local (fc00::/7), multicast, the documentation and
// benchmarking ranges, reserved 240/4 and broadcast, and every IPv6
// address outside global unicast 2000::/3 (NAT64, IPv4-compatible and
// site-local forms among them) plus Teredo, 6to4 and documentation within
// it. An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4
// address it maps.
//
// Requests are refused before any dial when their URL breaks the rules of
// [Guard.CheckURL]: http:// unless [Config].AllowHTTP, user-info, a
// fragment, a host that is not a plain name or IP literal, an IP literal of
// a refused class. Call CheckURL when a URL is configured, so that a bad
// one is refused then (the server answers 400 naming the field) and not
// only when it is first used; it does not resolve names.
//
// Redirects are never followed: a redirect response is an error wrapping
// [ErrRefused]. The transport uses no proxy (HTTP_PROXY and friends are
// ignored: a proxy would connect in the guard's place), TLS 1.2 or later
// with the system roots plus [Config].ExtraRoots, a connect timeout
// (resolution, TCP and TLS handshake), a timeout for the whole request
// including the body, a cap on response headers (64 KiB) and on the
// response body ([Config].MaxResponseBytes, [ErrTooLarge]).
//
// # Allow-list
//
// An operator lets chosen private destinations through with the
// allow-list (-egress-allow, CARDVAULT_EGRESS_ALLOW), read by
// [ParseAllowList]: comma-separated host ("psp.internal": that name on any
// port, whatever it resolves to), host:port (that port only) and CIDR
// ("10.1.0.0/16": those addresses, whatever name led there) entries. Host
// entries are compared with the URL's host, lower case and whole. Tests
// that talk to a server on 127.0.0.1 use the real guard with an allow
// entry for 127.0.0.1; nothing switches the guard off.
//
// # Errors
//
// A refusal wraps [ErrRefused] (and so cardvault.ErrForbidden), a
// malformed URL [ErrInvalidURL] (cardvault.ErrInvalid), an oversized body
// [ErrTooLarge] (cardvault.ErrTooLarge). Messages name the reason and the
// host or address, never a URL's path or query, which may carry secrets.
// [Guard.Do] keeps it so for net/http's errors too, which otherwise hold
// the whole URL.
//
// # Caveats
//
//   - Names are still resolved: a lookup of a tenant's host name reaches
//     the configured resolver, so a name can carry a few bytes out through
//     DNS. Only the connection is guarded.
//   - A host entry trusts DNS for that name: whoever controls the name's
//     records chooses where the guard lets connections go. Prefer CIDR
//     entries for private destinations.
//   - Only connections made through [Guard.Do] or [Guard.Client] are
//     guarded; code that builds its own http.Client or net.Dialer is not.
//     Hence the project's rule that nothing else dials out.
//   - Errors of [Guard.Client]().Do hold the whole URL (net/http's
//     *url.Error); [Guard.Do] cuts it to scheme://host:port.
//   - The trailing-dot form of a name ("psp.example.") is refused by
//     CheckURL and in the allow-list; IDNs are written in their xn-- form.
//   - Request bodies are not capped here: the caller builds them.
package egress
