#!/usr/bin/env bash
#
# relay.sh - what acctgate's relay costs per query, beside HAProxy relaying
# the same bytes in TCP mode, on this machine, in one command:
#
#   bash bench/relay.sh [seconds-per-run] [rounds]        (default 10, 2)
#
# Configurations, all on 127.0.0.1, each in front of one lab MariaDB:
#   direct-tls      sysbench straight to MariaDB, TLS (the floor)
#   haproxy-tcp     HAProxy `mode tcp`: the client's TLS passes through to
#                   MariaDB untouched (one relay, no crypto in the proxy)
#   acctgate-tls    acctgate, client_tls = required, upstream tls =
#                   verify_identity with the lab CA (two TLS legs: decrypt,
#                   re-encrypt)
#   acctgate-plain  acctgate with both legs plaintext (the relay alone)
# Workloads: sysbench oltp_read_write and oltp_point_select, 4 tables of
# 10000 rows, at 1, 8 and 64 threads. Runs are interleaved: every round runs
# each (workload, threads) point once per configuration, back to back, the
# configurations' order rotating from round to round, so a neighbour's build
# or a thermal drift lands on all of them alike and the ratios pair runs that
# were minutes apart at most.
#
# Every run gets a fresh proxy process, so what the process counts is the
# run's. Per run:
#   tps, p99      sysbench's transactions/s and 99th-percentile latency (ms)
#   cpu/q         the proxy's utime+stime (/proc/PID/stat) over the run, per
#                 query (µs), queries from sysbench's "queries:" total
#   sys/q         every syscall the proxy made (epoll_wait included), per
#                 query: `perf stat -e raw_syscalls:sys_enter -p PID` around
#                 the run ("-" when perf cannot count here)
#   rw/q          syscr+syscw of /proc/PID/io, per query. The kernel counts
#                 read/readv/write/writev there but not recv/send/recvmsg/
#                 sendmsg, which HAProxy uses: compare sys/q across proxies,
#                 rw/q only between acctgate configurations
#   rec/q         TLS records acctgate wrote per query, from the line
#                 `io: records_out=N sends=N recvs=N` it logs when it exits
#                 ("-" when it logs none; HAProxy does not count them)
#   db sys/q      the server's syscalls per query (the same perf count on
#                 mariadbd; it also keeps the tracepoint's small cost on
#                 every run, the direct ones included)
# and a check that the server saw TLS sessions (Ssl_accepts) exactly when
# the configuration says it should.
#
# At the end: one table of the means over rounds with each configuration's
# ratios to HAProxy (means of the per-round ratios; the spread over rounds
# is in the Markdown), written with the machine's description to
# bench/results/relay.md, the raw runs to bench/results/relay-runs.tsv, and
# throughput and p99 by thread count to bench/results/relay-tps.png and
# relay-p99.png.
#
# Installs what it lacks with apt-get (sysbench, haproxy, gnuplot-nox,
# linux-perf, MariaDB, and acctgate's build dependencies) and builds
# build/acctgate with cmake (RelWithDebInfo) unless ACCTGATE_BIN names one.
# Everything lives in a temporary directory removed at exit, Ctrl-C
# included (RELAY_KEEP=1 keeps it for a post-mortem). perf needs tracefs;
# when it is not mounted the script mounts it and unmounts it at exit.
#
# Environment: RELAY_THREADS="1 8 64", RELAY_WORKLOADS="oltp_read_write
# oltp_point_select" (subsets for a quick look), JOBS=1 (build parallelism).
set -euo pipefail

SECS=${1:-10}
ROUNDS=${2:-2}
if ! [[ $SECS =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: bash bench/relay.sh [seconds-per-run] [rounds]   (positive integers; default 10 2)" >&2
	exit 2
fi
read -ra THREADS <<<"${RELAY_THREADS:-1 8 64}"
read -ra WORKLOADS <<<"${RELAY_WORKLOADS:-oltp_read_write oltp_point_select}"
CONFIGS=(direct-tls haproxy-tcp acctgate-tls acctgate-plain)
TABLES=4
TABLE_SIZE=10000

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS=$REPO/bench/results
# shellcheck source=scripts/lab.sh
. "$REPO/scripts/lab.sh"

say() { printf '[relay %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
	printf '[relay] ERROR: %s\n' "$*" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Packages and the binary
# ---------------------------------------------------------------------------

# What the runs use, and what building acctgate needs (Debian 12 names).
RUN_PACKAGES=(sysbench haproxy gnuplot-nox linux-perf mariadb-server mariadb-client openssl iproute2 procps)
BUILD_PACKAGES=(build-essential cmake pkg-config libevent-dev libssl-dev libmariadb-dev libjemalloc-dev libcmocka-dev)

# install_missing PACKAGE...: apt-get install those not installed; the
# package lists are refreshed only when a first attempt fails.
install_missing() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	((EUID == 0)) || die "missing packages (${missing[*]}) and not root: install them or run as root"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
		apt-get update -q >/dev/null || die "apt-get update failed"
		apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]} failed"
	fi
}

install_missing "${RUN_PACKAGES[@]}"
if [[ $ACCTGATE_BIN == "$LAB_REPO/build/acctgate" ]]; then
	install_missing "${BUILD_PACKAGES[@]}"
	# An existing build directory is the developer's: use it only if it is
	# an optimised one, rather than reconfigure it behind their back.
	if [[ -f $REPO/build/CMakeCache.txt ]]; then
		bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$REPO/build/CMakeCache.txt")
		if [[ $bt != RelWithDebInfo && $bt != Release ]] ||
			grep -q '^ACCTGATE_SANITIZE:BOOL=ON' "$REPO/build/CMakeCache.txt"; then
			die "build/ is configured as '${bt:-none}'${bt:+ (or with sanitizers)}: a benchmark needs RelWithDebInfo; reconfigure it or set ACCTGATE_BIN"
		fi
	else
		say "configuring build/ (RelWithDebInfo)"
		cmake -S "$REPO" -B "$REPO/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	fi
	# Always: a no-op when up to date, and the figures are then those of the
	# source checked out.
	say "building acctgate"
	cmake --build "$REPO/build" --target acctgate -j"${JOBS:-1}" >/dev/null
fi
[[ -x $ACCTGATE_BIN ]] || die "no acctgate binary at $ACCTGATE_BIN"

# ---------------------------------------------------------------------------
# State, and its cleanup
# ---------------------------------------------------------------------------

TMP=$(mktemp -d /tmp/acctgate-relay.XXXXXX)
TRACEFS_MOUNTED=0
HAPROXY_DIR=$TMP/haproxy
cleanup() {
	trap - EXIT INT TERM
	lab_kill_pidfile "$HAPROXY_DIR/haproxy.pid" haproxy 10 || true
	lab_acctgate_stop "$TMP/acctgate-tls" 2>/dev/null || true
	lab_acctgate_stop "$TMP/acctgate-plain" 2>/dev/null || true
	lab_mariadb_stop "$TMP/mariadb" 2>/dev/null || true
	if ((TRACEFS_MOUNTED)); then
		umount /sys/kernel/tracing 2>/dev/null || true
	fi
	if [[ -n ${RELAY_KEEP:-} ]]; then
		say "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Counters
# ---------------------------------------------------------------------------

# cpu_ticks PID: utime + stime of all the process's threads, in clock ticks
# (fields 14 and 15 of /proc/PID/stat, counted after the command's ")").
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# io_rw PID: syscr + syscw (read- and write-family syscalls, see the header).
io_rw() { awk '/^sysc[rw]:/ { n += $2 } END { print n + 0 }' "/proc/$1/io"; }

# ssl_accepts: TLS sessions the server has accepted so far.
ssl_accepts() {
	lab_mariadb_sql "$TMP/mariadb" --skip-ssl -N -B -e "SHOW GLOBAL STATUS LIKE 'Ssl_accepts'" | awk '{ print $2 }'
}

# perf can count syscalls when tracefs is there and the kernel lets us.
PERF=0
if command -v perf >/dev/null; then
	if [[ ! -d /sys/kernel/tracing/events/raw_syscalls ]] && ((EUID == 0)) &&
		mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
		TRACEFS_MOUNTED=1
	fi
	if perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null; then
		PERF=1
	else
		say "perf cannot count raw_syscalls:sys_enter here: sys/q will be '-'"
	fi
fi

# perf_count FILE: the count perf stat -x, wrote, "-" if none.
perf_count() {
	awk -F, '$3 == "raw_syscalls:sys_enter" && $1 ~ /^[0-9]+$/ { print $1; f = 1 } END { if (!f) print "-" }' "$1" 2>/dev/null ||
		echo -
}

# per_q TOTAL QUERIES [SCALE]: TOTAL * SCALE / QUERIES with two decimals, or
# "-" when there is no total.
per_q() {
	[[ $1 =~ ^[0-9]+$ && $2 =~ ^[1-9][0-9]*$ ]] || {
		echo -
		return
	}
	awk -v t="$1" -v q="$2" -v s="${3:-1}" 'BEGIN { printf "%.2f", t * s / q }'
}

# io_line LOG KEY: the value of KEY= on the last `io:` line of acctgate's
# log, or nothing.
io_line() {
	grep -E '(^|[[:space:]])io: ' "$1" 2>/dev/null | tail -n1 |
		sed -n "s/.*[[:space:]]$2=\([0-9][0-9]*\).*/\1/p"
}

# ---------------------------------------------------------------------------
# The server, the data, the proxies
# ---------------------------------------------------------------------------

NPROC=$(nproc)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
CERTS=$TMP/certs
lab_certs "$CERTS"
DB_PORT=$(lab_free_port 24600)
lab_mariadb_start "$TMP/mariadb" "$DB_PORT" "$CERTS" server 2>"$TMP/mariadb-start.err" || {
	cat "$TMP/mariadb-start.err" >&2
	exit 1
}
DB_PID=$(<"$TMP/mariadb/mariadbd.pid")
# The lab server logs every statement (the tests read it) and allows 300
# sessions; a benchmark wants neither limit.
lab_mariadb_sql "$TMP/mariadb" -e "SET GLOBAL general_log = OFF; SET GLOBAL max_connections = 1000;
	CREATE DATABASE sbtest"
HA_PORT=$(lab_free_port $((DB_PORT + 1)))
TLS_PORT=$(lab_free_port $((HA_PORT + 1)))
PLAIN_PORT=$(lab_free_port $((TLS_PORT + 1)))

lab_acctgate_conf "$TMP/acctgate-tls/acctgate.conf" "$TLS_PORT" "127.0.0.1:$DB_PORT" "$CERTS" \
	client_tls=required tls=verify_identity threads="$NPROC" max_connections=1024 log_level=info
lab_acctgate_conf "$TMP/acctgate-plain/acctgate.conf" "$PLAIN_PORT" "127.0.0.1:$DB_PORT" "$CERTS" \
	client_tls=disabled tls=disabled threads="$NPROC" max_connections=1024 log_level=info

# TCP mode: HAProxy relays bytes, so the MySQL protocol's in-band TLS
# upgrade goes through to the server untouched. No log lines: acctgate's
# per-session ones are a few per session, outside the query path too.
mkdir -p "$HAPROXY_DIR"
cat >"$HAPROXY_DIR/haproxy.cfg" <<-EOF
	global
	    maxconn 4096
	    nbthread $NPROC
	defaults
	    mode tcp
	    timeout connect 5s
	    timeout client 600s
	    timeout server 600s
	frontend relay
	    bind 127.0.0.1:$HA_PORT
	    default_backend mariadb
	backend mariadb
	    server db 127.0.0.1:$DB_PORT
EOF
haproxy -c -q -f "$HAPROXY_DIR/haproxy.cfg" || die "haproxy refused $HAPROXY_DIR/haproxy.cfg"

# proxy_start CONFIG: a fresh proxy for CONFIG; sets PROXY_PID (empty for
# direct) and PORT.
proxy_start() {
	PROXY_PID="" PORT=$DB_PORT
	case $1 in
	haproxy-tcp)
		PORT=$HA_PORT
		rm -f "$HAPROXY_DIR/haproxy.log"
		haproxy -db -f "$HAPROXY_DIR/haproxy.cfg" >"$HAPROXY_DIR/haproxy.log" 2>&1 </dev/null &
		PROXY_PID=$!
		printf '%s\n' "$PROXY_PID" >"$HAPROXY_DIR/haproxy.pid"
		lab_wait_port "$PORT" 20 "$PROXY_PID" "$HAPROXY_DIR/haproxy.log" || exit 1
		;;
	acctgate-*)
		local d=$TMP/$1
		PORT=$([[ $1 == acctgate-tls ]] && echo "$TLS_PORT" || echo "$PLAIN_PORT")
		rm -f "$d/acctgate.log"
		lab_acctgate_start "$d" "$d/acctgate.conf" 2>"$d/start.err" || {
			cat "$d/start.err" >&2
			exit 1
		}
		PROXY_PID=$(<"$d/acctgate.pid")
		;;
	esac
}

# proxy_stop CONFIG: stop it and wait for it (acctgate logs its counters as
# it exits).
proxy_stop() {
	case $1 in
	haproxy-tcp) lab_kill_pidfile "$HAPROXY_DIR/haproxy.pid" haproxy 10 ;;
	acctgate-*) lab_acctgate_stop "$TMP/$1" ;;
	esac
}

# sysbench --mysql-ssl=on reads these names from its working directory.
SB_DIR=$TMP/sysbench
mkdir -p "$SB_DIR"
cp "$CERTS/ca.pem" "$SB_DIR/cacert.pem"
cp "$CERTS/client-cert.pem" "$SB_DIR/client-cert.pem"
cp "$CERTS/client-key.pem" "$SB_DIR/client-key.pem"

# sb_cmd WORKLOAD PORT SSL THREADS COMMAND: set SB to the sysbench command
# (to run in $SB_DIR), bounded by a timeout well past its own --time so that
# a stalled proxy cannot hang the bench. An array, not a function: perf
# must exec it.
sb_cmd() {
	SB=(timeout -k 10 $((SECS + 120)) sysbench "$1" --db-driver=mysql
		--mysql-host=127.0.0.1 --mysql-port="$2" --mysql-ssl="$3"
		--mysql-user="$LAB_DB_USER" --mysql-password="$LAB_DB_PASS" --mysql-db=sbtest
		--tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$4" --time="$SECS"
		--percentile=99 --report-interval=0 "$5")
}

say "preparing $TABLES tables of $TABLE_SIZE rows"
sb_cmd oltp_read_write "$DB_PORT" off "$TABLES" prepare
(cd "$SB_DIR" && "${SB[@]}") >"$TMP/prepare.log" 2>&1 || {
	tail -n 20 "$TMP/prepare.log" >&2
	die "sysbench prepare failed"
}

# ---------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------

TSV=$TMP/runs.tsv
printf 'round\tworkload\tthreads\tconfig\ttps\tp99_ms\tqueries\terrors\tcpu_us_q\tsys_q\trw_q\trec_q\tsends_q\trecvs_q\tdb_sys_q\tserver_tls\n' >"$TSV"
TOTAL=$((ROUNDS * ${#WORKLOADS[@]} * ${#THREADS[@]} * ${#CONFIGS[@]}))
N=0
FAILED=0

# run_one ROUND WORKLOAD THREADS CONFIG: one run, one line in $TSV.
run_one() {
	local round=$1 wl=$2 thr=$3 cfg=$4 ssl=on out rc
	local cpu0=0 cpu1=0 rw0=0 rw1=0 tls0 tls1 wrap=()
	[[ $cfg == acctgate-plain ]] && ssl=off
	proxy_start "$cfg"
	rm -f "$TMP/perf-proxy.out" "$TMP/perf-db.out"
	if ((PERF)); then
		wrap=(perf stat -e raw_syscalls:sys_enter "-x," -o "$TMP/perf-db.out" -p "$DB_PID" --)
		[[ -n $PROXY_PID ]] &&
			wrap+=(perf stat -e raw_syscalls:sys_enter "-x," -o "$TMP/perf-proxy.out" -p "$PROXY_PID" --)
	fi
	if [[ -n $PROXY_PID ]]; then
		cpu0=$(cpu_ticks "$PROXY_PID") rw0=$(io_rw "$PROXY_PID")
	fi
	tls0=$(ssl_accepts)
	rc=0
	sb_cmd "$wl" "$PORT" "$ssl" "$thr" run
	out=$(cd "$SB_DIR" && "${wrap[@]}" "${SB[@]}" 2>&1) || rc=$?
	tls1=$(ssl_accepts)
	if [[ -n $PROXY_PID ]]; then
		cpu1=$(cpu_ticks "$PROXY_PID") rw1=$(io_rw "$PROXY_PID")
	fi
	proxy_stop "$cfg"

	local tps p99 queries errors cpu sys rw rec=- sends=- recvs=- dbsys tls
	tps=$(awk '/transactions:/ { gsub(/[()]/, "", $3); print $3; exit }' <<<"$out")
	p99=$(awk '/99th percentile:/ { print $3; exit }' <<<"$out")
	queries=$(awk '/queries:/ { print $2; exit }' <<<"$out")
	errors=$(awk '/ignored errors:/ { print $3; exit }' <<<"$out")
	if ((rc)) || ! [[ $queries =~ ^[1-9][0-9]*$ ]]; then
		FAILED=$((FAILED + 1))
		printf '%s\n' "$out" | tail -n 15 >&2
		say "run failed: $wl threads=$thr $cfg (sysbench exit $rc); its row is '-'"
		tps=- p99=- queries=- errors=-
	fi
	tls=$((tls1 - tls0))
	cpu=- sys=- rw=-
	if [[ -n $PROXY_PID ]]; then
		cpu=$(per_q $(((cpu1 - cpu0) * TICK_US)) "$queries")
		rw=$(per_q $((rw1 - rw0)) "$queries")
		((PERF)) && sys=$(per_q "$(perf_count "$TMP/perf-proxy.out")" "$queries")
	fi
	dbsys=-
	((PERF)) && dbsys=$(per_q "$(perf_count "$TMP/perf-db.out")" "$queries")
	if [[ $cfg == acctgate-* ]]; then
		local log=$TMP/$cfg/acctgate.log v
		v=$(io_line "$log" records_out) && [[ -n $v ]] && rec=$(per_q "$v" "$queries")
		v=$(io_line "$log" sends) && [[ -n $v ]] && sends=$(per_q "$v" "$queries")
		v=$(io_line "$log" recvs) && [[ -n $v ]] && recvs=$(per_q "$v" "$queries")
	fi
	# The server must see TLS from every session but the plaintext one's.
	local tls_note="" tls_want=$thr tls_bad=0
	if [[ $cfg == acctgate-plain ]]; then
		tls_want=0
		((tls == 0)) || tls_bad=1
	else
		((tls >= thr)) || tls_bad=1
	fi
	if ((tls_bad)); then
		tls_note="  (server TLS sessions: $tls, expected $tls_want)"
		say "WARNING: $cfg $wl threads=$thr: the server accepted $tls TLS sessions, expected $tls_want"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$wl" "$thr" "$cfg" \
		"$tps" "$p99" "$queries" "$errors" "$cpu" "$sys" "$rw" "$rec" "$sends" "$recvs" "$dbsys" "$tls" >>"$TSV"
	N=$((N + 1))
	printf '[%3d/%d] round %d  %-17s %2s thr  %-14s tps %9s  p99 %7s ms  cpu %7s us/q  sys %6s/q  rw %6s/q  rec %5s/q%s\n' \
		"$N" "$TOTAL" "$round" "$wl" "$thr" "$cfg" "$tps" "$p99" "$cpu" "$sys" "$rw" "$rec" "$tls_note"
}

echo "acctgate relay benchmark: ${#CONFIGS[@]} configurations x ${#WORKLOADS[@]} workloads x threads ${THREADS[*]}," \
	"${SECS}s per run, $ROUNDS rounds, interleaved ($NPROC CPUs, load $LOAD_START)"
for ((r = 1; r <= ROUNDS; r++)); do
	for wl in "${WORKLOADS[@]}"; do
		for thr in "${THREADS[@]}"; do
			for ((i = 0; i < ${#CONFIGS[@]}; i++)); do
				run_one "$r" "$wl" "$thr" "${CONFIGS[$(((i + r - 1) % ${#CONFIGS[@]}))]}"
			done
		done
	done
done

# ---------------------------------------------------------------------------
# Summary: the table, the Markdown, the plots
# ---------------------------------------------------------------------------

# summarize FORMAT(text|md) < TSV: per (workload, threads, config) the means
# over rounds, and the means of the per-round ratios to haproxy-tcp of the
# same round and point (with their range over rounds in md). Columns whose
# values are all "-" print "-".
summarize() {
	awk -F'\t' -v fmt="$1" -v configs="${CONFIGS[*]}" -v workloads="${WORKLOADS[*]}" -v threads="${THREADS[*]}" '
	function num(x) { return x != "-" && x != "" }
	function mean(k, c) { return cnt[k, c] ? sprintf("%.2f", sum[k, c] / cnt[k, c]) : "-" }
	function rmean(k, c) { return rcnt[k, c] ? sprintf("%.3f", rsum[k, c] / rcnt[k, c]) : "-" }
	function rrange(k, c) {
		if (!rcnt[k, c]) return "-"
		if (rcnt[k, c] == 1) return sprintf("%.3f", rsum[k, c])
		return sprintf("%.3f (%.3f-%.3f)", rsum[k, c] / rcnt[k, c], rmin[k, c], rmax[k, c])
	}
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{ row[NR] = $0 }
	END {
		nm = split("tps p99_ms cpu_us_q sys_q rw_q rec_q db_sys_q", metric, " ")
		nr = split("tps p99_ms cpu_us_q sys_q", rmetric, " ")
		# Sums per point; haproxy-tcp per round, for the ratios.
		for (n in row) {
			split(row[n], f, "\t")
			k = f[col["workload"]] SUBSEP f[col["threads"]] SUBSEP f[col["config"]]
			for (m = 1; m <= nm; m++) {
				v = f[col[metric[m]]]
				if (num(v)) { sum[k, metric[m]] += v; cnt[k, metric[m]]++ }
			}
			if (f[col["config"]] == "haproxy-tcp")
				for (m = 1; m <= nr; m++) ha[f[col["round"]], f[col["workload"]], f[col["threads"]], rmetric[m]] = f[col[rmetric[m]]]
		}
		for (n in row) {
			split(row[n], f, "\t")
			k = f[col["workload"]] SUBSEP f[col["threads"]] SUBSEP f[col["config"]]
			for (m = 1; m <= nr; m++) {
				v = f[col[rmetric[m]]]
				b = ha[f[col["round"]], f[col["workload"]], f[col["threads"]], rmetric[m]]
				if (!num(v) || !num(b) || b == 0) continue
				q = v / b
				rsum[k, rmetric[m]] += q
				if (!rcnt[k, rmetric[m]]++ || q < rmin[k, rmetric[m]]) rmin[k, rmetric[m]] = q
				if (q > rmax[k, rmetric[m]]) rmax[k, rmetric[m]] = q
			}
		}
		nc = split(configs, cfg, " "); nw = split(workloads, wl, " "); nt = split(threads, th, " ")
		if (fmt == "text") {
			printf "%-17s %3s %-14s %9s %8s %8s %7s %7s %6s | %7s %7s %7s %7s\n", "workload", "thr", "config", "tps", "p99 ms", "cpu us/q", "sys/q", "rw/q", "rec/q", "tps/HA", "p99/HA", "cpu/HA", "sys/HA"
		} else {
			print "| workload | threads | configuration | tps | p99 ms | proxy CPU µs/query | proxy syscalls/query | proxy rw syscalls/query | TLS records/query | server syscalls/query | tps / HAProxy | p99 / HAProxy | CPU / HAProxy | syscalls / HAProxy |"
			print "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
		}
		for (w = 1; w <= nw; w++) for (t = 1; t <= nt; t++) for (c = 1; c <= nc; c++) {
			k = wl[w] SUBSEP th[t] SUBSEP cfg[c]
			if (fmt == "text")
				printf "%-17s %3s %-14s %9s %8s %8s %7s %7s %6s | %7s %7s %7s %7s\n", wl[w], th[t], cfg[c], mean(k, "tps"), mean(k, "p99_ms"), mean(k, "cpu_us_q"), mean(k, "sys_q"), mean(k, "rw_q"), mean(k, "rec_q"), rmean(k, "tps"), rmean(k, "p99_ms"), rmean(k, "cpu_us_q"), rmean(k, "sys_q")
			else
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", wl[w], th[t], cfg[c], mean(k, "tps"), mean(k, "p99_ms"), mean(k, "cpu_us_q"), mean(k, "sys_q"), mean(k, "rw_q"), mean(k, "rec_q"), mean(k, "db_sys_q"), rrange(k, "tps"), rrange(k, "p99_ms"), rrange(k, "cpu_us_q"), rrange(k, "sys_q")
		}
	}' <"$TSV"
}

# plot_data WORKLOAD METRIC: "threads value-per-config..." lines, means
# over rounds, for gnuplot.
plot_data() {
	awk -F'\t' -v w="$1" -v m="$2" -v configs="${CONFIGS[*]}" -v threads="${THREADS[*]}" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	$col["workload"] == w && $col[m] != "-" { s[$col["threads"], $col["config"]] += $col[m]; n[$col["threads"], $col["config"]]++ }
	END {
		nc = split(configs, cfg, " "); nt = split(threads, th, " ")
		for (t = 1; t <= nt; t++) {
			line = th[t]
			for (c = 1; c <= nc; c++) line = line " " (n[th[t], cfg[c]] ? s[th[t], cfg[c]] / n[th[t], cfg[c]] : "-")
			print line
		}
	}' <"$TSV"
}

# plot METRIC TITLE PNG: one panel per workload, a line per configuration.
plot() {
	local metric=$1 ylabel=$2 png=$3 w t i=0 term=png
	gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1 && term=pngcairo
	{
		echo "set terminal $term size $((560 * ${#WORKLOADS[@]})),440"
		echo "set output '$png'"
		echo "set datafile missing '-'"
		echo "set logscale x 2; set xtics ($(for t in "${THREADS[@]}"; do printf '"%s" %s,' "$t" "$t"; done | sed 's/,$//'))"
		# noenhanced: the workloads' underscores are not subscripts.
		echo "set termoption noenhanced"
		echo "set xrange [${THREADS[0]} * 0.7:${THREADS[-1]} * 1.4]"
		echo "set xlabel 'sysbench threads'; set ylabel '$ylabel'; set grid; set key below"
		# Latencies span three decades from 1 to 64 threads: a log scale.
		if [[ $metric == p99_ms ]]; then echo "set logscale y"; else echo "set yrange [0:*]"; fi
		echo "set multiplot layout 1,${#WORKLOADS[@]} title 'acctgate relay, ${SECS}s x $ROUNDS rounds, $NPROC CPUs ($(date -u +%F))'"
		for w in "${WORKLOADS[@]}"; do
			plot_data "$w" "$metric" >"$TMP/plot-$metric-$w.dat"
			echo "set title '$w'"
			printf 'plot '
			for ((i = 0; i < ${#CONFIGS[@]}; i++)); do
				((i)) && printf ', '
				printf "'%s' using 1:%d with linespoints lw 2 title '%s'" "$TMP/plot-$metric-$w.dat" $((i + 2)) "${CONFIGS[$i]}"
			done
			echo
		done
		echo "unset multiplot"
	} >"$TMP/plot-$metric.gp"
	gnuplot "$TMP/plot-$metric.gp" 2>"$TMP/plot-$metric.err" || {
		cat "$TMP/plot-$metric.err" >&2
		say "gnuplot failed for $png"
	}
}

first_line() { "$@" 2>&1 | head -n1; }

echo
echo "means over $ROUNDS rounds; x/HA = mean over rounds of the ratio to HAProxy's run of the same round"
summarize text

mkdir -p "$RESULTS"
cp "$TSV" "$RESULTS/relay-runs.tsv"
plot tps "transactions/s" "$RESULTS/relay-tps.png"
plot p99_ms "p99 latency (ms)" "$RESULTS/relay-p99.png"
{
	echo "# acctgate relay benchmark"
	echo
	echo "\`bash bench/relay.sh $SECS $ROUNDS\`, $(date -u '+%F %H:%M UTC'): sysbench $(IFS=,; echo "${WORKLOADS[*]}")" \
		"on $TABLES tables of $TABLE_SIZE rows, threads $(IFS=,; echo "${THREADS[*]}"), ${SECS}s per run, $ROUNDS rounds" \
		"interleaved. Each proxy ran with one thread per CPU (acctgate \`threads\`, HAProxy \`nbthread\`)."
	echo
	echo "## Machine"
	echo
	echo "- CPUs: $NPROC ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1))"
	# At the start only: during the runs sysbench's own threads are the load.
	echo "- kernel: $(uname -r); load average before the runs: $LOAD_START"
	echo "- acctgate: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' (modified)') ($ACCTGATE_BIN)"
	echo "- MariaDB: $(first_line mariadbd --version)"
	echo "- HAProxy: $(first_line haproxy -v)"
	echo "- sysbench: $(first_line sysbench --version) (libmariadb $(pkg-config --modversion libmariadb 2>/dev/null || dpkg-query -W -f='${Version}' libmariadb3 2>/dev/null))"
	echo "- OpenSSL: $(first_line openssl version)"
	echo "- libevent: $(dpkg-query -W -f='${Version}' libevent-2.1-7 2>/dev/null || echo '?')"
	echo "- syscall counts: $( ((PERF)) && first_line perf --version || echo 'perf unavailable (columns are -)')"
	((FAILED)) && echo "- **$FAILED run(s) failed** (their figures are -)"
	echo
	echo "## Results"
	echo
	echo "Means over rounds. Ratios are the means of the per-round ratios to the HAProxy run of the same"
	echo "round and point, with their range over rounds in parentheses."
	echo
	summarize md
	echo
	echo "- proxy CPU: utime+stime of the proxy process over the run, per query (sysbench's \`queries:\`)."
	echo "- proxy syscalls: every syscall of the proxy's threads (\`perf stat -e raw_syscalls:sys_enter\`)."
	echo "- proxy rw syscalls: syscr+syscw of \`/proc/PID/io\`; they leave out recv/send/recvmsg/sendmsg,"
	echo "  which HAProxy uses, so they compare acctgate configurations only."
	echo "- TLS records: \`records_out\` of the \`io:\` line acctgate logs at exit, per query; - when none."
	echo "- server syscalls: the same perf count on mariadbd."
	echo
	echo "![throughput](relay-tps.png)"
	echo
	echo "![p99 latency](relay-p99.png)"
	echo
	echo "Raw runs: [relay-runs.tsv](relay-runs.tsv)."
} >"$RESULTS/relay.md"
echo
echo "wrote $RESULTS/relay.md, relay-tps.png, relay-p99.png, relay-runs.tsv"
if ((FAILED)); then
	say "$FAILED run(s) failed"
	exit 1
fi
