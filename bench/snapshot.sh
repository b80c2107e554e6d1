#!/usr/bin/env bash
#
# snapshot.sh - acctgate's snapshot and restore beside mysqldump / mysql and
# mydumper / myloader, on one Slurm-shaped database, in one command:
#
#   bash bench/snapshot.sh [jobs] [steps]        (default 1000000, steps = jobs)
#
# The database: slurm_acct_db as a real slurmdbd (Debian's, the lab's
# stack without slurmctld) creates it for a cluster named `bench`, every
# table and procedure Slurm makes, then `jobs` rows in bench_job_table and
# `steps` rows in bench_step_table made by INSERT ... SELECT over MariaDB's
# Sequence engine (values shaped like a busy cluster's: accounts, users,
# node lists, TRES strings; two steps per job, the batch step and step 0),
# then ANALYZE TABLE (fresh estimates, as a database in service has).
#
# Dumps, one after the other, each with THREADS connections (default 2):
#   acctgate snapshot    the offline CLI, --threads THREADS (chunks of
#                        [snapshot] chunk_rows' default)
#   acctgate SNAPSHOT    the admin port of a running acctgate with a journal,
#                        while the tests' journal workload writes through it
#                        (8 sessions): the time, and how long commits were
#                        held (the answer's commits_held_ms)
#   mysqldump            --single-transaction --routines --triggers --events
#   mydumper             -t THREADS -r 100000 (chunks of the same size), no
#                        procedures (-R: below)
# Restores, each into a fresh database on the same server, checked equal
# to the source (CHECKSUM TABLE of the job and step tables, the number of
# tables):
#   acctgate restore     --threads THREADS of the offline snapshot
#   mysql < dump.sql     the mariadb client
#   myloader             -t THREADS
# Every tool talks plaintext TCP to 127.0.0.1 as the same user. acctgate's
# peak RSS is taken with /usr/bin/time.
#
# The server: the lab's MariaDB (scripts/lab.sh) with its general log off,
# innodb_buffer_pool_size SNAPSHOT_BUFFER_POOL (default 1G) and
# innodb_log_file_size SNAPSHOT_REDO_LOG (default 512M), set at start for
# every tool alike. Writes bench/results/snapshot.md, with the load average
# before and after (on shared cores the figures are noise) and
# SNAPSHOT_NOTE when set. Installs MariaDB, mydumper, slurmdbd and munge
# with apt-get when missing and builds build/acctgate and the workload
# unless ACCTGATE_BIN names a binary.
set -euo pipefail

JOBS=${1:-1000000}
STEPS=${2:-$JOBS}
if ! [[ $JOBS =~ ^[1-9][0-9]*$ && $STEPS =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: bash bench/snapshot.sh [jobs] [steps]" >&2
	exit 2
fi
THREADS=${SNAPSHOT_THREADS:-2}
BUFFER_POOL=${SNAPSHOT_BUFFER_POOL:-1G}
REDO_LOG=${SNAPSHOT_REDO_LOG:-512M}
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS=$REPO/bench/results
# shellcheck source=scripts/lab.sh
. "$REPO/scripts/lab.sh"
say() { printf '[snapshot %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() {
	say "ERROR: $*"
	exit 1
}
load_avg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(load_avg)

export ACCTGATE_BIN=${ACCTGATE_BIN:-$REPO/build/acctgate}
for p in mariadb-server mariadb-client mydumper zstd time slurmdbd slurm-wlm-mysql-plugin munge; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p" >/dev/null ||
		die "cannot install $p"
done
WORKLOAD=$REPO/build/tests/integration/acctgate_journal_workload
if [[ $ACCTGATE_BIN == "$REPO/build/acctgate" ]]; then
	[[ -f $REPO/build/CMakeCache.txt ]] || cmake -S "$REPO" -B "$REPO/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	grep -q '^ACCTGATE_SANITIZE:BOOL=ON' "$REPO/build/CMakeCache.txt" && die "build/ has sanitizers: set ACCTGATE_BIN"
	cmake --build "$REPO/build" --target acctgate acctgate_journal_workload -j"${JOBS_BUILD:-2}" >/dev/null
fi
[[ -x $WORKLOAD ]] || die "no journal workload at $WORKLOAD (build the tests in build/)"

# On the disk, where a deployment's snapshots would be.
TMP=$(mktemp -d "$REPO/.bench-snapshot.XXXXXX")
chmod 0755 "$TMP" # munged and slurmdbd run as their own users
cleanup() {
	[[ -n ${WL_PID:-} ]] && kill "$WL_PID" 2>/dev/null && wait "$WL_PID" 2>/dev/null
	lab_acctgate_stop "$TMP/ag" >/dev/null 2>&1 || true
	lab_slurm_stop "$TMP/slurm" >/dev/null 2>&1 || true
	lab_mariadb_stop "$TMP/db" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

CERTS=$TMP/certs
lab_certs "$CERTS" >/dev/null 2>&1
DB_PORT=$(lab_free_port 27406)
lab_mariadb_start "$TMP/db" "$DB_PORT" "$CERTS" server >/dev/null 2>&1 || die "MariaDB did not start"
sql() { lab_mariadb_sql "$TMP/db" "$@"; }
to_bytes() { numfmt --from=iec "$1"; }
sql -e "SET GLOBAL general_log = 0; SET GLOBAL innodb_buffer_pool_size = $(to_bytes "$BUFFER_POOL");
	SET GLOBAL innodb_log_file_size = $(to_bytes "$REDO_LOG")"
printf '%s\n' "$LAB_DB_PASS" >"$TMP/pw"
chmod 600 "$TMP/pw"

say "slurmdbd creates slurm_acct_db (cluster bench)"
p1=$(lab_free_port 27510)
p2=$(lab_free_port $((p1 + 1)))
p3=$(lab_free_port $((p2 + 1)))
lab_slurm_start "$TMP/slurm" cluster=bench storage_port="$DB_PORT" dbd_port="$p1" ctld_port="$p2" slurmd_port="$p3" \
	with_ctld=0 >"$TMP/slurm.log" 2>&1 || die "slurmdbd did not start: $(tail -n 5 "$TMP/slurm.log")"
lab_slurm_stop "$TMP/slurm" >/dev/null 2>&1 || true
SLURM_VERSION=$(dpkg-query -W -f='${Version}' slurmdbd)

say "generating $JOBS jobs and $STEPS steps"
t=$(lab_now_ms)
sql slurm_acct_db <<SQL >/dev/null || die "generating the rows failed"
SET SESSION unique_checks = 0, foreign_key_checks = 0;
INSERT INTO bench_job_table (job_db_inx, mod_time, deleted, account, admin_comment, array_task_str, array_max_tasks,
	array_task_pending, constraints, container, cpus_req, derived_ec, derived_es, env_hash_inx, exit_code, flags,
	job_name, id_assoc, id_array_job, id_array_task, id_block, id_job, id_qos, id_resv, id_wckey, id_user, id_group,
	het_job_id, het_job_offset, kill_requid, state_reason_prev, mcs_label, mem_req, nodelist, nodes_alloc, node_inx,
	\`partition\`, priority, script_hash_inx, state, timelimit, time_submit, time_eligible, time_start, time_end,
	time_suspended, gres_used, wckey, work_dir, submit_line, system_comment, tres_alloc, tres_req)
SELECT seq, t + 7200, 0, ELT(1 + seq % 5, 'physics', 'chemistry', 'biology', 'cs', 'math'), NULL, NULL, 0, 0, '',
	NULL, c, 0, NULL, 1 + seq % 997, IF(seq % 23 = 0, 256, 0), 0, CONCAT('job_', seq % 5000), 1 + seq % 200, 0,
	4294967294, NULL, seq, 1, 0, 0, 1000 + seq % 200, 1000 + seq % 20, 0, 4294967294, NULL, 0, '', c * 2048,
	CONCAT('node[', LPAD(seq % 100, 3, '0'), '-', LPAD(seq % 100 + n - 1, 3, '0'), ']'), n,
	CONCAT(seq % 100, '-', seq % 100 + n - 1), ELT(1 + seq % 3, 'debug', 'batch', 'long'), 10000 + seq % 5000,
	1 + seq % 991, IF(seq % 23 = 0, 5, 3), 1440, t, t + 1, t + 5 + seq % 600, t + 605 + seq % 86400, 0, '',
	'', CONCAT('/home/user', seq % 200, '/runs/', seq % 5000), CONCAT('sbatch -N', n, ' -n', c, ' run.sh'), NULL,
	CONCAT('1=', c, ',2=', c * 2048, ',3=18446744073709551614,4=', n, ',5=', c),
	CONCAT('1=', c, ',2=', c * 2048, ',4=', n, ',5=', c)
FROM (SELECT seq, 1600000000 + seq * 30 AS t, 1 << (seq % 6) AS c, 1 + seq % 4 AS n FROM seq_1_to_$JOBS) g;
INSERT INTO bench_step_table (job_db_inx, deleted, exit_code, id_step, step_het_comp, kill_requid, nodelist,
	nodes_alloc, node_inx, state, step_name, task_cnt, task_dist, time_start, time_end, time_suspended, user_sec,
	user_usec, sys_sec, sys_usec, act_cpufreq, consumed_energy, container, req_cpufreq_min, req_cpufreq,
	req_cpufreq_gov, submit_line, tres_alloc, tres_usage_in_ave, tres_usage_in_max, tres_usage_in_max_taskid,
	tres_usage_in_max_nodeid, tres_usage_in_min, tres_usage_in_min_taskid, tres_usage_in_min_nodeid,
	tres_usage_in_tot, tres_usage_out_ave, tres_usage_out_max, tres_usage_out_max_taskid, tres_usage_out_max_nodeid,
	tres_usage_out_min, tres_usage_out_min_taskid, tres_usage_out_min_nodeid, tres_usage_out_tot)
SELECT j, 0, 0, IF(seq % 2, -5, 0), 4294967294, NULL, CONCAT('node', LPAD(seq % 100, 3, '0')), 1,
	seq % 100, 3, IF(seq % 2, 'batch', 'srun'), 1, 0, t, t + 600 + seq % 86400, 0, seq % 3600, seq % 1000000,
	seq % 600, seq % 1000000, 2400000, 0, NULL, 0, 0, 0, IF(seq % 2, NULL, 'srun ./a.out'),
	'1=1,2=2048,4=1', u, u, v, v, u, v, v, u, w, w, v, v, w, v, v, w
FROM (SELECT seq, (seq + 1) DIV 2 AS j, 1600000000 + ((seq + 1) DIV 2) * 30 AS t,
	CONCAT('1=', seq % 3600000, ',2=', seq * 4096 % 1000000000, ',3=0,4=', seq % 997, ',6=', seq % 100000,
		',7=', seq * 8192 % 1000000000) AS u,
	'1=0,2=0,3=0,4=0,6=0,7=0' AS v,
	CONCAT('1=', seq % 777, ',2=', seq % 99999, ',3=0,4=', seq % 13) AS w FROM seq_1_to_$STEPS) g;
ANALYZE TABLE bench_job_table, bench_step_table;
SQL
GEN_S=$(awk -v ms=$(($(lab_now_ms) - t)) 'BEGIN { printf "%.1f", ms / 1000 }')
read -r DATA_MB INDEX_MB NTABLES < <(sql -B -N -e "SELECT ROUND(SUM(data_length) / 1048576), ROUND(SUM(index_length) /
	1048576), COUNT(*) FROM information_schema.tables WHERE table_schema = 'slurm_acct_db' AND table_type = 'BASE TABLE'")
say "generated in $GEN_S s: $NTABLES tables, $DATA_MB MiB of data, $INDEX_MB MiB of indexes"

checksums() {
	sql -B -N -e "CHECKSUM TABLE \`$1\`.bench_job_table, \`$1\`.bench_step_table" | cut -f2 | tr '\n' ' '
	sql -B -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$1' AND table_type = 'BASE TABLE'"
}
SOURCE_SUMS=$(checksums slurm_acct_db)
# run NAME CMD...: time CMD (output in $TMP/NAME.out); seconds in $secs.
run() {
	local name=$1 t0
	shift
	t0=$(lab_now_ms)
	"$@" >"$TMP/$name.out" 2>&1 || die "$name failed: $(tail -n 5 "$TMP/$name.out")"
	secs=$(awk -v ms=$(($(lab_now_ms) - t0)) 'BEGIN { printf "%.2f", ms / 1000 }')
	say "$name: $secs s"
}
rss_mib() { awk '{ printf "%.0f", $1 / 1024 }' "$1"; }
size_mib() { du -sm "$1" | cut -f1; }
conn=(--target "127.0.0.1:$DB_PORT" --user "$LAB_DB_USER" --password-file "$TMP/pw" --tls disabled --no-progress)
my=(-h 127.0.0.1 -P "$DB_PORT" -u "$LAB_DB_USER" -p"$LAB_DB_PASS")
mydumper_conn=(-h 127.0.0.1 -P "$DB_PORT" -u "$LAB_DB_USER" -p "$LAB_DB_PASS") # glib's parser: -p VALUE

# ---- dumps ----------------------------------------------------------------
run ag_snapshot /usr/bin/time -f %M -o "$TMP/ag_snapshot.rss" "$ACCTGATE_BIN" snapshot "${conn[@]}" \
	--out "$TMP/ag-snap" --databases slurm_acct_db --threads "$THREADS"
AG_DUMP=$secs AG_DUMP_RSS=$(rss_mib "$TMP/ag_snapshot.rss") AG_SIZE=$(size_mib "$TMP/ag-snap")
AG_FILES=$(awk '$1 == "file" && ($3 == "bench_job_table" || $3 == "bench_step_table")' "$TMP/ag-snap/MANIFEST" | wc -l)

# The admin port's SNAPSHOT while 8 sessions write through acctgate.
AG_PORT=$(lab_free_port 27033)
ADM_PORT=$(lab_free_port $((AG_PORT + 1)))
lab_acctgate_conf "$TMP/ag/acctgate.conf" "$AG_PORT" "127.0.0.1:$DB_PORT" "$CERTS" threads=2 log_level=notice \
	tls=disabled
cat >>"$TMP/ag/acctgate.conf" <<EOF
[journal]
dir = $TMP/ag/journal
fsync = always
[snapshot]
user = $LAB_DB_USER
password_file = $TMP/pw
dir = $TMP/ag/snapshots
threads = $THREADS
databases = slurm_acct_db
[admin]
listen = 127.0.0.1:$ADM_PORT
user = admin
password_file = $TMP/pw
client_tls = disabled
EOF
mkdir -p "$TMP/ag/snapshots"
lab_acctgate_start "$TMP/ag" "$TMP/ag/acctgate.conf" >/dev/null 2>&1 || die "acctgate did not start"
sql -e "CREATE DATABASE bench_wl"
sql bench_wl <"$REPO/tests/integration/journal_schema.sql"
"$WORKLOAD" --host 127.0.0.1 --port "$AG_PORT" --user "$LAB_DB_USER" --password "$LAB_DB_PASS" \
	--ssl-ca "$CERTS/ca.pem" --db bench_wl --seconds 3600 --threads 8 --ddl 0 >"$TMP/workload.out" 2>&1 &
WL_PID=$!
sleep 2
run ag_admin mariadb -h 127.0.0.1 -P "$ADM_PORT" -u admin -p"$LAB_DB_PASS" --skip-ssl -B -N -e SNAPSHOT
kill "$WL_PID" 2>/dev/null || true
wait "$WL_PID" 2>/dev/null || true
WL_PID=""
lab_acctgate_stop "$TMP/ag" >/dev/null 2>&1
read -r _ _ _ _ _ _ _ _ ADMIN_SECS ADMIN_HELD <"$TMP/ag_admin.out" || true
[[ ${ADMIN_HELD:-} =~ ^[0-9.]+$ ]] || die "SNAPSHOT answered: $(cat "$TMP/ag_admin.out")"
rm -rf "$TMP/ag/snapshots" "$TMP/ag/journal"
sql -e "DROP DATABASE bench_wl"

run mysqldump mysqldump "${my[@]}" --single-transaction --routines --triggers --events --result-file="$TMP/dump.sql" \
	slurm_acct_db
MYSQLDUMP=$secs MYSQLDUMP_SIZE=$(size_mib "$TMP/dump.sql")
# Without -R: mydumper 0.10 writes Slurm's procedures (created under
# ANSI_QUOTES) without their sql_mode, and myloader fails on them.
run mydumper mydumper "${mydumper_conn[@]}" -B slurm_acct_db -t "$THREADS" -r 100000 -o "$TMP/mydumper"
MYDUMPER=$secs MYDUMPER_SIZE=$(size_mib "$TMP/mydumper")

# ---- restores ---------------------------------------------------------------
# restored DB: "equal" when its job and step tables and table count match.
restored() {
	local got
	got=$(checksums "$1")
	sql -e "DROP DATABASE \`$1\`"
	[[ $got == "$SOURCE_SUMS" ]] && echo equal || echo "DIFFERENT ($got vs $SOURCE_SUMS)"
}
run ag_restore /usr/bin/time -f %M -o "$TMP/ag_restore.rss" "$ACCTGATE_BIN" restore "${conn[@]}" \
	--snapshot "$TMP/ag-snap" --into-database r_acctgate --threads "$THREADS"
AG_LOAD=$secs AG_LOAD_RSS=$(rss_mib "$TMP/ag_restore.rss") AG_EQ=$(restored r_acctgate)
sql -e "CREATE DATABASE r_mysql"
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
run mysql_load bash -c 'mariadb "$@" r_mysql <"$0"' "$TMP/dump.sql" "${my[@]}"
MYSQL_LOAD=$secs MYSQL_EQ=$(restored r_mysql)
run myloader myloader "${mydumper_conn[@]}" -d "$TMP/mydumper" -s slurm_acct_db -B r_myloader -t "$THREADS"
MYLOADER=$secs MYLOADER_EQ=$(restored r_myloader)

# ---- results ----------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mkdir -p "$RESULTS"
{
	echo "# Snapshot and restore: acctgate beside mysqldump and mydumper"
	echo
	echo "\`bash bench/snapshot.sh $JOBS $STEPS\`, $THREADS threads for every tool that has them."
	echo "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r);"
	echo "MariaDB $(mariadbd --version | awk '{ print $3 }') on the same machine, general log off,"
	echo "innodb_buffer_pool_size $BUFFER_POOL, innodb_log_file_size $REDO_LOG, flush_log_at_trx_commit 2;"
	echo "snapshots and dumps on $(df -T "$REPO" | awk 'NR == 2 { print $2 }'). Load average before: $LOAD_BEFORE; after: $(load_avg)."
	[[ -n ${SNAPSHOT_NOTE:-} ]] && echo && echo "$SNAPSHOT_NOTE"
	echo
	echo "Database: slurm_acct_db as slurmdbd $SLURM_VERSION creates it ($NTABLES tables), $JOBS rows in"
	echo "bench_job_table, $STEPS in bench_step_table (generated in $GEN_S s): $DATA_MB MiB of data, $INDEX_MB MiB of indexes."
	echo
	echo "| dump | seconds | size MiB | note |"
	echo "| --- | --- | --- | --- |"
	echo "| acctgate snapshot --threads $THREADS (offline) | $AG_DUMP | $AG_SIZE | zstd; $AG_FILES files for the job and step tables; peak RSS $AG_DUMP_RSS MiB |"
	echo "| acctgate SNAPSHOT (admin port, 8 sessions writing) | $ADMIN_SECS | - | commits held $ADMIN_HELD ms |"
	echo "| mysqldump --single-transaction | $MYSQLDUMP | $MYSQLDUMP_SIZE | one file |"
	echo "| mydumper -t $THREADS -r 100000 | $MYDUMPER | $MYDUMPER_SIZE | uncompressed; no procedures (0.10 drops their sql_mode: myloader fails on -R) |"
	echo
	echo "| restore | seconds | into a fresh database |"
	echo "| --- | --- | --- |"
	echo "| acctgate restore --threads $THREADS | $AG_LOAD | $AG_EQ; peak RSS $AG_LOAD_RSS MiB |"
	echo "| mysql < dump.sql | $MYSQL_LOAD | $MYSQL_EQ |"
	echo "| myloader -t $THREADS | $MYLOADER | $MYLOADER_EQ |"
	echo
	echo "acctgate / mydumper: $(ratio "$AG_DUMP" "$MYDUMPER")x (dump); acctgate / myloader: $(ratio "$AG_LOAD" "$MYLOADER")x"
	echo "(restore); acctgate / mysqldump: $(ratio "$AG_DUMP" "$MYSQLDUMP")x; acctgate / mysql: $(ratio "$AG_LOAD" "$MYSQL_LOAD")x."
	echo "Longest commit hold of the admin port's SNAPSHOT: $ADMIN_HELD ms."
} >"$RESULTS/snapshot.md"
cat "$RESULTS/snapshot.md"
