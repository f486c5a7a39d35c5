#!/usr/bin/env bash
# fuzz.sh [FUZZTIME]: runs every Fuzz target of the module for FUZZTIME each
# (default 30s). Findings land in the package's testdata/fuzz as regression
# cases that `make test` then runs every time.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-30s}
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "== $pkg $f ($t)" >&2
		go test -run '^$' -fuzz "^$f\$" -fuzztime "$t" "$pkg"
	done
done
