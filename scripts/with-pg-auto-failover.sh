#!/usr/bin/env bash
# with-pg-auto-failover.sh CMD [ARG...]
# with-pg-auto-failover.sh --install
#
# Runs CMD with a throwaway pg_auto_failover formation on 127.0.0.1: a
# monitor, a primary (node1) and a secondary (node2) with synchronous
# replication, each a PostgreSQL server run by its own `pg_autoctl run`
# keeper. The script waits until the primary and the secondary are in their
# states and the monitor has seen both healthy, runs CMD with
#
#   CARDVAULT_TEST_PGAF_URL          the formation's URL for clients: both
#                                    nodes, target_session_attrs=read-write
#   CARDVAULT_TEST_PGAF_MONITOR_URL  the monitor's database (pgautofailover.node
#                                    holds each node's host, port and state)
#   CARDVAULT_TEST_PGAF_CTL          a command that acts on one node, as root
#                                    or as the postgres user:
#       ctl NODE kill     SIGKILL the node's keeper and PostgreSQL processes
#                         (a machine that dies), and wait until they are gone
#       ctl NODE freeze   SIGSTOP them (a machine that hangs or is cut off)
#       ctl NODE thaw     SIGCONT them
#       ctl NODE start    start the node's keeper again (`pg_autoctl run`: a
#                         killed old primary rewinds and rejoins as secondary)
#       ctl NODE autoctl ARG...   pg_autoctl ARG... on the node, e.g.
#                         `ctl node1 autoctl perform failover`
#       ctl NODE pids     the node's process ids
#       ctl NODE logs     what the node's keeper and PostgreSQL logged about
#                         replication, promotion and recovery (a failed
#                         test prints it)
#
# and kills and removes the formation when CMD ends, also when CMD fails or
# the script is interrupted. NODE is node1 or node2 (the monitor names the
# primary). CMD's exit status is the script's.
#
# The formation is tuned to fail over fast: the monitor checks health every
# 500 ms and gives up on a node after about 2 s (see the pgautofailover.*
# settings below, and RELIABILITY.md), the standby retries WAL every 200 ms,
# each instance gets 32 MB of shared buffers instead of a quarter of RAM, and
# fsync is off (the tests kill processes, not the machine; full_page_writes
# stays on for pg_rewind). Authentication
# is trust and SSL off: a test formation on loopback only.
#
# pg_autoctl comes from Debian's pg-auto-failover-cli and the monitor's
# extension from postgresql-NN-auto-failover, for the installed PostgreSQL
# NN. When they are missing, root with apt-get installs them (also
# `--install`, which does only that); anyone else gets a message that names
# them. pg_ctl refuses root, so as root everything runs as the postgres user
# (created when missing), with XDG_CONFIG_HOME, XDG_DATA_HOME and
# XDG_RUNTIME_DIR inside the formation's directory.
set -euo pipefail

log() { echo "with-pg-auto-failover: $*" >&2; }

as_pg=()
if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

# node_env DIR NODE: the environment of NODE's pg_autoctl.
node_env() {
	echo "XDG_CONFIG_HOME=$1/$2/config" "XDG_DATA_HOME=$1/$2/share" "XDG_RUNTIME_DIR=$1/$2/run" "PGDATA=$1/$2/data"
}

# pids DIR NODE: the node's processes — the keeper's session (the keeper and
# the services it forks, the postmaster among them) and the postmaster's
# children, which PostgreSQL puts in sessions of their own.
pids() {
	local dir=$1 node=$2 sid pm
	sid=$(cat "$dir/$node/keeper.pid" 2>/dev/null || true)
	pm=$(head -1 "$dir/$node/data/postmaster.pid" 2>/dev/null || true)
	# Nothing found is no error: a killed node has none.
	{
		if [ -n "$pm" ] && kill -0 "$pm" 2>/dev/null; then echo "$pm"; ps -o pid= --ppid "$pm" || true; fi
		if [ -n "$sid" ]; then ps -o pid= -s "$sid" || true; fi
	} 2>/dev/null | awk '{print $1}' | sort -u
}

# gone PID...: true when none of the processes exists any more (a zombie
# counts as existing: wait until it is reaped).
gone() {
	local p
	for p in "$@"; do [ -e "/proc/$p" ] && return 1; done
	return 0
}

# ctl DIR NODE ACTION [ARG...]: see the header.
ctl() {
	local dir=$1 node=$2 action=$3
	shift 3
	[ -d "$dir/$node/data" ] || { log "no node $node in $dir"; return 2; }
	local p
	case $action in
	pids) pids "$dir" "$node" ;;
	logs)
		[ -f "$dir/$node/killed-at" ] && echo "SIGKILL sent at $(tr '\n' ' ' <"$dir/$node/killed-at")"
		[ -f "$dir/$node/log-at-kill" ] && { echo "--- the last lines it logged before the kill"; tail -40 "$dir/$node/log-at-kill"; echo "---"; }
		grep -h -i -E 'synchronous|cancel|promot|redo|rewind|timeline|recovery|shut ?down|ready to accept|terminat|WARN|PANIC|FSM transition' \
			"$dir/$node/keeper.log" "$dir/$node/log-at-kill" "$dir/$node/data/log/"* 2>/dev/null | grep -v 'as a pivot' | tail -200 || true
		;;
	kill)
		# Twice: a service the keeper forked between the listing and
		# the signal is caught the second time.
		for _ in 1 2; do
			p=$(pids "$dir" "$node")
			[ -n "$p" ] && kill -KILL $p 2>/dev/null || true
			date +%T.%N >>"$dir/$node/killed-at"
		done
		local all
		all=$p
		for _ in $(seq 1 200); do
			if gone $all; then
				# What it logged up to its death: a basebackup that
				# replaces a failed rewind copies the new primary's log
				# directory over it.
				cat "$dir/$node/data/log/"* >"$dir/$node/log-at-kill" 2>/dev/null || true
				return 0
			fi
			sleep 0.05
		done
		log "the processes of $node did not go away"; return 1
		;;
	freeze)
		# The postmaster first, so that it forks nothing more.
		p=$(head -1 "$dir/$node/data/postmaster.pid" 2>/dev/null || true)
		[ -n "$p" ] && kill -STOP "$p" 2>/dev/null || true
		p=$(pids "$dir" "$node")
		[ -n "$p" ] && kill -STOP $p
		;;
	thaw)
		p=$(pids "$dir" "$node")
		[ -n "$p" ] && kill -CONT $p
		;;
	start)
		# setsid -f: the keeper is nobody's child here (init reaps it),
		# in a session of its own, whose id is its pid.
		rm -f "$dir/$node/keeper.pid"
		env $(node_env "$dir" "$node") "${as_pg[@]}" setsid -f sh -c 'echo $$ >"$1"; exec pg_autoctl run >>"$2" 2>&1 </dev/null' \
			sh "$dir/$node/keeper.pid" "$dir/$node/keeper.log"
		for _ in $(seq 1 100); do
			[ -s "$dir/$node/keeper.pid" ] && return 0
			sleep 0.02
		done
		log "the keeper of $node did not start"; return 1
		;;
	autoctl) env $(node_env "$dir" "$node") "${as_pg[@]}" pg_autoctl "$@" ;;
	*) log "unknown action $action"; return 2 ;;
	esac
}

if [ "${1:-}" = --ctl ]; then
	shift
	ctl "$@"
	exit $?
fi

# find_pg: the newest installed PostgreSQL whose pg_ctl exists; its major
# version on stdout.
find_pg() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then basename "$(dirname "$d")"; return 0; fi
	done
	return 1
}

have_pgaf() { # have_pgaf NN
	command -v pg_autoctl >/dev/null 2>&1 && [ -f "/usr/lib/postgresql/$1/lib/pgautofailover.so" ]
}

ensure_pgaf() {
	local major pkgs
	major=$(find_pg || true)
	pkgs="postgresql-${major:-NN}-auto-failover pg-auto-failover-cli"
	if [ -n "$major" ] && have_pgaf "$major"; then echo "$major"; return 0; fi
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		export DEBIAN_FRONTEND=noninteractive
		local out
		out=$(mktemp)
		[ -n "$major" ] || pkgs="postgresql $pkgs"
		log "installing Debian's $pkgs"
		# shellcheck disable=SC2086
		{ apt-get install -y -q --no-install-recommends $pkgs >"$out" 2>&1 ||
			{ apt-get update -q >"$out" 2>&1 && apt-get install -y -q --no-install-recommends $pkgs >"$out" 2>&1; }; } ||
			cat "$out" >&2
		rm -f "$out"
		major=$(find_pg || true)
		if [ -z "$major" ]; then
			pkgs="postgresql-NN-auto-failover pg-auto-failover-cli"
		else
			pkgs="postgresql-$major-auto-failover pg-auto-failover-cli"
			# The extension of the server's own version.
			have_pgaf "$major" || apt-get install -y -q --no-install-recommends "postgresql-$major-auto-failover" >/dev/null 2>&1 || true
			if have_pgaf "$major"; then echo "$major"; return 0; fi
		fi
	fi
	log "the failover tests need pg_auto_failover: install Debian's $pkgs (apt-get install $pkgs), for the installed PostgreSQL server"
	return 1
}

major=$(ensure_pgaf)
bindir=/usr/lib/postgresql/$major/bin
if [ "${1:-}" = --install ]; then
	command -v pg_autoctl
	exit 0
fi
[ $# -gt 0 ] || { log "usage: $0 CMD [ARG...] | --install"; exit 2; }

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
	useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cardvault-pgaf.XXXXXX")
chmod 700 "$dir"
[ ${#as_pg[@]} -gt 0 ] && chown postgres: "$dir"
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

# The semaphores of the formation's user before the formation: a SIGKILLed
# keeper leaks its log semaphore, and teardown removes those it left.
owner=$(id -un)
[ ${#as_pg[@]} -gt 0 ] && owner=postgres
sems_before=$(ipcs -s 2>/dev/null | awk -v u="$owner" '$3==u {print $2}' | sort)

cleanup() {
	local rc=$? n p all=""
	set +e # tear down all there is, whatever fails
	for n in node2 node1 monitor; do
		[ -d "$dir/$n" ] || continue
		p=$(pids "$dir" "$n")
		[ -n "$p" ] && { kill -CONT $p 2>/dev/null; kill -KILL $p 2>/dev/null; } || true
		all="$all $p"
	done
	for _ in $(seq 1 200); do
		gone $all && break
		sleep 0.05
	done
	local id pid
	for id in $(ipcs -s 2>/dev/null | awk -v u="$owner" '$3==u {print $2}' | sort); do
		echo "$sems_before" | grep -qx "$id" && continue
		pid=$(ipcs -s -i "$id" 2>/dev/null | awk '$1=="0" {print $5}')
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then ipcrm -s "$id" 2>/dev/null || true; fi
	done
	if [ "$rc" != 0 ] && [ -z "${cmd_started:-}" ]; then
		for n in monitor node1 node2; do
			[ -f "$dir/$n/keeper.log" ] && { log "--- $n's keeper log (last lines)"; tail -20 "$dir/$n/keeper.log" >&2; } || true
		done
	fi
	rm -rf "$dir"
	exit $rc
}
trap cleanup EXIT
# Every way the script can be stopped tears the formation down: HUP and
# PIPE too (a reader of its output that went away killed it without its
# EXIT trap, leaving a formation running).
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

# free_port: a random high port nothing listens on now.
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
		(: </dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}

# as_node NODE CMD...: CMD as the postgres user with NODE's environment.
as_node() {
	local node=$1
	shift
	mkdir -p "$dir/$node/run"
	[ ${#as_pg[@]} -gt 0 ] && chown -R postgres: "$dir/$node"
	env $(node_env "$dir" "$node") "${as_pg[@]}" "$@"
}

# server_log NODE: the last lines of NODE's PostgreSQL log, which its
# logging collector writes under the data directory.
server_log() {
	local f
	f=$(ls -t "$dir/$1/data/log/"* 2>/dev/null | head -1 || true)
	[ -n "$f" ] && { log "--- $1's PostgreSQL log (last lines)"; tail -20 "$f" >&2; } || true
}

# tune NODE SETTING...: settings in postgresql.auto.conf, which pg_autoctl
# does not rewrite on every start as it does postgresql-auto-failover.conf.
tune() {
	local node=$1 s
	shift
	for s in "$@"; do echo "$s"; done >>"$dir/$node/data/postgresql.auto.conf"
}

# fsync off, but full_page_writes at PostgreSQL's default (on) on the nodes:
# pg_rewind needs it, and an old primary that rejoins is rewound as in
# production rather than copied afresh by pg_basebackup.
small=("shared_buffers = '32MB'" "work_mem = '4MB'" "maintenance_work_mem = '16MB'" "max_connections = 100"
	"fsync = off")

# initdb_fast NODE: the data directory, made without the fsync pass that
# pg_autoctl's own initdb makes (seconds on a busy machine); pg_autoctl
# create takes an initialized directory as it is.
initdb_fast() {
	as_node "$1" "$bindir/initdb" -D "$dir/$1/data" --no-sync -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/$1/initdb.log" 2>&1 ||
		as_node "$1" "$bindir/initdb" -D "$dir/$1/data" --no-sync -U postgres --auth=trust -E UTF8 --locale=C >"$dir/$1/initdb.log" 2>&1 ||
		{ cat "$dir/$1/initdb.log" >&2; log "initdb ($1) failed"; exit 1; }
}

mport=$(free_port)
mkdir -p "$dir/monitor"
initdb_fast monitor
as_node monitor pg_autoctl create monitor --pgctl "$bindir/pg_ctl" --pgport "$mport" \
	--hostname 127.0.0.1 --auth trust --no-ssl >"$dir/monitor/create.log" 2>&1 ||
	{ cat "$dir/monitor/create.log" >&2; log "pg_autoctl create monitor failed"; exit 1; }
as_node monitor pg_autoctl config set postgresql.listen_addresses 127.0.0.1 >/dev/null
# How fast the monitor fails over: a health check every 500 ms that gives up
# after 1 s, one retry 250 ms later; a node is unhealthy when it also has
# not reported for 2 s; a primary that does not answer is given 1 s to
# demote itself; failover is allowed 1 s after the monitor starts.
tune monitor "${small[@]}" "full_page_writes = off" \
	"pgautofailover.health_check_period = 500" \
	"pgautofailover.health_check_timeout = 1000" \
	"pgautofailover.health_check_max_retries = 1" \
	"pgautofailover.health_check_retry_delay = 250" \
	"pgautofailover.node_considered_unhealthy_timeout = 2000" \
	"pgautofailover.primary_demote_timeout = 1000" \
	"pgautofailover.startup_grace_period = 1000"
ctl "$dir" monitor start
for _ in $(seq 1 300); do
	"$bindir/pg_isready" -q -h 127.0.0.1 -p "$mport" && break
	sleep 0.1
done
monitor_url="postgres://autoctl_node@127.0.0.1:$mport/pg_auto_failover?sslmode=disable"

# monitor_sql SQL: one value from the monitor.
monitor_sql() { "$bindir/psql" -X -A -t -q -d "$monitor_url" -c "$1" 2>/dev/null || true; }

ports=()
for n in 1 2; do
	node=node$n
	port=$(free_port)
	ports+=("$port")
	mkdir -p "$dir/$node"
	[ "$n" = 1 ] && initdb_fast "$node"
	# The second node's create waits for the primary's keeper and copies
	# its data (with its postgresql.auto.conf) by pg_basebackup.
	as_node "$node" pg_autoctl create postgres --pgctl "$bindir/pg_ctl" --pgport "$port" --listen 127.0.0.1 \
		--hostname 127.0.0.1 --name "$node" --dbname cardvault --auth trust --no-ssl \
		--monitor "$monitor_url" >"$dir/$node/create.log" 2>&1 ||
		{ cat "$dir/$node/create.log" >&2; server_log "$node"; log "pg_autoctl create postgres ($node) failed"; exit 1; }
	grep -q "^wal_retrieve_retry_interval" "$dir/$node/data/postgresql.auto.conf" ||
		tune "$node" "${small[@]}" "wal_retrieve_retry_interval = '200ms'"
	ctl "$dir" "$node" start
done

# Ready: node1 primary, node2 secondary, both as assigned and seen healthy
# by the monitor (a failover needs a node the monitor saw healthy first).
ready=""
for _ in $(seq 1 600); do
	got=$(monitor_sql "SELECT string_agg(nodename || '=' || reportedstate || '/' || goalstate || '/' || health, ' ' ORDER BY nodename) FROM pgautofailover.node")
	if [ "$got" = "node1=primary/primary/1 node2=secondary/secondary/1" ]; then ready=1; break; fi
	sleep 0.1
done
[ -n "$ready" ] || { log "the formation did not become ready: $got"; exit 1; }

export CARDVAULT_TEST_PGAF_URL="postgres://postgres@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}/cardvault?sslmode=disable&target_session_attrs=read-write"
export CARDVAULT_TEST_PGAF_MONITOR_URL=$monitor_url
printf '#!/bin/sh\nexec %q --ctl %q "$@"\n' "$self" "$dir" >"$dir/ctl"
chmod 755 "$dir/ctl"
export CARDVAULT_TEST_PGAF_CTL=$dir/ctl
log "pg_auto_failover formation ready in ${SECONDS}s: monitor 127.0.0.1:$mport, node1 127.0.0.1:${ports[0]} (primary), node2 127.0.0.1:${ports[1]}"
cmd_started=1
set +e
"$@"
rc=$?
set -e
exit $rc
