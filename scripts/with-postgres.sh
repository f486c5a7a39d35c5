#!/usr/bin/env bash
# with-postgres.sh CMD [ARG...]
#
# Runs CMD with a throwaway PostgreSQL server: initdb into a temporary
# directory, start on a free port of 127.0.0.1, export its URL as
# CARDVAULT_TEST_POSTGRES_URL, and stop and remove it when CMD ends, also when
# CMD fails or the script is interrupted. Run as root, the server runs as the
# `postgres` user (PostgreSQL refuses to run as root).
#
# The server binaries come from the installed PostgreSQL (Debian's
# postgresql-NN packages put them in /usr/lib/postgresql/NN/bin). When none is
# installed, root with apt-get installs the `postgresql` package; anyone else
# gets a message that names it.
set -euo pipefail

log() { echo "with-postgres: $*" >&2; }

find_bindir() {
	local d
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
		dirname "$(command -v initdb)"; return 0
	fi
	return 1
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		log "no PostgreSQL server binaries found; installing Debian's postgresql package"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -q postgresql >/tmp/cardvault-apt.log 2>&1 ||
			{ apt-get update -q && apt-get install -y -q postgresql; } >/tmp/cardvault-apt.log 2>&1 ||
			cat /tmp/cardvault-apt.log >&2
		bindir=$(find_bindir || true)
	fi
	if [ -z "$bindir" ]; then
		log "the tests need a PostgreSQL server (initdb and postgres); install it, e.g. 'apt-get install postgresql'"
		exit 1
	fi
fi

as_pg=()
if [ "$(id -u)" = 0 ]; then
	if ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
	fi
	as_pg=(runuser -u postgres --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cardvault-pg.XXXXXX")
chmod 700 "$dir"
[ ${#as_pg[@]} -gt 0 ] && chown postgres: "$dir"
started=""

cleanup() {
	local rc=$?
	if [ -n "$started" ]; then
		"${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
	"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; log "initdb failed"; exit 1; }

# A random high port; should another process hold it, the server fails to
# bind and we try another.
for attempt in 1 2 3 4 5 6 7 8; do
	port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
	# fsync is off: this server is thrown away after the run, and the tests
	# that prove durability kill our processes, not PostgreSQL.
	if "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null 2>&1; then
		started=1
		break
	fi
	if ! grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null; then
		cat "$dir/server.log" >&2 || true
		log "PostgreSQL did not start"
		exit 1
	fi
	: >"$dir/server.log"
done
[ -n "$started" ] || { log "no free port found for PostgreSQL"; exit 1; }

export CARDVAULT_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
"$@"
