#!/usr/bin/env bash
#
# journal.sh - what the write-stream journal costs, beside the same acctgate
# without it, on this machine, in one command:
#
#   bash bench/journal.sh [seconds-per-run] [rounds]        (default 15, 3)
#
# Configurations, all acctgate with TLS on both legs in front of one lab
# MariaDB, sysbench oltp_write_only at 8 threads (4 tables of 10000 rows):
#   off        no journal (the baseline)
#   always     [journal] fsync = always: every COMMIT OK waits for its
#              PREPARE and COMMIT records to be on disk (group commit);
#              [snapshot] user set, so writes to tables known not to read
#              the clock go without SET timestamp (proxy/tableclock.h)
#   always-fixed  the same without [snapshot] user: every write gets SET
#              timestamp first
#   always+m   the same with commit markers ([journal] markers): one more
#              row write per COMMIT, inside the transaction
#   everysec   fsync = everysec ([snapshot] user set)
# Runs are interleaved (every round runs each configuration once, the order
# rotating), each with a fresh acctgate and a fresh journal directory on
# the same file system as the repository, so the ratios pair runs minutes
# apart at most. Per run: tps, average and 99th-percentile latency of a
# transaction (each ends with one COMMIT, so the p99 difference bounds what
# the journal adds to a COMMIT), and from acctgate's exit line the records
# and fsyncs per commit and the mean time a COMMIT was held for its PREPARE
# and its OK for the COMMIT record.
#
# Writes bench/results/journal.md (the means over rounds and each
# configuration's ratio to off) and bench/results/journal-runs.tsv.
# Installs sysbench and MariaDB with apt-get when missing and builds
# build/acctgate unless ACCTGATE_BIN names one. Run it with nothing else
# busy on the machine: every figure is a ratio to a baseline of the same run.
set -euo pipefail

SECS=${1:-15}
ROUNDS=${2:-3}
if ! [[ $SECS =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: bash bench/journal.sh [seconds-per-run] [rounds]" >&2
	exit 2
fi
THREADS=${JOURNAL_THREADS:-8}
# JOURNAL_CONFIGS="off everysec" runs a subset (off must be among them).
read -r -a CONFIGS <<<"${JOURNAL_CONFIGS:-off always always-fixed always+m everysec}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS=$REPO/bench/results
# shellcheck source=scripts/lab.sh
. "$REPO/scripts/lab.sh"
say() { printf '[journal %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}

export ACCTGATE_BIN=${ACCTGATE_BIN:-$REPO/build/acctgate}
for p in sysbench mariadb-server mariadb-client; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p" >/dev/null ||
		die "cannot install $p"
done
if [[ $ACCTGATE_BIN == "$REPO/build/acctgate" ]]; then
	[[ -f $REPO/build/CMakeCache.txt ]] || cmake -S "$REPO" -B "$REPO/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	grep -q '^ACCTGATE_SANITIZE:BOOL=ON' "$REPO/build/CMakeCache.txt" && die "build/ has sanitizers: set ACCTGATE_BIN"
	cmake --build "$REPO/build" --target acctgate -j"${JOBS:-2}" >/dev/null
fi

# The journal lives where a deployment's would: on the disk, not in /tmp
# (which may be a tmpfs, where fsync is free).
TMP=$(mktemp -d "$REPO/.bench-journal.XXXXXX")
cleanup() {
	for c in "${CONFIGS[@]}"; do lab_acctgate_stop "$TMP/ag-$c" >/dev/null 2>&1 || true; done
	lab_mariadb_stop "$TMP/db" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

CERTS=$TMP/certs
lab_certs "$CERTS" >/dev/null 2>&1
DB_PORT=$(lab_free_port 27306)
lab_mariadb_start "$TMP/db" "$DB_PORT" "$CERTS" server >/dev/null 2>&1 || die "MariaDB did not start"
AG_PORT=$(lab_free_port 27033)
printf '%s\n' "$LAB_DB_PASS" >"$TMP/pw"
chmod 600 "$TMP/pw"
# The lab's general log (kept for the tests that read it) would be one more
# write per statement on the server, for every configuration alike.
lab_mariadb_sql "$TMP/db" -e "SET GLOBAL general_log = 0; CREATE DATABASE sbtest; CREATE DATABASE acctgate"

SB_DIR=$TMP/sysbench
mkdir -p "$SB_DIR"
cp "$CERTS/ca.pem" "$SB_DIR/cacert.pem"
cp "$CERTS/client-cert.pem" "$SB_DIR/client-cert.pem"
cp "$CERTS/client-key.pem" "$SB_DIR/client-key.pem"
sb() {
	(cd "$SB_DIR" && timeout -k 10 $((SECS + 120)) sysbench oltp_write_only --db-driver=mysql \
		--mysql-host=127.0.0.1 --mysql-port="$1" --mysql-ssl="$2" --mysql-user="$LAB_DB_USER" \
		--mysql-password="$LAB_DB_PASS" --mysql-db=sbtest --tables=4 --table-size=10000 \
		--threads="$THREADS" --time="$SECS" --percentile=99 --report-interval=0 "$3")
}
say "preparing 4 tables of 10000 rows"
sb "$DB_PORT" off prepare >"$TMP/prepare.log" 2>&1 || die "sysbench prepare failed: $(tail -n 5 "$TMP/prepare.log")"

# start CONFIG: a fresh acctgate for it.
start() {
	local d=$TMP/ag-$1
	rm -rf "$d"
	lab_acctgate_conf "$d/acctgate.conf" "$AG_PORT" "127.0.0.1:$DB_PORT" "$CERTS" client_tls=required \
		tls=verify_identity threads=2 log_level=info
	local snap
	snap=$(printf '[snapshot]\nuser = %s\npassword_file = %s\n' "$LAB_DB_USER" "$TMP/pw")
	case $1 in
	always) printf '[journal]\ndir = %s/journal\nfsync = always\n%s\n' "$d" "$snap" >>"$d/acctgate.conf" ;;
	always-fixed) printf '[journal]\ndir = %s/journal\nfsync = always\n' "$d" >>"$d/acctgate.conf" ;;
	always+m) printf '[journal]\ndir = %s/journal\nfsync = always\nmarkers = acctgate\n%s\n' "$d" "$snap" >>"$d/acctgate.conf" ;;
	everysec) printf '[journal]\ndir = %s/journal\nfsync = everysec\n%s\n' "$d" "$snap" >>"$d/acctgate.conf" ;;
	esac
	lab_acctgate_start "$d" "$d/acctgate.conf" >/dev/null 2>&1 || die "acctgate ($1) did not start: $(tail -n 3 "$d/acctgate.log")"
}

TSV=$TMP/runs.tsv
printf 'round\tconfig\ttps\tavg_ms\tp99_ms\terrors\tcommits\trecords_per_commit\tfsyncs_per_commit\tprepare_wait_us\tcommit_wait_us\n' >"$TSV"
for ((r = 1; r <= ROUNDS; r++)); do
	for ((k = 0; k < ${#CONFIGS[@]}; k++)); do
		c=${CONFIGS[$(((k + r - 1) % ${#CONFIGS[@]}))]}
		start "$c"
		# JOURNAL_HOOK=CMD runs `CMD CONFIG SECONDS` in the background as
		# each run starts: a probe (perf, strace, the server's counters).
		[[ -n ${JOURNAL_HOOK:-} ]] && ($JOURNAL_HOOK "$c" "$SECS" &)
		out=$(sb "$AG_PORT" on run 2>&1) || die "sysbench failed ($c): $(tail -n 5 <<<"$out")"
		lab_acctgate_stop "$TMP/ag-$c" >/dev/null 2>&1
		tps=$(sed -n 's/^ *transactions: *[0-9]* *(\([0-9.]*\) per sec.*/\1/p' <<<"$out")
		avg=$(sed -n 's/^ *avg: *\([0-9.]*\)$/\1/p' <<<"$out")
		p99=$(sed -n 's/^ *99th percentile: *\([0-9.]*\)$/\1/p' <<<"$out")
		errs=$(sed -n 's/^ *ignored errors: *\([0-9]*\) .*/\1/p' <<<"$out")
		line=$(grep -o 'journal: commits=.*' "$TMP/ag-$c/acctgate.log" | tail -n1 || true)
		commits=$(sed -n 's/.*commits=\([0-9]*\).*/\1/p' <<<"$line")
		records=$(sed -n 's/.* records=\([0-9]*\).*/\1/p' <<<"$line")
		fsyncs=$(sed -n 's/.* fsyncs=\([0-9]*\).*/\1/p' <<<"$line")
		pw=$(sed -n 's/.* prepare_wait_us=\([0-9]*\).*/\1/p' <<<"$line")
		cw=$(sed -n 's/.* commit_wait_us=\([0-9]*\).*/\1/p' <<<"$line")
		rpc=- fpc=-
		if [[ -n $commits && $commits -gt 0 ]]; then
			rpc=$(awk -v a="$records" -v b="$commits" 'BEGIN { printf "%.2f", a / b }')
			fpc=$(awk -v a="$fsyncs" -v b="$commits" 'BEGIN { printf "%.2f", a / b }')
		fi
		printf '%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$c" "$tps" "$avg" "$p99" "${errs:-0}" \
			"${commits:--}" "$rpc" "$fpc" "${pw:--}" "${cw:--}" >>"$TSV"
		say "round $r $c: $tps tps, avg $avg ms, p99 $p99 ms, ${commits:-no} commits journaled, $fpc fsyncs/commit"
	done
done

mkdir -p "$RESULTS"
cp "$TSV" "$RESULTS/journal-runs.tsv"
{
	echo "# Journal cost: sysbench oltp_write_only, $THREADS threads, ${SECS}s x $ROUNDS rounds"
	echo
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r);"
	echo "acctgate with TLS on both legs, MariaDB $(mariadbd --version | awk '{ print $3 }') on the same machine (general log off);"
	echo "journal on $(df -T "$REPO" | awk 'NR == 2 { print $2 }'). Means over rounds; ratios are means of per-round ratios to off."
	echo
	echo "| config | tps | ratio | avg ms | p99 ms | p99 - off | records/commit | fsyncs/commit | PREPARE hold µs | COMMIT hold µs |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	awk -F'\t' 'NR > 1 { tps[$2, $1] = $3; avg[$2] += $4; p99[$2] += $5; p99r[$2, $1] = $5; n[$2]++;
		rpc[$2] = $8; fpc[$2] = $9; pw[$2] += $10; cw[$2] += $11; rounds[$1] = 1 }
		END {
			split("off always always-fixed always+m everysec", cs, " ")
			for (i = 1; i <= 5; i++) {
				c = cs[i]; if (!n[c]) continue
				t = 0; ratio = 0; dp = 0; k = 0
				for (r in rounds) { t += tps[c, r]; ratio += tps[c, r] / tps["off", r]; dp += p99r[c, r] - p99r["off", r]; k++ }
				printf "| %s | %.0f | %.3fx | %.2f | %.2f | %+.2f ms | %s | %s | %s | %s |\n", c, t / k, ratio / k,
					avg[c] / n[c], p99[c] / n[c], dp / k, rpc[c], fpc[c],
					c == "off" ? "-" : sprintf("%.0f", pw[c] / n[c]), c == "off" ? "-" : sprintf("%.0f", cw[c] / n[c])
			}
		}' "$TSV"
} >"$RESULTS/journal.md"
cat "$RESULTS/journal.md"
