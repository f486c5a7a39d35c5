#!/usr/bin/env bash
# test.sh: what `make test` runs. Vet and staticcheck, then every test with the
# race detector against real dependencies: a throwaway PostgreSQL
# (scripts/with-postgres.sh), Chromium for the browser tests
# (scripts/ensure-chromium.sh), pg_auto_failover for the failover tests
# (scripts/with-pg-auto-failover.sh) and stripe-mock, a payment provider for
# the proxy's tests (scripts/with-stripe-mock.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet" >&2
go vet ./...

# staticcheck, pinned: `go run` fetches that version through the module
# proxy the first time and caches it. Zero findings, or the run fails.
echo "== staticcheck" >&2
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

if [ -f scripts/ensure-chromium.sh ]; then
	CARDVAULT_TEST_CHROMIUM=$(scripts/ensure-chromium.sh)
	export CARDVAULT_TEST_CHROMIUM
fi

# The failover tests (internal/reliability's TestFailover) start
# pg_auto_failover formations of their own with this script; it installs
# the packages now when it can, and the tests fail with a message that
# names them when it could not.
scripts/with-pg-auto-failover.sh --install >/dev/null || true
CARDVAULT_TEST_PGAF=$PWD/scripts/with-pg-auto-failover.sh
export CARDVAULT_TEST_PGAF

echo "== go test -race" >&2
scripts/with-postgres.sh scripts/with-stripe-mock.sh go test -race -timeout 20m -count=1 ./...
