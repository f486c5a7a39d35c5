package server

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/cardvault/cardvault/access"
)

// Limits on failed attempts: package access counts them
// (Config.FailureLimits, access.Limits); the server names the client and
// answers 429 with Retry-After before a guess over its limit is even
// checked.
//
// The counts live in memory, per process: behind N servers, a client gets
// N times the budget; a restart forgets them. The client is the address
// the connection comes from (r.RemoteAddr, as access.ClientOf keys it: an
// IPv6 address by its /64). Behind a proxy or load balancer
// that is the proxy's address, so that every client shares one budget:
// set the limits accordingly. X-Forwarded-For is not trusted — anyone can
// send one.

// clientAddr is the key a request's failures are counted under
// (access.ClientOf its peer's address).
func clientAddr(r *http.Request) string { return access.ClientOf(r.RemoteAddr) }

// setRetryAfter sets Retry-After to wait in whole seconds, rounded up.
func setRetryAfter(h http.Header, wait time.Duration) {
	h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(max(wait, time.Second).Seconds())), 10))
}

// msgTooMany answers a guess refused by a limit on the vault/capture API.
const msgTooMany = "too many failed attempts: try again later (see Retry-After)"

// writeTooMany answers 429 on the vault/capture API.
func (s *Server) writeTooMany(w http.ResponseWriter, limit string, wait time.Duration) {
	s.metrics.throttled(limit)
	setRetryAfter(w.Header(), wait)
	writeError(w, http.StatusTooManyRequests, msgTooMany)
}
