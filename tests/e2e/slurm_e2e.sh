#!/usr/bin/env bash
# slurm_e2e.sh - the real Slurm accounting stack through acctgate:
#
#     sbatch/sacct/sacctmgr -> slurmctld -> slurmdbd -> acctgate -> MariaDB
#                                           client leg    upstream leg (TLS,
#                                                         verify_identity)
#
#   slurm_e2e.sh [--variant plain|tls] [--lab DIR] [--acctgate BIN] [--keep]
#                [--installed DEB]
#
# plain: slurmdbd talks plaintext to acctgate (no StorageParameters).
# tls:   slurmdbd uses StorageParameters=SSL_CA=<lab CA>.
# In both, acctgate verifies MariaDB's certificate (verify_identity against
# the lab CA). ACCTGATE_TEST_DIRECT=1 points slurmdbd straight at MariaDB
# (harness validation; there is only one leg then).
#
# Checks: sacctmgr adds an account and users and sets a fairshare; three
# sbatch --wrap jobs complete and `sacct -a -X` lists them COMPLETED; then
# MariaDB is read directly (over its socket, not through acctgate) and must
# hold exactly what the Slurm tools report: the accounts, users,
# associations with their shares, the jobs with state and exit code.
# Wire check: tcpdump on lo captures every leg during the whole run; a leg
# that should be encrypted must carry TLS (a ClientHello) and no SQL text
# (slurm_acct_db, insert into, job_table); a plaintext leg must show the SQL
# (proving the check can see it).
# --installed DEB (plain only): the package installed on this machine and
# configured by its ParallelCluster bootstrap, acctgate run as the unit
# runs it (installed.sh says what that checks and undoes).
# Exit 0 when everything holds; every failure is printed with its evidence.
set -uo pipefail

variant=plain
lab=""
keep=0
deb=""
here=$(cd "$(dirname "$0")" && pwd)
while (($#)); do
	case $1 in
	--variant) variant=$2; shift 2 ;;
	--lab) lab=$2; shift 2 ;;
	--acctgate) export ACCTGATE_BIN=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--installed) deb=$2; shift 2 ;;
	*) echo "usage: $0 [--variant plain|tls] [--lab DIR] [--acctgate BIN] [--keep] [--installed DEB]" >&2; exit 2 ;;
	esac
done
[[ $variant == plain || $variant == tls ]] || { echo "unknown variant $variant" >&2; exit 2; }
[[ -z $deb || $variant == plain ]] || { echo "--installed: the bootstrap's client leg is plaintext (loopback)" >&2; exit 2; }
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
lab=${lab:-$(lab_dir "e2e-$variant")}
mkdir -p "$lab"
lab=$(cd "$lab" && pwd)
direct=0
[[ ${ACCTGATE_TEST_DIRECT:-0} == 1 ]] && direct=1
cluster="e2e$variant"
db=$lab/db ag=$lab/ag sl=$lab/slurm
tcpdump_pid=""

stop_all() {
	if [[ -n $tcpdump_pid ]]; then
		kill -INT "$tcpdump_pid" 2>/dev/null
		wait "$tcpdump_pid" 2>/dev/null
		tcpdump_pid=""
	fi
	if ((keep)); then
		echo "--keep: leaving the stack running under $lab"
		return
	fi
	lab_slurm_stop "$sl"
	if [[ -n $deb ]]; then
		installed_teardown
	else
		lab_acctgate_stop "$ag"
	fi
	lab_mariadb_stop "$db"
}
trap stop_all EXIT

failures=0
pass() { echo "PASS $*"; }
fail() {
	echo "FAIL $*"
	failures=$((failures + 1))
}
check() { # check NAME EXPECTED ACTUAL
	if [[ $2 == "$3" ]]; then
		pass "$1"
	else
		fail "$1"$'\n'"  expected: $(printf '%q' "$2")"$'\n'"  got:      $(printf '%q' "$3")"
	fi
}
# shellcheck source=installed.sh
[[ -n $deb ]] && . "$here/installed.sh"
# show_logs: on failure, the lines that explain it.
show_logs() {
	local f
	for f in "$ag/acctgate.log" "$sl/log/slurmdbd.log"; do
		[[ -f $f ]] || continue
		echo "---- last lines of $f ----"
		tail -n 40 "$f"
	done
}
phase() { # phase NAME START_MS
	printf 'TIME %-28s %6d ms\n' "$1" $(($(lab_now_ms) - $2))
}

t_all=$(lab_now_ms)
echo "== slurm e2e, variant $variant, $([[ $direct == 1 ]] && echo "DIRECT to MariaDB" || echo "through acctgate ($ACCTGATE_BIN)"), lab $lab"

# ---- components -----------------------------------------------------------
lab_certs "$lab/certs" || exit 1
# Away from the integration fixture's ports (ACCTGATE_TEST_PORT_BASE, 25306
# by default), one block per variant.
base=$((${ACCTGATE_TEST_PORT_BASE:-25306} + 1000))
[[ $variant == tls ]] && base=$((base + 100))
dbport=$(lab_free_port "$base")
t0=$(lab_now_ms)
lab_mariadb_start "$db" "$dbport" "$lab/certs" server || exit 1
phase "MariaDB start" "$t0"

storage_host=127.0.0.1 storage_port=$dbport
if [[ -n $deb ]]; then
	agport=$(lab_free_port $((base - 273)))
	ACCTGATE_BIN=/usr/sbin/acctgate
	t0=$(lab_now_ms)
	installed_setup "$deb" "$dbport" || exit 1
	phase "install, bootstrap, acctgate start" "$t0"
elif ((!direct)); then
	agport=$(lab_free_port $((base - 273)))
	lab_acctgate_conf "$ag/acctgate.conf" "$agport" "127.0.0.1:$dbport" "$lab/certs" \
		client_tls=optional tls=verify_identity log_level="${ACCTGATE_TEST_LOG_LEVEL:-info}"
	t0=$(lab_now_ms)
	lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
	phase "acctgate start" "$t0"
	storage_port=$agport
fi

# Capture both legs from before slurmdbd's first connection to the end.
if ((direct)); then
	legs=("slurmdbd->MariaDB:$dbport:$([[ $variant == tls ]] && echo tls || echo clear)")
	filter="tcp port $dbport"
else
	legs=("slurmdbd->acctgate:$agport:$([[ $variant == tls ]] && echo tls || echo clear)"
		"acctgate->MariaDB:$dbport:tls")
	filter="tcp port $agport or tcp port $dbport"
fi
rm -f "$lab/wire.pcap"
tcpdump -i lo -n -U -s 0 -w "$lab/wire.pcap" "$filter" 2>"$lab/tcpdump.log" &
tcpdump_pid=$!
for ((i = 0; i < 100; i++)); do
	grep -q "listening on" "$lab/tcpdump.log" 2>/dev/null && break
	sleep 0.05
done
grep -q "listening on" "$lab/tcpdump.log" || { lab_fail "tcpdump did not start" "$lab/tcpdump.log"; exit 1; }

dbd_port=$(lab_free_port $((base + 513)))   # 26819 / 26919
ctld_port=$(lab_free_port $((dbd_port + 1)))
slurmd_port=$(lab_free_port $((ctld_port + 1)))
ssl_ca=""
[[ $variant == tls ]] && ssl_ca=$lab/certs/ca.pem
t0=$(lab_now_ms)
if ! lab_slurm_start "$sl" cluster="$cluster" storage_host="$storage_host" storage_port="$storage_port" \
	dbd_port="$dbd_port" ctld_port="$ctld_port" slurmd_port="$slurmd_port" ssl_ca="$ssl_ca"; then
	show_logs
	exit 1
fi
phase "Slurm stack start" "$t0"
S() { lab_slurm "$sl" "$@"; }

# ---- accounts, users, fairshare -------------------------------------------
t0=$(lab_now_ms)
acct=physics
if S sacctmgr -i add account "$acct" Description="e2e test" Organization=lab >"$lab/sacctmgr.log" 2>&1 &&
	S sacctmgr -i add account chemistry Description="e2e test 2" Organization=lab >>"$lab/sacctmgr.log" 2>&1 &&
	S sacctmgr -i add user root account="$acct" >>"$lab/sacctmgr.log" 2>&1 &&
	S sacctmgr -i add user slurm account="$acct,chemistry" >>"$lab/sacctmgr.log" 2>&1 &&
	S sacctmgr -i modify user where name=root set fairshare=5 >>"$lab/sacctmgr.log" 2>&1 &&
	S sacctmgr -i modify user where name=slurm account=chemistry set fairshare=3 >>"$lab/sacctmgr.log" 2>&1; then
	pass "sacctmgr add account x2 / add user x2 / modify fairshare x2"
else
	fail "sacctmgr: $(tail -n 5 "$lab/sacctmgr.log")"
	show_logs
fi
phase "sacctmgr changes" "$t0"

# ---- jobs ----------------------------------------------------------------------
t0=$(lab_now_ms)
jobs=()
for cmd in "true" "sleep 1" "echo hello"; do
	if id=$(S sbatch --parsable -A "$acct" -o "$sl/jobs/%j.out" --chdir="$sl/jobs" --wrap "$cmd" 2>>"$lab/sbatch.log"); then
		jobs+=("${id%%;*}")
	else
		fail "sbatch --wrap '$cmd': $(tail -n 3 "$lab/sbatch.log")"
	fi
done
want_sacct=""
for j in "${jobs[@]}"; do want_sacct+="$j|COMPLETED|0:0"$'\n'; done
want_sacct=${want_sacct%$'\n'}
got_sacct=""
for ((i = 0; i < 600; i++)); do
	got_sacct=$(S sacct -a -X -n -P -o JobID,State,ExitCode -j "$(IFS=,; echo "${jobs[*]}")" 2>&1 | sort -n)
	[[ $got_sacct == "$want_sacct" ]] && break
	sleep 0.1
done
if [[ ${#jobs[@]} -eq 3 && $got_sacct == "$want_sacct" ]]; then
	pass "3 jobs (${jobs[*]}) COMPLETED per sacct -a -X"
else
	fail "sacct after 60 s: expected"$'\n'"$want_sacct"$'\n'"got"$'\n'"$got_sacct"
	show_logs
fi
phase "3 jobs submitted to COMPLETED" "$t0"
all_sacct=$(S sacct -a -X -n -P -o JobID,State,ExitCode,Account,User 2>&1 | sort -n)

# ---- what the database holds (read directly, not through acctgate) -----------
t0=$(lab_now_ms)
sql() { lab_mariadb_sql "$db" -B -N slurm_acct_db -e "$1" 2>&1; }
check "cluster_table holds the cluster" "$cluster" "$(sql "SELECT name FROM cluster_table WHERE deleted = 0")"
check "acct_table holds the accounts" $'chemistry\nphysics\nroot' \
	"$(sql "SELECT name FROM acct_table WHERE deleted = 0 ORDER BY name")"
check "user_table holds the users" $'root\nslurm' "$(sql "SELECT name FROM user_table WHERE deleted = 0 ORDER BY name")"
# Associations: the DB against sacctmgr's own view of them.
want_assoc=$(S sacctmgr -n -P show assoc where cluster="$cluster" format=account,user,fairshare 2>&1 |
	awk -F'|' '$2 != ""' | sort)
got_assoc=$(sql "SELECT acct, user, shares FROM \`${cluster}_assoc_table\` WHERE deleted = 0 AND user <> ''" |
	tr '\t' '|' | sort)
check "assoc table = sacctmgr show assoc (user associations)" "$want_assoc" "$got_assoc"
check "fairshare values stored" $'chemistry|slurm|3\nphysics|root|5\nphysics|slurm|1\nroot|root|5' "$got_assoc"
# Jobs: the DB against sacct's view; state 3 = JOB_COMPLETE.
want_jobs=$(printf '%s\n' "$all_sacct" | while IFS='|' read -r jid st ec ac us; do
	printf '%s|%s|%s|%s|%s\n' "$jid" "$ac" "$(id -u "$us" 2>/dev/null || echo "?$us")" \
		"$([[ $st == COMPLETED ]] && echo 3 || echo "$st")" "$ec"
done)
got_jobs=$(sql "SELECT id_job, account, id_user, state, CONCAT(exit_code >> 8, ':', exit_code & 255)
                  FROM \`${cluster}_job_table\` ORDER BY id_job" | tr '\t' '|')
check "job table = sacct -a -X (id, account, user, state, exit code)" "$want_jobs" "$got_jobs"
check "job table holds exactly the 3 jobs, COMPLETE" "3" \
	"$(sql "SELECT COUNT(*) FROM \`${cluster}_job_table\` WHERE state = 3 AND exit_code = 0 AND account = '$acct'")"
phase "database checks" "$t0"

# Slurm's own complaints about the database.
if grep -E "error: .*(mysql|MySQL|database|Lost connection|Deadlock)" "$sl/log/slurmdbd.log" >"$lab/dbd-errors.txt"; then
	fail "slurmdbd logged database errors:"$'\n'"$(head -n 20 "$lab/dbd-errors.txt")"
else
	pass "slurmdbd logged no database errors"
fi

# ---- wire -------------------------------------------------------------------------
t0=$(lab_now_ms)
# Stop the Slurm daemons before the capture: a connection they open just as
# the capture stops would be cut before its TLS handshake.
((keep)) || lab_slurm_stop "$sl"
kill -INT "$tcpdump_pid" 2>/dev/null
wait "$tcpdump_pid" 2>/dev/null
tcpdump_pid=""
for leg in "${legs[@]}"; do
	name=${leg%%:*} rest=${leg#*:}
	port=${rest%%:*} expect=${rest#*:}
	tcpdump -r "$lab/wire.pcap" -w "$lab/leg-$port.pcap" "tcp port $port" 2>/dev/null
	packets=$(tcpdump -r "$lab/leg-$port.pcap" -n 2>/dev/null | wc -l)
	# Decoded as MySQL, so the dissector hands over to TLS after each SSLRequest.
	hellos=$(tshark -r "$lab/leg-$port.pcap" -d "tcp.port==$port,mysql" -Y "tls.handshake.type == 1" 2>/dev/null | wc -l)
	conns=$(tcpdump -r "$lab/leg-$port.pcap" -n "tcp dst port $port and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" 2>/dev/null | wc -l)
	clear=$(grep -a -o -i -E "slurm_acct_db|insert into|job_table" "$lab/leg-$port.pcap" | sort | uniq -c | tr -s ' ' | tr '\n' ';')
	if ((packets < 20)); then
		fail "wire $name (port $port): only $packets packets captured, the check would prove nothing"
	elif [[ $expect == tls ]]; then
		if ((hellos == 0 || hellos != conns)); then
			fail "wire $name (port $port): $packets packets, $conns connections but $hellos TLS ClientHellos"
		elif [[ -n $clear ]]; then
			fail "wire $name (port $port): SQL text in clear on a TLS leg: $clear"
		else
			pass "wire $name (port $port): $packets packets, $conns connections, each with a TLS handshake, no SQL text in clear"
		fi
	else
		if [[ -n $clear ]]; then
			pass "wire $name (port $port, plaintext by design): SQL visible as expected ($clear)"
		else
			fail "wire $name (port $port): plaintext leg shows no SQL text; the capture or the grep is broken"
		fi
	fi
done
phase "wire check" "$t0"

if ((!direct)); then
	if grep -iE "sanitizer|assert|fatal|\berror\b" "$ag/acctgate.log" >"$lab/ag-errors.txt"; then
		echo "NOTE acctgate logged errors (not failing the test by themselves):"
		head -n 20 "$lab/ag-errors.txt"
	fi
	if ! secrets=$(lab_log_secrets "$ag/acctgate.log"); then
		fail "slurmdbd's database password appears in acctgate's log:"$'\n'"$secrets"
	else
		pass "no password in acctgate's log"
	fi
	if ! lab_pid_alive "$ag/acctgate.pid"; then
		fail "acctgate is no longer running"
		show_logs
	fi
fi
t0=$(lab_now_ms)
stop_all
trap - EXIT
phase "stop everything" "$t0"
# A sanitizer build writes its reports (leaks at exit) into acctgate's log.
if ((!direct && !keep)) && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$ag/acctgate.log"; then
	fail "sanitizer report in $ag/acctgate.log:"$'\n'"$(grep -E -A 30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$ag/acctgate.log" | head -n 60)"
fi
phase "total" "$t_all"
if ((failures)); then
	echo "$failures check(s) failed; logs under $lab"
	exit 1
fi
echo "all checks passed"
