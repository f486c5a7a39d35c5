#!/usr/bin/env bash
# failover-figures.sh [RUNS]
#
# The failover figures of RELIABILITY.md: runs internal/reliability's
# TestFailover RUNS times (default 10; each run loses the primary three ways
# — SIGKILL, a planned switchover, SIGSTOP — on formations of its own, see
# scripts/with-pg-auto-failover.sh), then sums up each case's "figures:"
# lines: runs, acknowledged writes, writes lost (the test fails on any), and
# the time without write service (the longest gap between acknowledged
# writes around the fault), median and worst. Then the throughput of the
# mix on a formation against a single PostgreSQL in the same run
# (BenchmarkMixFormationVsPostgres, 10 alternating rounds). The whole log is
# kept in a new file under $TMPDIR, named at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
log=$(mktemp "${TMPDIR:-/tmp}/cardvault-failover-figures.XXXXXX")
CARDVAULT_TEST_PGAF=$PWD/scripts/with-pg-auto-failover.sh
export CARDVAULT_TEST_PGAF
scripts/with-pg-auto-failover.sh --install >/dev/null

start=$SECONDS
status=0
go test -count="$runs" -timeout 0 -run '^TestFailover$' -v ./internal/reliability >"$log" 2>&1 || status=$?
go test -run '^$' -bench '^BenchmarkMixFormationVsPostgres$' -benchtime 10x ./internal/reliability >>"$log" 2>&1 || status=$?

grep -o 'figures: .*' "$log" | awk '
	{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		f = v["fault"]; sub(/s$/, "", v["no-write-service"])
		n[f]++; acked[f] += v["acknowledged"]; lost[f] += v["problems"]
		gap[f, n[f]] = v["no-write-service"] + 0
	}
	END {
		printf "%-11s %5s %13s %14s %28s\n", "fault", "runs", "acknowledged", "problems", "no write service median/worst"
		for (f in n) {
			m = n[f]
			for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (gap[f, j] < gap[f, i]) { t = gap[f, i]; gap[f, i] = gap[f, j]; gap[f, j] = t }
			med = (m % 2) ? gap[f, (m + 1) / 2] : (gap[f, m / 2] + gap[f, m / 2 + 1]) / 2
			printf "%-11s %5d %13d %14d %19.2fs / %.2fs\n", f, m, acked[f], lost[f], med, gap[f, m]
		}
	}'
grep -E '^(--- FAIL|FAIL|ok|PASS)' "$log" | sort | uniq -c || true
grep -E '^BenchmarkMixFormationVsPostgres' "$log" || true
echo "wall time: $((SECONDS - start)) s; log: $log"
exit $status
