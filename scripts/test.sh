#!/usr/bin/env bash
# test.sh: what `make test` runs. Vet, then every test with the race detector
# against real dependencies: a throwaway PostgreSQL (scripts/with-postgres.sh),
# Chromium for the browser tests (scripts/ensure-chromium.sh) and stripe-mock,
# a payment provider for the proxy's tests (scripts/with-stripe-mock.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== go vet" >&2
go vet ./...

if [ -f scripts/ensure-chromium.sh ]; then
	CARDVAULT_TEST_CHROMIUM=$(scripts/ensure-chromium.sh)
	export CARDVAULT_TEST_CHROMIUM
fi

echo "== go test -race" >&2
scripts/with-postgres.sh scripts/with-stripe-mock.sh go test -race -timeout 20m -count=1 ./...
