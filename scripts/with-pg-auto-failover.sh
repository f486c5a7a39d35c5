#!/usr/bin/env bash
# with-pg-auto-failover.sh CMD [ARG...]
# with-pg-auto-failover.sh --install
#
# Runs CMD with a throwaway pg_auto_failover formation on 127.0.0.1: a
# monitor, a primary (node1) and two secondaries (node2, node3) with
# synchronous replication, each a PostgreSQL server run by its own
# `pg_autoctl run` keeper. The script waits until the primary and the
# secondaries are in their states and the monitor has seen them all healthy,
# runs CMD with
#
#   CARDVAULT_TEST_PGAF_URL          the formation's URL for clients: every
#                                    data node, target_session_attrs=read-write
#   CARDVAULT_TEST_PGAF_MONITOR_URL  the monitor's database (pgautofailover.node
#                                    holds each node's host, port and state)
#   CARDVAULT_TEST_PGAF_NODES        the data nodes' names: "node1 node2 node3"
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
# the script is interrupted. NODE is node1, node2 or node3 (the monitor
# names the primary). CMD's exit status is the script's.
#
#   CARDVAULT_PGAF_NODES  the number of data nodes: 3 (the default) or 2, a
#                         primary and one secondary. All are in the
#                         replication quorum, with the default candidate
#                         priority.
#
# Three nodes because one standby cannot keep a synchronous copy through a
# failure: after any failover, or whenever the one standby is away, the
# primary has nobody to replicate to, and pg_auto_failover either lets it
# acknowledge alone (wait_primary) or, with a guard that insists on a
# standby, it takes no writes. With two standbys the new primary still has
# one after losing any one node.
#
# number_sync_standbys is 1 with three nodes (pg_auto_failover 2.0's own
# choice when a second standby joins; the script sets it explicitly), 0 with
# two (the only value the monitor allows with one standby: it wants
# number_sync_standbys + 1 standbys in the quorum). synchronous_standby_names
# is "ANY 1 (the standbys)" either way; the value decides what the monitor
# does when no standby in the quorum is healthy (src/monitor/
# group_state_machine.c): with 0 it assigns the primary wait_primary, which
# empties synchronous_standby_names and acknowledges commits alone; with 1 it
# keeps the primary in primary, where commits wait for a standby. So with 1
# an established primary never acknowledges alone — not when both standbys
# fail, nor in 2.0's switchover bug (issue #774: the monitor reassigns the
# draining primary wait_primary once its only healthy standby leaves
# secondary to be promoted; with two standbys the election path does not go
# there anyway) — which is what a vault that insists on a standby
# (cardvault_min_standbys) wants. Either value leaves one window: a standby
# just promoted runs as wait_primary, synchronous replication off, until the
# monitor sees another standby follow it (the keeper's fsm_promote_standby):
# here, idle, 1.4 s from "ready to accept connections" to the
# synchronous_standby_names it sets on reaching primary, after a kill and
# after a switchover alike (TestFailover logs an upper bound of it as
# wait-primary-new). With two nodes that window lasts until the old primary
# rejoins.
# What 1 costs: an election (report_lsn) waits for number_sync_standbys + 1
# = 2 standbys to report, both of them when the primary is lost, and does
# not promote while one of them is unhealthy. Under TestFailover (27 runs,
# 9 of each case) no case stalled or lost a write; a killed or frozen
# primary was replaced in 4.8–9.4 s (medians 6.3 s and 5.7 s) against 3–4 s
# with two nodes: the round of report_lsn (about 1 s idle: each standby's
# keeper answers on its next loop) and a third PostgreSQL on the same
# cores, not the value (0 measured the same in one run of each case).
# CARDVAULT_PGAF_SYNC_STANDBYS sets another value, to compare.
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

nnodes=${CARDVAULT_PGAF_NODES:-3}
case $nnodes in
2 | 3) ;;
*) log "CARDVAULT_PGAF_NODES must be 2 or 3, not $nnodes"; exit 2 ;;
esac

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
	for n in node3 node2 node1 monitor; do
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
		for n in monitor node1 node2 node3; do
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

# free_port: a random port nothing listens on now, below the kernel's
# ephemeral range when that leaves room: a port in it can be taken, between
# the check and the server's bind, as the local port of some outgoing
# connection (seen: a node's PostgreSQL that could not bind for 50 s, and a
# formation started again).
eph_lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)
port_lo=20000 port_n=40000
if [ -n "$eph_lo" ] && [ "$eph_lo" -ge 12000 ]; then port_lo=10000 port_n=$((eph_lo - 10000)); fi
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$(( port_lo + (RANDOM * 32768 + RANDOM) % port_n ))
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

# create_node N PORT: node N made and its keeper started. node1 is made from
# an initialized directory; the others' create waits for the primary's
# keeper and copies its data (with its postgresql.auto.conf) by
# pg_basebackup.
create_node() {
	local node=node$1 port=$2
	mkdir -p "$dir/$node"
	[ "$1" = 1 ] && initdb_fast "$node"
	as_node "$node" pg_autoctl create postgres --pgctl "$bindir/pg_ctl" --pgport "$port" --listen 127.0.0.1 \
		--hostname 127.0.0.1 --name "$node" --dbname cardvault --auth trust --no-ssl \
		--monitor "$monitor_url" >"$dir/$node/create.log" 2>&1 ||
		{ cat "$dir/$node/create.log" >&2; server_log "$node"; log "pg_autoctl create postgres ($node) failed"; return 1; }
	grep -q "^wal_retrieve_retry_interval" "$dir/$node/data/postgresql.auto.conf" ||
		tune "$node" "${small[@]}" "wal_retrieve_retry_interval = '200ms'"
	ctl "$dir" "$node" start
}

ports=()
for n in $(seq 1 "$nnodes"); do
	port=$(free_port)
	while [[ " ${ports[*]} " == *" $port "* ]]; do port=$(free_port); done
	ports+=("$port")
done
create_node 1 "${ports[0]}" || exit 1
# The standbys at once: each waits on the primary and the monitor, which
# let them join one after the other.
creating=()
for n in $(seq 2 "$nnodes"); do
	create_node "$n" "${ports[$((n - 1))]}" &
	creating+=($!)
done
created=1
for p in "${creating[@]}"; do wait "$p" || created=""; done
[ -n "$created" ] || exit 1

# wait_ready: node1 primary, the others secondary, all as assigned and seen
# healthy by the monitor (a failover needs a node the monitor saw healthy
# first).
want="node1=primary/primary/1"
for n in $(seq 2 "$nnodes"); do want="$want node$n=secondary/secondary/1"; done
wait_ready() {
	local got=""
	for _ in $(seq 1 600); do
		got=$(monitor_sql "SELECT string_agg(nodename || '=' || reportedstate || '/' || goalstate || '/' || health, ' ' ORDER BY nodename) FROM pgautofailover.node")
		[ "$got" = "$want" ] && return 0
		sleep 0.1
	done
	log "the formation did not become ready: $got"
	return 1
}
wait_ready || exit 1

# number_sync_standbys as the header says; the monitor has the primary
# apply its new synchronous_standby_names (apply_settings, then primary
# again), which wait_ready waits for.
sync_want=${CARDVAULT_PGAF_SYNC_STANDBYS:-$((nnodes - 2))}
case $sync_want in
[0-9]) ;;
*) log "CARDVAULT_PGAF_SYNC_STANDBYS must be a number, not $sync_want"; exit 2 ;;
esac
sync_is=$(monitor_sql "SELECT number_sync_standbys FROM pgautofailover.formation WHERE formationid = 'default'")
if [ "$sync_is" != "$sync_want" ]; then
	"$bindir/psql" -X -A -t -q -d "$monitor_url" -c "SELECT pgautofailover.set_formation_number_sync_standbys('default', $sync_want)" >/dev/null ||
		{ log "number_sync_standbys $sync_want refused (above)"; exit 1; }
	# The goal changes in the call: wait for the primary to have applied it.
	wait_ready || exit 1
	sync_is=$(monitor_sql "SELECT number_sync_standbys FROM pgautofailover.formation WHERE formationid = 'default'")
	[ "$sync_is" = "$sync_want" ] || { log "number_sync_standbys is ${sync_is:-unknown}, not $sync_want"; exit 1; }
fi

hosts=""
for p in "${ports[@]}"; do hosts="$hosts${hosts:+,}127.0.0.1:$p"; done
export CARDVAULT_TEST_PGAF_URL="postgres://postgres@$hosts/cardvault?sslmode=disable&target_session_attrs=read-write"
export CARDVAULT_TEST_PGAF_MONITOR_URL=$monitor_url
CARDVAULT_TEST_PGAF_NODES=$(seq -f 'node%g' -s ' ' 1 "$nnodes")
export CARDVAULT_TEST_PGAF_NODES
printf '#!/bin/sh\nexec %q --ctl %q "$@"\n' "$self" "$dir" >"$dir/ctl"
chmod 755 "$dir/ctl"
export CARDVAULT_TEST_PGAF_CTL=$dir/ctl
nodes_log="node1 127.0.0.1:${ports[0]} (primary)"
for n in $(seq 2 "$nnodes"); do nodes_log="$nodes_log, node$n 127.0.0.1:${ports[$((n - 1))]}"; done
log "pg_auto_failover formation ready in ${SECONDS}s: monitor 127.0.0.1:$mport, $nodes_log; number_sync_standbys $sync_is"
cmd_started=1
set +e
"$@"
rc=$?
set -e
exit $rc
