#!/usr/bin/env bash
#
# contention.sh - Slurm clusters contending in one MariaDB, straight to it
# and through acctgate, side by side (issue 11's measure of success), in
# one command:
#
#   bash bench/contention.sh [seconds-per-run] [rounds]        (default 15, 3)
#
# Configurations, every leg TLS with the lab CA verified, one lab MariaDB
# (innodb_lock_wait_timeout 900 s, Slurm's recommendation):
#   direct       every cluster's sessions straight to MariaDB
#   shared       one acctgate in front of it for all clusters (a bridge)
#   per-cluster  one acctgate per cluster, all in front of the same MariaDB
#                (ParallelCluster's shape: one per head node)
#   shared-replay  one acctgate, admission off (heavy_limit = bulk_limit =
#                0): the deadlocks happen, and acctgate runs the
#                transactions again (proxy/redo.c)
# The harness is acctgate_contention (tests/contention): CONTENTION_CLUSTERS
# clusters (default 4) of slurmdbd-like sessions, each re-sending only the
# failed statement on 1213 and exiting on 1205; CONTENTION_ARGS adds its
# options (e.g. "--sessions-per-cluster 2 --hot-users 2" for a hotter load,
# "--database-per-cluster" for ParallelCluster's layout). Its set-up and its
# final check always go straight to MariaDB; only the sessions take the
# configuration's path. Every round runs each configuration once, the order
# rotating, with the round's number as the harness's seed (the same draws
# in every configuration of a round) and fresh acctgates, so the ratios
# pair runs minutes apart at most.
#
# Per run: acknowledged transactions per second and the p99 latency of one
# (COMMIT included), the 1213 / 1205 / other errors that reached the
# sessions, acknowledged transactions that lost effects (the ledger check),
# sessions that stopped (1205, 10 deadlocks in a row, no reconnect), and
# acctgate's warning and error log lines (their distinct messages are shown
# as the run ends). The goal: through acctgate 0 errors 1213/1205 and 0 lost,
# at a tps ratio to direct of at least 1.
#
# Writes bench/results/contention.md (means over rounds, ratios to direct)
# and bench/results/contention-runs.tsv (CONTENTION_NAME=hot: contention-hot.md
# and contention-hot-runs.tsv, to keep a second load's figures). Installs MariaDB with apt-get when
# missing and builds build/acctgate and the harness unless ACCTGATE_BIN and
# CONTENTION_BIN name them. Run it with nothing else busy on the machine.
set -euo pipefail

SECS=${1:-15}
ROUNDS=${2:-3}
if ! [[ $SECS =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: bash bench/contention.sh [seconds-per-run] [rounds]" >&2
	exit 2
fi
CLUSTERS=${CONTENTION_CLUSTERS:-4}
read -r -a EXTRA <<<"${CONTENTION_ARGS:-}"
CONFIGS=(direct shared per-cluster shared-replay)
NAME=contention${CONTENTION_NAME:+-$CONTENTION_NAME}
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS=$REPO/bench/results
# shellcheck source=scripts/lab.sh
. "$REPO/scripts/lab.sh"
say() { printf '[contention %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}

export ACCTGATE_BIN=${ACCTGATE_BIN:-$REPO/build/acctgate}
HARNESS=${CONTENTION_BIN:-$REPO/build/tests/contention/acctgate_contention}
for p in mariadb-server mariadb-client; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p" >/dev/null ||
		die "cannot install $p"
done
targets=()
[[ $ACCTGATE_BIN == "$REPO/build/acctgate" ]] && targets+=(acctgate)
[[ $HARNESS == "$REPO/build/tests/contention/acctgate_contention" ]] && targets+=(acctgate_contention)
if ((${#targets[@]})); then
	[[ -f $REPO/build/CMakeCache.txt ]] || cmake -S "$REPO" -B "$REPO/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	grep -q '^ACCTGATE_SANITIZE:BOOL=ON' "$REPO/build/CMakeCache.txt" && die "build/ has sanitizers: set ACCTGATE_BIN"
	cmake --build "$REPO/build" --target "${targets[@]}" -j"${JOBS:-2}" >/dev/null
fi
[[ -x $HARNESS ]] || die "no harness at $HARNESS"

mkdir -p "$LAB_ROOT"
TMP=$(mktemp -d "$LAB_ROOT/bench-contention.XXXXXX")
AG_DIRS=()
stop_acctgates() {
	local d
	for d in "${AG_DIRS[@]}"; do lab_acctgate_stop "$d" >/dev/null 2>&1 || true; done
	AG_DIRS=()
}
cleanup() {
	stop_acctgates
	lab_mariadb_stop "$TMP/db" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

CERTS=$TMP/certs
lab_certs "$CERTS" >/dev/null 2>&1
DB_PORT=$(lab_free_port 27306)
lab_mariadb_start "$TMP/db" "$DB_PORT" "$CERTS" server >/dev/null 2>&1 || die "MariaDB did not start"
# the server's general log would be the one file every statement waits on
lab_mariadb_sql "$TMP/db" -e "SET GLOBAL general_log = 0"

# start_acctgate NAME [throttle lines...]: a fresh acctgate in
# $TMP/ag-NAME in front of MariaDB; its port in $ag_port.
start_acctgate() {
	local d=$TMP/ag-$1
	rm -rf "$d"
	ag_port=$(lab_free_port 27033)
	lab_acctgate_conf "$d/acctgate.conf" "$ag_port" "127.0.0.1:$DB_PORT" "$CERTS" client_tls=required \
		tls=verify_identity threads=2 log_level=info
	# Its own account, so that [throttle] coordinate (on by default)
	# shares the slots between the per-cluster acctgates.
	printf '%s\n' "$LAB_DB_PASS" >"$d/own.pw"
	chmod 600 "$d/own.pw"
	printf '[snapshot]\nuser = %s\npassword_file = %s\n' "$LAB_DB_USER" "$d/own.pw" >>"$d/acctgate.conf"
	if (($# > 1)); then
		printf '[throttle]\n' >>"$d/acctgate.conf"
		printf '%s\n' "${@:2}" >>"$d/acctgate.conf"
	fi
	lab_acctgate_start "$d" "$d/acctgate.conf" >/dev/null 2>&1 || die "acctgate ($1) did not start: $(tail -n 3 "$d/acctgate.log")"
	AG_DIRS+=("$d")
}

# kv LINE KEY: the value of KEY=... in the harness's summary line
kv() { sed -nE "s/.* $2=([^ ]*).*/\1/p" <<<"$1"; }

TSV=$TMP/runs.tsv
printf 'round\tconfig\ttps\tp50_ms\tp99_ms\terr_1213\terr_1205\terr_other\tlost\tacked\tmismatch\tphantom\tstopped\tacctgate_warnings\n' >"$TSV"
for ((r = 1; r <= ROUNDS; r++)); do
	for ((k = 0; k < ${#CONFIGS[@]}; k++)); do
		c=${CONFIGS[$(((k + r - 1) % ${#CONFIGS[@]}))]}
		ports=()
		case $c in
		shared)
			start_acctgate shared
			for ((i = 0; i < CLUSTERS; i++)); do ports+=("$ag_port"); done
			;;
		shared-replay)
			start_acctgate shared-replay "heavy_limit = 0" "bulk_limit = 0"
			for ((i = 0; i < CLUSTERS; i++)); do ports+=("$ag_port"); done
			;;
		per-cluster)
			for ((i = 1; i <= CLUSTERS; i++)); do
				start_acctgate "c$i"
				ports+=("$ag_port")
			done
			;;
		esac
		args=(--host 127.0.0.1 --port "$DB_PORT" --user "$LAB_DB_USER" --password "$LAB_DB_PASS"
			--ssl-ca "$CERTS/ca.pem" --clusters "$CLUSTERS" --seconds "$SECS" --seed "$r" "${EXTRA[@]}")
		if ((${#ports[@]})); then
			args+=(--cluster-ports "$(IFS=,; echo "${ports[*]}")")
		fi
		status=0
		out=$(timeout -k 10 $((SECS + 300)) "$HARNESS" "${args[@]}" 2>"$TMP/harness.err") || status=$?
		warnings=-
		if ((${#AG_DIRS[@]})); then
			logs=()
			for d in "${AG_DIRS[@]}"; do logs+=("$d/acctgate.log"); done
			stop_acctgates
			warnings=$(cat "${logs[@]}" | awk '$2 == "warning" || $2 == "error"' | wc -l)
			# the distinct messages, session numbers and ports folded
			cat "${logs[@]}" | awk '$2 == "warning" || $2 == "error"' | cut -d' ' -f2- |
				sed -E 's/session [0-9]+/session N/g; s/:[0-9]{4,5}/:PORT/g' | sort | uniq -c | sort -rn |
				head -n 5 | while read -r line; do say "  acctgate ($c): $line"; done
		fi
		((status == 0)) || die "the harness failed ($c, exit $status): $(tail -n 3 "$TMP/harness.err")"
		sed 's/^/    /' "$TMP/harness.err" | head -n 4 >&2
		line=$(grep '^contention:' <<<"$out")
		printf '%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "$(kv "$line" tps)" \
			"$(kv "$line" p50_ms)" "$(kv "$line" p99_ms)" "$(kv "$line" err_1213)" "$(kv "$line" err_1205)" \
			"$(kv "$line" err_other)" "$(kv "$line" lost)" "$(kv "$line" acked)" "$(kv "$line" mismatch)" \
			"$(kv "$line" phantom)" "$(kv "$line" sessions_stopped)" "$warnings" >>"$TSV"
		say "round $r $c: $(kv "$line" tps) tps, p99 $(kv "$line" p99_ms) ms, 1213 x$(kv "$line" err_1213), 1205 x$(kv "$line" err_1205), other x$(kv "$line" err_other), lost $(kv "$line" lost) of $(kv "$line" acked), $(kv "$line" sessions_stopped) sessions stopped, acctgate warnings $warnings"
	done
done

mkdir -p "$RESULTS"
cp "$TSV" "$RESULTS/$NAME-runs.tsv"
{
	echo "# Contention: $CLUSTERS clusters, ${SECS}s x $ROUNDS rounds${CONTENTION_ARGS:+, harness options \`$CONTENTION_ARGS\`}"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r);"
	echo "MariaDB $(mariadbd --version | awk '{ print $3 }') on the same machine, TLS on every leg. Means over rounds;"
	echo "ratios are means of per-round ratios to direct. Errors are those that reached the sessions, summed over rounds;"
	echo "lost = acknowledged transactions whose effects the final state lacks in part."
	echo
	echo "| config | tps | tps ratio | p99 ms | p99 ratio | 1213 | 1205 | other | lost / acked | mismatch | phantom | sessions stopped | acctgate warnings |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	awk -F'\t' -v configs="${CONFIGS[*]}" 'NR > 1 { tps[$2, $1] = $3; p99[$2, $1] = $5; e13[$2] += $6; e05[$2] += $7; eo[$2] += $8;
		lost[$2] += $9; acked[$2] += $10; mm[$2] += $11; ph[$2] += $12; st[$2] += $13;
		w[$2] = ($14 == "-") ? "-" : w[$2] + $14; n[$2]++; rounds[$1] = 1 }
		END {
			nc = split(configs, cs, " ")
			for (i = 1; i <= nc; i++) {
				c = cs[i]; if (!n[c]) continue
				t = 0; p = 0; tr = 0; pr = 0; k = 0
				for (r in rounds) {
					t += tps[c, r]; p += p99[c, r]
					if (tps["direct", r] > 0) tr += tps[c, r] / tps["direct", r]
					if (p99["direct", r] > 0) pr += p99[c, r] / p99["direct", r]
					k++
				}
				printf "| %s | %.0f | %.3fx | %.2f | %.3fx | %d | %d | %d | %d / %d | %d | %d | %d | %s |\n", c,
					t / k, tr / k, p / k, pr / k, e13[c], e05[c], eo[c], lost[c], acked[c], mm[c], ph[c], st[c], w[c]
			}
		}' "$TSV"
} >"$RESULTS/$NAME.md"
cat "$RESULTS/$NAME.md"
