#!/usr/bin/env bash
# with-stripe-mock.sh CMD [ARG...]
#
# Runs CMD with stripe-mock, a payment provider that checks requests against
# Stripe's published OpenAPI, for the proxy's tests: installs the pinned
# version with `go install` (into the module cache and $(go env GOPATH)/bin),
# starts it on 127.0.0.1 — its HTTPS port and its HTTP port, both on ports
# the system picks —, exports
#
#   CARDVAULT_TEST_STRIPE_MOCK_URL   https://127.0.0.1:<port>, its HTTPS port
#   CARDVAULT_TEST_STRIPE_MOCK_CERT  the certificate it serves (embedded in it)
#
# and stops it when CMD ends, also when CMD fails or the script is
# interrupted. internal/stripemock reads the two variables.
#
# stripe-mock's certificate is a self-signed X.509 v1 certificate for
# CN=localhost with no subjectAltName, which Go's TLS has refused to verify
# for any host name since Go 1.15 (there is no switch left to accept it). The
# tests therefore do not trust it in the egress guard: internal/stripemock
# puts a TLS endpoint of its own in front (a certificate made for the run,
# for 127.0.0.1, which the guard trusts as an extra root), and relays the
# bytes to this HTTPS port, checking that it serves exactly this
# certificate.
set -euo pipefail

version=v0.203.0
log() { echo "with-stripe-mock: $*" >&2; }

gobin=$(go env GOBIN)
[ -n "$gobin" ] || gobin="$(go env GOPATH)/bin"
bin="$gobin/stripe-mock"
if ! [ -x "$bin" ] || ! go version -m "$bin" 2>/dev/null | grep -q "mod[[:space:]]*github.com/stripe/stripe-mock[[:space:]]*$version"; then
	log "installing github.com/stripe/stripe-mock@$version"
	go install "github.com/stripe/stripe-mock@$version"
fi
cert="$(go env GOMODCACHE)/github.com/stripe/stripe-mock@$version/embedded/cert/cert.pem"
if ! [ -f "$cert" ]; then
	go mod download -x "github.com/stripe/stripe-mock@$version" >/dev/null 2>&1 || true
fi
[ -f "$cert" ] || { log "stripe-mock's certificate is not at $cert"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/cardvault-stripe-mock.XXXXXX")
pid=""
cleanup() {
	local rc=$?
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$dir"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Both listeners on 127.0.0.1: given only one of them, stripe-mock opens
# the other on every interface.
"$bin" -http-addr 127.0.0.1: -https-addr 127.0.0.1: >"$dir/log" 2>&1 &
pid=$!
https=""
for _ in $(seq 1 600); do
	https=$(sed -n 's/^Listening for HTTPS at address: \(127\.0\.0\.1:[0-9]*\)$/\1/p' "$dir/log")
	[ -n "$https" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; log "stripe-mock exited"; pid=""; exit 1; }
	sleep 0.1
done
[ -n "$https" ] || { cat "$dir/log" >&2; log "stripe-mock did not listen within a minute"; exit 1; }

export CARDVAULT_TEST_STRIPE_MOCK_URL="https://$https"
export CARDVAULT_TEST_STRIPE_MOCK_CERT="$cert"
log "stripe-mock $version on $CARDVAULT_TEST_STRIPE_MOCK_URL"
"$@"
