#!/usr/bin/env bash
#
# proxy_overhead.sh - what acctgate costs, measured side by side with the
# baseline of talking to MariaDB directly, on this machine, in one run.
#
#   bash bench/proxy_overhead.sh [seconds-per-run]      (default 20)
#
# 1. sysbench oltp_read_write (the mix closest to slurmdbd's upserts and
#    selects), 4 threads: direct vs through acctgate, plaintext and TLS on
#    both legs (upstream verify_identity). Prints transactions/s, p95 latency
#    and the ratio acctgate/direct.
# 2. Memory under a 1 GB result: peak RSS of acctgate while a client streams
#    a 1 GiB result (mysql_use_result), fast and with a slow reader; the
#    backpressure bound says it stays near the 4 MiB watermark plus one
#    16 MiB packet whatever the result size.
#
# Needs the packages scripts/test.sh installs (sysbench among them) and a
# built build/acctgate. Everything runs on loopback in .lab/bench.
set -euo pipefail

SECONDS_PER_RUN=${1:-20}
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lab.sh
. "$REPO/scripts/lab.sh"

BENCH=$LAB_ROOT/bench
rm -rf "$BENCH"
mkdir -p "$BENCH"
CERTS=$BENCH/certs
DB=$BENCH/mariadb
lab_certs "$CERTS"
DB_PORT=$(lab_free_port 24400)
lab_mariadb_start "$DB" "$DB_PORT" "$CERTS" server
PLAIN_PORT=$(lab_free_port $((DB_PORT + 1)))
lab_acctgate_conf "$BENCH/plain/acctgate.conf" "$PLAIN_PORT" "127.0.0.1:$DB_PORT" "$CERTS" \
	client_tls=disabled tls=disabled log_level=warning
lab_acctgate_start "$BENCH/plain" "$BENCH/plain/acctgate.conf"
TLS_PORT=$(lab_free_port $((PLAIN_PORT + 1)))
lab_acctgate_conf "$BENCH/tls/acctgate.conf" "$TLS_PORT" "localhost:$DB_PORT" "$CERTS" \
	client_tls=required tls=verify_identity log_level=warning
lab_acctgate_start "$BENCH/tls" "$BENCH/tls/acctgate.conf"
cleanup() {
	lab_acctgate_stop "$BENCH/plain" || true
	lab_acctgate_stop "$BENCH/tls" || true
	lab_mariadb_stop "$DB" || true
}
trap cleanup EXIT

lab_mariadb_sql "$DB" -e "CREATE DATABASE IF NOT EXISTS sbtest"

# sysbench --mysql-ssl=on reads these names from its working directory.
SB_DIR=$BENCH/sysbench
mkdir -p "$SB_DIR"
cp "$CERTS/ca.pem" "$SB_DIR/cacert.pem"
cp "$CERTS/client-cert.pem" "$SB_DIR/client-cert.pem"
cp "$CERTS/client-key.pem" "$SB_DIR/client-key.pem"

sb() { # sb PORT SSL(on|off) COMMAND
	(cd "$SB_DIR" && sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 \
		--mysql-port="$1" --mysql-user="$LAB_DB_USER" --mysql-password="$LAB_DB_PASS" \
		--mysql-db=sbtest --mysql-ssl="$2" --tables=4 --table-size=20000 --threads=4 \
		--time="$SECONDS_PER_RUN" --percentile=95 --report-interval=0 "$3")
}

sb "$DB_PORT" off prepare >/dev/null

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
DB_PID=$(<"$DB/mariadbd.pid")

declare -A TPS P95
run() { # run NAME PORT SSL [ACCTGATE-PID]
	local out gate0=0 db0 queries cpu=""
	[[ -n ${4:-} ]] && gate0=$(cpu_ticks "$4")
	db0=$(cpu_ticks "$DB_PID")
	out=$(sb "$2" "$3" run)
	queries=$(awk '/queries:/ {print $2; exit}' <<<"$out")
	TPS[$1]=$(awk '/transactions:/ {gsub(/[()]/, "", $3); print $3}' <<<"$out")
	P95[$1]=$(awk '/95th percentile:/ {print $3}' <<<"$out")
	# CPU per query: what a deployment must budget for acctgate, beside the
	# server's own, whatever the cores here are shared with.
	cpu="MariaDB $((($(cpu_ticks "$DB_PID") - db0) * TICK_US / queries)) us"
	[[ -n ${4:-} ]] && cpu+=", acctgate $((($(cpu_ticks "$4") - gate0) * TICK_US / queries)) us"
	printf '  %-22s %10s tx/s   p95 %8s ms   CPU per query: %s\n' "$1" "${TPS[$1]}" "${P95[$1]}" "$cpu"
}

echo "sysbench oltp_read_write, 4 threads, ${SECONDS_PER_RUN}s each (2 cores: client, proxy and server share them)"
run direct-plain "$DB_PORT" off
run acctgate-plain "$PLAIN_PORT" off "$(<"$BENCH/plain/acctgate.pid")"
run direct-tls "$DB_PORT" on
run acctgate-tls "$TLS_PORT" on "$(<"$BENCH/tls/acctgate.pid")"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
echo
echo "ratios (acctgate / direct; throughput 1.000 = no cost, latency 1.000 = no added delay)"
printf '  plaintext  throughput %s   p95 latency %s\n' \
	"$(ratio "${TPS[acctgate-plain]}" "${TPS[direct-plain]}")" "$(ratio "${P95[acctgate-plain]}" "${P95[direct-plain]}")"
printf '  TLS        throughput %s   p95 latency %s\n' \
	"$(ratio "${TPS[acctgate-tls]}" "${TPS[direct-tls]}")" "$(ratio "${P95[acctgate-tls]}" "${P95[direct-tls]}")"

# --- memory under a 1 GiB result ------------------------------------------------
READER=$BENCH/stream_reader
cc -O2 -o "$READER" "$REPO/bench/stream_reader.c" $(pkg-config --cflags --libs libmariadb)
peak_rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
echo
echo "acctgate peak RSS while one client streams a 1 GiB result (plaintext legs)"
GATE_PID=$(<"$BENCH/plain/acctgate.pid")
printf '  %-28s %8s KiB\n' "idle (after the sysbench runs)" "$(peak_rss_kb "$GATE_PID")"
lab_acctgate_stop "$BENCH/plain"
lab_acctgate_start "$BENCH/plain" "$BENCH/plain/acctgate.conf"
GATE_PID=$(<"$BENCH/plain/acctgate.pid")
base=$(peak_rss_kb "$GATE_PID")
"$READER" 127.0.0.1 "$PLAIN_PORT" "$LAB_DB_USER" "$LAB_DB_PASS" 1024 0
printf '  %-28s %8s KiB (fresh process: %s KiB)\n' "fast reader" "$(peak_rss_kb "$GATE_PID")" "$base"
"$READER" 127.0.0.1 "$PLAIN_PORT" "$LAB_DB_USER" "$LAB_DB_PASS" 256 20000
printf '  %-28s %8s KiB\n' "slow reader (256 MiB)" "$(peak_rss_kb "$GATE_PID")"
