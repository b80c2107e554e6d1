#!/usr/bin/env bash
# slurm_clusters.sh - three Slurm clusters on one database server, each
# behind an acctgate of its own (ParallelCluster's shape: a head node, a
# slurmdbd and a database per cluster), the three acctgates' throttles
# coordinated through the server:
#
#     cluster N: sbatch/sacctmgr -> slurmctld -> slurmdbd -> acctgate N --\
#                                                                          +-> one MariaDB
#
#   slurm_clusters.sh [--lab DIR] [--acctgate BIN] [--keep]
#
# Every cluster at once: sacctmgr changes and jobs; then the three
# slurmdbd restarted together with last_ran_table set back (written through
# acctgate), so that their rollups run at the same time while sacctmgr
# changes go on in every cluster. Checks: no error in any slurmdbd log
# (slurmdbd exits on a lock-wait timeout and loses work on a deadlock); each
# cluster's database holds what that cluster recorded (its accounts,
# users, QOS and jobs), its rollup ran; every acctgate admitted heavy work
# under the coordinated limit and kept its coordination. (The bulk class's
# admissions and the unadmitted count are printed: Slurm 22.05's rollup
# writes come inside transactions that already hold locks.)
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
	echo "SKIP: the throttle is acctgate's (ACCTGATE_TEST_DIRECT=1)"
	exit 77
fi
lab=${lab:-$(lab_dir e2e-clusters)}
mkdir -p "$lab"
lab=$(cd "$lab" && pwd)
db=$lab/db
clusters=(c1 c2 c3)

stop_all() {
	if ((keep)); then
		echo "--keep: leaving the stacks running under $lab"
		return
	fi
	local c
	for c in "${clusters[@]}"; do
		lab_slurm_stop "$lab/slurm-$c"
		lab_acctgate_stop "$lab/ag-$c"
	done
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
echo "== three Slurm clusters, three acctgates, one MariaDB ($ACCTGATE_BIN), lab $lab"

lab_certs "$lab/certs" || exit 1
base=$((${ACCTGATE_TEST_PORT_BASE:-25306} + 1600))
dbport=$(lab_free_port "$base")
lab_mariadb_start "$db" "$dbport" "$lab/certs" server || exit 1
declare -A agport admport sl
port=$((base + 20))
for c in "${clusters[@]}"; do
	ag=$lab/ag-$c
	agport[$c]=$(lab_free_port "$port")
	admport[$c]=$(lab_free_port $((agport[$c] + 1)))
	mkdir -p "$ag"
	printf '%s\n' "$LAB_DB_PASS" >"$ag/pw"
	chmod 600 "$ag/pw"
	lab_acctgate_conf "$ag/acctgate.conf" "${agport[$c]}" "127.0.0.1:$dbport" "$lab/certs" \
		client_tls=optional tls=verify_identity log_level="${ACCTGATE_TEST_LOG_LEVEL:-info}"
	cat >>"$ag/acctgate.conf" <<EOF
[snapshot]
user = $LAB_DB_USER
password_file = $ag/pw
[throttle]
heavy_limit = 1
bulk_limit = 1
coordinate = on
[admin]
listen = 127.0.0.1:${admport[$c]}
user = admin
password_file = $ag/pw
client_tls = disabled
EOF
	rm -f "$ag/acctgate.log"
	lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
	sl[$c]=$lab/slurm-$c
	dbd=$(lab_free_port $((port + 500)))
	ctld=$(lab_free_port $((dbd + 1)))
	sd=$(lab_free_port $((ctld + 1)))
	if ! lab_slurm_start "${sl[$c]}" cluster="$c" storage_host=127.0.0.1 storage_port="${agport[$c]}" \
		storage_loc="slurm_acct_db_$c" dbd_port="$dbd" ctld_port="$ctld" slurmd_port="$sd"; then
		tail -n 30 "$ag/acctgate.log" "${sl[$c]}/log/slurmdbd.log"
		exit 1
	fi
	port=$((port + 40))
done
S() { local c=$1; shift; lab_slurm "${sl[$c]}" "$@"; }
sql() { lab_mariadb_sql "$db" -B -N "slurm_acct_db_$1" -e "$2" 2>&1; }
agsql() {
	mariadb -h 127.0.0.1 -P "${agport[$1]}" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --ssl-ca="$lab/certs/ca.pem" \
		-B -N "slurm_acct_db_$1" -e "$2" 2>&1
}
# changes C ROUND: one cluster's sacctmgr changes (accounts, users, QOS,
# limits: the nested-set shifts and association writes).
changes() {
	local c=$1 r=$2 log=$lab/sacctmgr-$1.log
	local M=(S "$c" sacctmgr -i)
	{
		"${M[@]}" add qos "q$r" Priority=$r
		"${M[@]}" add account "a$r" Description=clusters Organization=lab
		"${M[@]}" add account "b$r" Description=clusters Organization=lab parent="a$r"
		"${M[@]}" add user root account="a$r,b$r"
		"${M[@]}" modify account where name="a$r" set GrpTRES=cpu=4 MaxJobs=10
		"${M[@]}" modify user where name=root account="b$r" set fairshare=3 qos+="q$r"
	} >>"$log" 2>&1 || echo "sacctmgr failed in $c round $r" >>"$lab/failed"
}
# jobs C N TOTAL: N jobs, waited for until TOTAL jobs have ended in the
# database.
jobs() {
	local c=$1 n=$2 total=$3 i id ids=()
	for ((i = 0; i < n; i++)); do
		id=$(S "$c" sbatch --parsable -o /dev/null --chdir="${sl[$c]}/jobs" --wrap true 2>>"$lab/sbatch-$c.log")
		ids+=("${id%%;*}")
	done
	for ((i = 0; i < 600; i++)); do
		[[ $(sql "$c" "SELECT COUNT(*) FROM \`${c}_job_table\` WHERE time_end <> 0") -ge $total ]] && break
		sleep 0.1
	done
}
rm -f "$lab/failed"

# Every cluster at once: changes and jobs.
for c in "${clusters[@]}"; do
	(changes "$c" 1; jobs "$c" 3 3) &
done
wait
# Rollups due in every cluster at once (last_ran set back, through
# acctgate so the throttle sees the writes), slurmdbd restarted together,
# changes going on meanwhile.
now=$(date +%s)
for c in "${clusters[@]}"; do
	agsql "$c" "UPDATE \`${c}_last_ran_table\` SET hourly_rollup = $((now - 6 * 3600)),
		daily_rollup = $((now - 3 * 86400)), monthly_rollup = $((now - 62 * 86400))" >/dev/null
	lab_slurmdbd_stop "${sl[$c]}"
done
for c in "${clusters[@]}"; do
	lab_slurmdbd_start "${sl[$c]}" &
done
wait
for c in "${clusters[@]}"; do
	(changes "$c" 2; jobs "$c" 6 9) &
done
wait
hour=$((now - now % 3600))
for c in "${clusters[@]}"; do
	for ((i = 0; i < 600; i++)); do
		h=$(sql "$c" "SELECT hourly_rollup FROM \`${c}_last_ran_table\`")
		[[ ${h:-0} -ge $hour ]] && break
		sleep 0.1
	done
	check "$c: its rollup ran (last_ran_table at this hour)" 1 "$([[ ${h:-0} -ge $hour ]] && echo 1 || echo "$h")"
	check "$c: every sacctmgr change went through" "" "$(grep " $c " "$lab/failed" 2>/dev/null)"
	check "$c: its accounts in its database" "a1 a2 b1 b2 root" \
		"$(S "$c" sacctmgr -n -P show account format=account | sort | tr '\n' ' ' | sed 's/ $//')"
	check "$c: its QOS" "normal q1 q2" "$(S "$c" sacctmgr -n -P show qos format=name | sort | tr '\n' ' ' | sed 's/ $//')"
	check "$c: its 9 jobs recorded and ended" 9 "$(sql "$c" "SELECT COUNT(*) FROM \`${c}_job_table\` WHERE time_end <> 0")"
	# The lab server's small buffer pool is all slurmdbd complains of.
	errs=$(grep -iE 'error|fatal|deadlock|lock wait' "${sl[$c]}/log/slurmdbd.log" |
		grep -v 'Database settings not recommended values: innodb_buffer_pool_size' | head -n 3)
	check "$c: no error in slurmdbd's log" "" "$errs"
	thr=$(mariadb -h 127.0.0.1 -P "${admport[$c]}" -u admin -p"$LAB_DB_PASS" --skip-ssl -B -N -e "SHOW THROTTLE" 2>&1)
	echo "$thr" | sed "s/^/  $c | /"
	check "$c: heavy work admitted under the coordinated limit, no wait timed out" 1 \
		"$(awk -F'\t' '$2 == "*" && $3 == 1 { adm[$1] = $6; tmo += $8 } END {
			print (adm["heavy"] > 0 && tmo == 0) ? 1 : "heavy " adm["heavy"] " timeouts " tmo }' <<<"$thr")"
	echo "INFO $c: $(mariadb -h 127.0.0.1 -P "${admport[$c]}" -u admin -p"$LAB_DB_PASS" --skip-ssl -B -N \
		-e "SHOW STATUS" 2>&1 | grep throttle_ | tr '\t\n' '= ')"
	check "$c: coordination held all along" "" "$(grep -iE 'coordination (lost|unavailable)|degrad' "$lab/ag-$c/acctgate.log" | head -n 2)"
done
if ((failures)); then
	for c in "${clusters[@]}"; do tail -n 15 "${sl[$c]}/log/slurmdbd.log" "$lab/ag-$c/acctgate.log"; done
	echo "$failures check(s) failed; logs under $lab"
	exit 1
fi
echo "all checks passed"
