#!/usr/bin/env bash
# slurm_restore.sh - RESTORE SNAPSHOT in place under the real Slurm stack:
#
#     sbatch/sacctmgr -> slurmctld -> slurmdbd -> acctgate (journal, admin) -> MariaDB
#
#   slurm_restore.sh [--lab DIR] [--acctgate BIN] [--keep]
#
#   1. accounts, users and jobs; SNAPSHOT on the admin port;
#   2. more of both (account chemistry, its jobs); the journal's sequence
#      is noted: the point to go back to; so are the time and the database
#      as it is then, table by table and procedure by procedure;
#   3. more of both (account biology, its jobs): what the restore undoes;
#   then RESTORE SNAPSHOT ... UNTIL <that time> INTO DATABASE must equal
#      that state;
#   4. RESTORE SNAPSHOT ... UNTIL SEQUENCE <point>, slurmdbd connected
#      all along: sacct and sacctmgr (through slurmdbd, from the database)
#      show the state of step 2, the jobs of step 3 are gone;
#   5. what Slurm needs afterwards, as the answer says: slurmdbd, then
#      slurmctld restarted (both cache associations; scontrol reconfigure
#      does not reload slurmctld's); then slurmctld no longer knows the
#      undone account, a sacctmgr change works, a new job under the new
#      account is recorded and shows in sacct, and no job_db_inx of an
#      undone job was handed out again.
# Exit 0 when everything holds; every failure is printed with its evidence.
set -uo pipefail

lab=""
keep=0
here=$(cd "$(dirname "$0")" && pwd)
while (($#)); do
	case $1 in
	--lab) lab=$2; shift 2 ;;
	--acctgate) export ACCTGATE_BIN=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	*) echo "usage: $0 [--lab DIR] [--acctgate BIN] [--keep]" >&2; exit 2 ;;
	esac
done
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
if [[ ${ACCTGATE_TEST_DIRECT:-0} == 1 ]]; then
	echo "SKIP: restores are acctgate's (ACCTGATE_TEST_DIRECT=1)"
	exit 77
fi
lab=${lab:-$(lab_dir e2e-restore)}
mkdir -p "$lab"
lab=$(cd "$lab" && pwd)
cluster=e2erst
db=$lab/db ag=$lab/ag sl=$lab/slurm jdir=$lab/ag/journal

stop_all() {
	if ((keep)); then
		echo "--keep: leaving the stack running under $lab"
		return
	fi
	lab_slurm_stop "$sl"
	lab_acctgate_stop "$ag"
	lab_mariadb_stop "$db"
}
trap stop_all EXIT
failures=0
check() { # check NAME EXPECTED ACTUAL
	if [[ $2 == "$3" ]]; then
		echo "PASS $1"
	else
		echo "FAIL $1"$'\n'"  expected: $(printf '%q' "$2")"$'\n'"  got:      $(printf '%q' "$3")"
		failures=$((failures + 1))
	fi
}
echo "== slurm in-place restore e2e through acctgate ($ACCTGATE_BIN), lab $lab"

# ---- components: away from the other e2e tests' port blocks --------------------
lab_certs "$lab/certs" || exit 1
base=$((${ACCTGATE_TEST_PORT_BASE:-25306} + 1400))
dbport=$(lab_free_port "$base")
lab_mariadb_start "$db" "$dbport" "$lab/certs" server || exit 1
agport=$(lab_free_port $((base - 273)))
admport=$(lab_free_port $((agport + 1)))
rm -rf "$jdir" "$ag/snapshots"
mkdir -p "$ag/snapshots"
printf '%s\n' "$LAB_DB_PASS" >"$ag/pw"
chmod 600 "$ag/pw"
lab_acctgate_conf "$ag/acctgate.conf" "$agport" "127.0.0.1:$dbport" "$lab/certs" \
	client_tls=optional tls=verify_identity log_level="${ACCTGATE_TEST_LOG_LEVEL:-info}"
cat >>"$ag/acctgate.conf" <<EOF
[journal]
dir = $jdir
markers = acctgate
[snapshot]
user = $LAB_DB_USER
password_file = $ag/pw
dir = $ag/snapshots
databases = slurm_acct_db
[admin]
listen = 127.0.0.1:$admport
user = admin
password_file = $ag/pw
client_tls = disabled
EOF
rm -f "$ag/acctgate.log"
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
dbd_port=$(lab_free_port $((base + 513)))
ctld_port=$(lab_free_port $((dbd_port + 1)))
slurmd_port=$(lab_free_port $((ctld_port + 1)))
if ! lab_slurm_start "$sl" cluster="$cluster" storage_host=127.0.0.1 storage_port="$agport" \
	dbd_port="$dbd_port" ctld_port="$ctld_port" slurmd_port="$slurmd_port"; then
	tail -n 30 "$ag/acctgate.log" "$sl/log/slurmdbd.log"
	exit 1
fi
S() { lab_slurm "$sl" "$@"; }
sql() { lab_mariadb_sql "$db" -B -N slurm_acct_db -e "$1" 2>&1; }
admin() { mariadb -h 127.0.0.1 -P "$admport" -u admin -p"$LAB_DB_PASS" --skip-ssl -B -N -e "$1" 2>&1; }
M() { S sacctmgr -i "$@" >>"$lab/sacctmgr.log" 2>&1 || check "sacctmgr $*" ok "$(tail -n 2 "$lab/sacctmgr.log")"; }
# jobs ACCOUNT N: N jobs under ACCOUNT, waited for until their end is in
# the database; their ids on stdout, space-separated.
jobs() {
	local ids=() i id n
	for ((i = 0; i < $2; i++)); do
		id=$(S sbatch --parsable -A "$1" -o /dev/null --chdir="$sl/jobs" --wrap true 2>>"$lab/sbatch.log")
		ids+=("${id%%;*}")
	done
	for ((i = 0; i < 600; i++)); do
		n=$(sql "SELECT COUNT(*) FROM \`${cluster}_job_table\` WHERE id_job IN ($(IFS=,; echo "${ids[*]}"))
			AND time_end <> 0")
		[[ $n == "$2" ]] && break
		sleep 0.1
	done
	echo "${ids[*]}"
}
recorded() { # recorded IDS...: those sacct knows, sorted
	S sacct -a -X -n -P -o JobID -j "$(tr ' ' ',' <<<"$*")" 2>&1 | sort -n | tr '\n' ' '
}
accounts() { S sacctmgr -n -P show account format=account 2>&1 | sort | tr '\n' ' '; }

# 1. The state the snapshot holds.
M add account physics Description=restore-e2e Organization=lab
M add user root account=physics
j1=$(jobs physics 2)
snap=$(admin "SNAPSHOT")
read -r id _ <<<"$snap"
check "SNAPSHOT while Slurm runs" 1 "$([[ $id =~ ^[0-9]{8}T ]] && echo 1 || echo "$snap")"
# 2. Kept: after the snapshot, up to the point.
M add account chemistry Description=restore-e2e Organization=lab
M add user root account=chemistry
j2=$(jobs chemistry 2)
point=$(admin "SHOW STATUS" | awk '$1 == "journal_last_sequence" { print $2 }')
# The database as it is now, table by table (and its procedures), and the
# time: slurmdbd may write on its own, so the time counts only if the state
# was the same just before and just after it.
state() { # state DB: every table's CHECKSUM TABLE ... EXTENDED, every routine's text
	local t p
	for t in $(lab_mariadb_sql "$db" -B -N -e "SELECT table_name FROM information_schema.tables
		WHERE table_schema = '$1' AND table_type = 'BASE TABLE' ORDER BY 1"); do
		printf '%s %s\n' "$t" "$(lab_mariadb_sql "$db" -B -N -e "CHECKSUM TABLE \`$1\`.\`$t\` EXTENDED" | cut -f2)"
	done
	for p in $(lab_mariadb_sql "$db" -B -N -e "SELECT routine_name FROM information_schema.routines
		WHERE routine_schema = '$1' ORDER BY 1"); do
		printf 'routine %s %s\n' "$p" "$(lab_mariadb_sql "$db" -B -N -e "SHOW CREATE PROCEDURE \`$1\`.\`$p\`" |
			cut -f3 | md5sum | cut -c1-32)"
	done
}
for try in 1 2 3; do
	state slurm_acct_db >"$lab/state-at-time"
	sleep 1.1
	at=$(date -u '+%Y-%m-%d %H:%M:%S.%6N')
	sleep 1.1
	state slurm_acct_db >"$lab/state-after-time"
	cmp -s "$lab/state-at-time" "$lab/state-after-time" && break
done
# 3. Undone.
M add account biology Description=restore-e2e Organization=lab
M add user root account=biology
j3=$(jobs biology 2)
max_inx=$(sql "SELECT MAX(job_db_inx) FROM \`${cluster}_job_table\`")
check "before: sacct has every job" "$(tr ' ' '\n' <<<"$j1 $j2 $j3" | sort -n | tr '\n' ' ')" "$(recorded $j1 $j2 $j3)"

# Point in time beside the live database: UNTIL that time.
out=$(admin "RESTORE SNAPSHOT '$id' UNTIL '$at' INTO DATABASE 'slurm_at_time'")
check "RESTORE SNAPSHOT ... UNTIL '$at' INTO DATABASE: 0 divergences" 1 \
	"$([[ $out == *" 0 divergences"* ]] && echo 1 || echo "$out")"
state slurm_at_time >"$lab/state-restored-at-time"
check "... equals the database as it was at that time, table by table, procedures included" "" \
	"$(diff "$lab/state-at-time" "$lab/state-restored-at-time" | head -n 6)"
check "... with as many tables" "$(wc -l <"$lab/state-at-time")" "$(wc -l <"$lab/state-restored-at-time")"
lab_mariadb_sql "$db" -e "DROP DATABASE slurm_at_time"

# 4. Back to the point, slurmdbd connected.
out=$(admin "RESTORE SNAPSHOT '$id' UNTIL SEQUENCE $point")
echo "$out" | sed 's/^/  | /'
check "RESTORE SNAPSHOT in place: done, 0 divergences, the restarts asked for" 1 \
	"$([[ $out == *"in place: database slurm_acct_db now holds"* && $out == *" 0 divergences"* &&
		$out == *"restart slurmdbd, then slurmctld"* ]] && echo 1 || echo 0)"
check "sacct: the jobs up to the point, not those after" "$(tr ' ' '\n' <<<"$j1 $j2" | sort -n | tr '\n' ' ')" \
	"$(recorded $j1 $j2 $j3)"
check "sacctmgr: the accounts up to the point" "chemistry physics root " "$(accounts)"

cached() { S scontrol show assoc_mgr accounts=biology flags=assoc 2>&1 | grep -c 'Account=biology'; }
echo "slurmctld's association cache before anything: $(cached) biology association line(s)"
# 5. What Slurm needs, as the answer says: slurmdbd restarted, then
# slurmctld (both cache associations; `scontrol reconfigure` does not
# reload them, measured here), then business as usual.
lab_slurmdbd_stop "$sl"
lab_slurmdbd_start "$sl" || { tail -n 30 "$sl/log/slurmdbd.log"; exit 1; }
lab_kill_pidfiles 30 "slurmctld:$sl/run/slurmctld.pid"
# Without -i: its saved state (the queue, running jobs) is kept.
S slurmctld >>"$sl/log/slurmctld.start" 2>&1
lab_wait_port "$ctld_port" 60 "" "$sl/log/slurmctld.log" || { tail -n 30 "$sl/log/slurmctld.log"; exit 1; }
for ((i = 0; i < 100; i++)); do
	[[ $(S sinfo -h -o %T 2>/dev/null) == idle* ]] && break
	sleep 0.2
done
check "after the restarts slurmctld no longer knows the undone account" 0 "$(cached)"
M add account geology Description=restore-e2e Organization=lab
M add user root account=geology
check "sacctmgr changes work" "chemistry geology physics root " "$(accounts)"
j4=$(jobs geology 1)
check "a new job under the new account is recorded" "$j4 " "$(recorded $j4)"
check "... under that account" "geology" "$(S sacct -n -P -X -o Account -j "$j4" 2>&1)"
inx=$(sql "SELECT job_db_inx FROM \`${cluster}_job_table\` WHERE id_job = $j4")
check "its job_db_inx is past every one handed out before the restore ($max_inx)" 1 \
	"$([[ $inx =~ ^[0-9]+$ && $inx -gt $max_inx ]] && echo 1 || echo "$inx")"
check "the undone jobs stay gone" "$(tr ' ' '\n' <<<"$j1 $j2" | sort -n | tr '\n' ' ')" "$(recorded $j1 $j2 $j3)"
if ((failures)); then
	tail -n 20 "$ag/acctgate.log"
	tail -n 20 "$sl/log/slurmdbd.log"
	echo "$failures check(s) failed; logs under $lab"
	exit 1
fi
echo "all checks passed"
