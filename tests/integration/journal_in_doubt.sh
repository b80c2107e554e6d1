#!/usr/bin/env bash
# journal_in_doubt.sh LABDIR CLIENT_BIN - a crash of acctgate between
# forwarding a COMMIT and recording its outcome, made to happen on purpose,
# on a MariaDB and an acctgate of the test's own (commit markers on):
#   the server is stopped (SIGSTOP) so the COMMIT waits in its socket;
#   acctgate is killed (-9) with the PREPARE written and no outcome;
#   A: the server goes on (SIGCONT) and decides the commit itself;
#   B: the server is killed too, so the transaction never commits;
#   C: an autocommit write stopped (gdb) between its commit and the answer;
#   D: a DDL that fails after committing the transaction before it;
#   E: DDL crashed mid-flight, which no marker can cover.
# After each, the restarted acctgate resolves the PREPARE from the server's
# marker (E: its catalog, unless a later DDL redefined the table): journal
# verify shows nothing else in doubt, and replaying the journal onto an
# empty server gives the same table as the original.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: the journal is acctgate's"; exit 77; }
ag=$lab/ag-indoubt db=$lab/db-indoubt db2=$lab/db-indoubt-replay jdir=$lab/ag-indoubt/journal
cleanup() {
	sess_close_all
	[[ -f $db/mariadbd.pid ]] && kill -CONT "$(<"$db/mariadbd.pid")" 2>/dev/null
	lab_acctgate_stop "$ag"
	lab_mariadb_stop "$db"
	lab_mariadb_stop "$db2"
}
trap cleanup EXIT
rm -rf "$ag" "$db" "$db2"
mkdir -p "$ag"
dbp=$(lab_free_port $((DB_PORT + 40)))
lab_mariadb_start "$db" "$dbp" "$CERTS" server || exit 1
db2p=$(lab_free_port $((dbp + 1)))
lab_mariadb_start "$db2" "$db2p" "$CERTS" server || exit 1
ap=$(lab_free_port $((TARGET_PORT + 70)))
printf '%s\n' "$LAB_DB_PASS" >"$ag/pw"
chmod 600 "$ag/pw"
lab_acctgate_conf "$ag/acctgate.conf" "$ap" "127.0.0.1:$dbp" "$CERTS" threads=1
cat >>"$ag/acctgate.conf" <<EOF
[journal]
dir = $jdir
markers = acctgate
[snapshot]
user = $LAB_DB_USER
password_file = $ag/pw
EOF
start() { lab_acctgate_start "$ag" "$ag/acctgate.conf" >/dev/null 2>&1 || { tail "$ag/acctgate.log"; exit 1; }; }
q() { mariadb -h 127.0.0.1 -P "$1" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --ssl-ca="$CERTS/ca.pem" -B -N -e "$2" 2>&1; }
start
q "$ap" "CREATE DATABASE jd; CREATE TABLE jd.t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB;
	INSERT INTO jd.t (v) VALUES ('before')" >/dev/null

# crash_mid_commit VALUE: a transaction inserting VALUE whose COMMIT reaches
# the stopped server, then acctgate killed with it unanswered.
crash_mid_commit() {
	sess_open s "$ap" --ssl-ca="$CERTS/ca.pem"
	sess_send s "SET autocommit=0"
	sess_send s "INSERT INTO jd.t (v) VALUES ('$1')"
	sess_send s "SELECT 'inserted'"
	sess_wait s 1 >/dev/null
	kill -STOP "$(<"$db/mariadbd.pid")"
	sess_send s "COMMIT"
	sleep 1 # the PREPARE is written (an fsync), the COMMIT and its marker sent
	kill -9 "$(<"$ag/acctgate.pid")"
	sleep 0.2
	rm -f "$ag/acctgate.pid"
	sess_close_all
}

in_doubt() { "$ACCTGATE_BIN" journal verify "$jdir" | sed -n 's/.* \([0-9]*\) in doubt$/\1/p'; }

# ---- A: the server decides ---------------------------------------------------
crash_mid_commit committed_maybe
n=$(in_doubt)
check "a crash mid-commit leaves its PREPARE in doubt" "$([[ $n == 1 ]] && echo 1 || echo 0)" "in doubt: $n"
kill -CONT "$(<"$db/mariadbd.pid")"
sleep 1
log_mark "$ag/acctgate.log"
start
n=$(in_doubt)
resolved=$(log_after "$ag/acctgate.log" | grep -o 'in doubt: [0-9]* committed and [0-9]* not' | head -n1)
check "A: the restart resolves it from the server's marker" "$([[ $n == 0 && -n $resolved ]] && echo 1 || echo 0)" \
	"in doubt after restart: $n; log: ${resolved:-nothing}"
server_has=$(q "$dbp" "SELECT COUNT(*) FROM jd.t WHERE v = 'committed_maybe'")
echo "A: rows the server kept: $server_has ($resolved)"

# ---- B: the transaction never commits ---------------------------------------
crash_mid_commit never_committed
kill -9 "$(<"$db/mariadbd.pid")"
sleep 0.5
rm -f "$db/mariadbd.pid"
lab_mariadb_restart "$db" >/dev/null 2>&1 || { tail "$db/error.log"; exit 1; }
log_mark "$ag/acctgate.log"
start
n=$(in_doubt)
resolved=$(log_after "$ag/acctgate.log" | grep -o 'in doubt: [0-9]* committed and [0-9]* not' | head -n1)
server_has=$(q "$dbp" "SELECT COUNT(*) FROM jd.t WHERE v = 'never_committed'")
check "B: a commit the server never made is resolved as not committed" \
	"$([[ $n == 0 && $resolved == 'in doubt: 0 committed and 1 not' && $server_has == 0 ]] && echo 1 || echo 0)" \
	"in doubt $n, log '${resolved:-nothing}', rows on the server $server_has"

# ---- C: an autocommit write, which acctgate wraps in BEGIN ... COMMIT --------
# gdb stops acctgate where the server's answer to that COMMIT arrives: the
# server has committed, acctgate has recorded only the PREPARE it wrote once
# the statement had run. A rollback made straight at the server burns an id
# first, so the replay of the resolved commit gets the right row only if the
# PREPARE carried the statement's insert id.
# crash_at FUNCTION STATEMENT: acctgate killed (by gdb) when it reaches
# FUNCTION while it runs STATEMENT for a client.
crash_at() {
	gdb -p "$(<"$ag/acctgate.pid")" -batch -ex 'handle all nostop noprint pass' -ex "break $1" \
		-ex continue -ex kill >"$ag/gdb.out" 2>&1 &
	local gdbpid=$!
	for _ in $(seq 100); do
		grep -q '^Breakpoint 1 at' "$ag/gdb.out" && break
		sleep 0.1
	done
	sleep 0.5 # from the breakpoint's line to the continue
	(q "$ap" "$2" >/dev/null) &
	timeout 20 tail --pid="$gdbpid" -f /dev/null
	kill "$gdbpid" 2>/dev/null
	rm -f "$ag/acctgate.pid"
	wait
}
q "$dbp" "BEGIN; INSERT INTO jd.t (v) VALUES ('burnt'); ROLLBACK" >/dev/null
crash_at wrap_committed "INSERT INTO jd.t (v) VALUES ('autocommit_maybe')"
n=$(in_doubt)
check "C: an autocommit write crashed between its COMMIT and the answer is in doubt" \
	"$([[ $n == 1 ]] && echo 1 || echo 0)" "in doubt: $n; gdb: $(grep -c 'Breakpoint 1, ' "$ag/gdb.out") stop(s)"
log_mark "$ag/acctgate.log"
start
n=$(in_doubt)
resolved=$(log_after "$ag/acctgate.log" | grep -o 'in doubt: [0-9]* committed and [0-9]* not' | head -n1)
server_id=$(q "$dbp" "SELECT id FROM jd.t WHERE v = 'autocommit_maybe'")
record=$("$ACCTGATE_BIN" journal cat "$jdir" | grep -A4 'resolved at a start' | grep -B4 autocommit_maybe)
check "C: resolved as committed, with its insert id and commit clock" \
	"$([[ $n == 0 && $resolved == 'in doubt: 1 committed and 0 not' && -n $server_id && $record == *", clock "* &&
		$record == *"insert_id=$server_id"* ]] && echo 1 || echo 0)" \
	"in doubt $n, log '${resolved:-nothing}', server id ${server_id:-none}; record: $(tr '\n' ' ' <<<"$record")"

# ---- D: a failed DDL that committed what came before it ---------------------
# CREATE TABLE of a table that exists commits the open transaction when it
# starts, then fails: the journal must have that transaction; a DDL that
# fails before (a syntax error) commits nothing, and the transaction goes
# on to its ROLLBACK.
out=$(q "$ap" "SET autocommit=0; INSERT INTO jd.t (v) VALUES ('ddl_committed'); CREATE TABLE jd.t (x INT)" 2>&1)
out2=$(q "$ap" "SET autocommit=0; INSERT INTO jd.t (v) VALUES ('ddl_rolled_back'); CREATE TABLE jd.t2 (x INT ((; " 2>&1)
rows=$(q "$dbp" "SELECT GROUP_CONCAT(v ORDER BY id) FROM jd.t WHERE v LIKE 'ddl%'")
check "D: the failed DDLs' errors reach the client; the server kept only what the first committed" \
	"$([[ $out == *1050* && $out2 == *1064* && $rows == ddl_committed ]] && echo 1 || echo 0)" "$out / $out2 / $rows"
check "D: the log says the transaction committed implicitly and was recorded" \
	"$([[ $(grep -c 'committed implicitly before its failed command; recorded' "$ag/acctgate.log") -ge 1 ]] && echo 1 || echo 0)" \
	"$(grep -c 'committed implicitly' "$ag/acctgate.log") line(s)"

# ---- E: definition changes, which carry no marker -----------------------------
# A DDL commits by itself, so the restart asks the catalog instead: E1 a
# DROP the server ran and answered (acctgate stopped by gdb as the answer
# came), E2 an ALTER it never ran (the server killed), E3 a CREATE that a later DDL in the journal redefined (recorded
# by an acctgate run without [snapshot] user, which resolves nothing), so
# the catalog's present state no longer says and it stays in doubt.
crash_mid_ddl() {
	sess_open s "$ap" --ssl-ca="$CERTS/ca.pem"
	sess_send s "SELECT 'connected'"
	sess_wait s 1 >/dev/null
	kill -STOP "$(<"$db/mariadbd.pid")"
	sess_send s "$1"
	sleep 1 # the PREPARE is written, the DDL sent
	kill -9 "$(<"$ag/acctgate.pid")"
	sleep 0.2
	rm -f "$ag/acctgate.pid"
	sess_close_all
}
resolved_ddl() { log_after "$ag/acctgate.log" | grep -o '[0-9]* definition changes ran and [0-9]* did not' | head -n1; }
q "$ap" "CREATE TABLE jd.gone (x INT) ENGINE=InnoDB" >/dev/null
crash_at write_commit "DROP TABLE IF EXISTS jd.gone"
n=$(in_doubt)
log_mark "$ag/acctgate.log"
start
after=$(in_doubt)
check "E1: a DROP the server ran and answered (its record never written) is resolved as run, from the catalog" \
	"$([[ $n == 1 && $after == 0 && $(resolved_ddl) == '1 definition changes ran and 0 did not' ]] && echo 1 || echo 0)" \
	"in doubt before $n, after $after; log: '$(resolved_ddl)'"

crash_mid_ddl "ALTER TABLE jd.t COMMENT = 'never altered'"
n=$(in_doubt)
kill -9 "$(<"$db/mariadbd.pid")"
sleep 0.5
rm -f "$db/mariadbd.pid"
lab_mariadb_restart "$db" >/dev/null 2>&1 || { tail "$db/error.log"; exit 1; }
log_mark "$ag/acctgate.log"
start
after=$(in_doubt)
comment=$(q "$dbp" "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'jd' AND TABLE_NAME = 't'")
check "E2: an ALTER the server never ran is resolved as not run" \
	"$([[ $n == 1 && $after == 0 && $(resolved_ddl) == '0 definition changes ran and 1 did not' && -z $comment ]] && echo 1 || echo 0)" \
	"in doubt before $n, after $after; log: '$(resolved_ddl)'; comment '$comment'"

sed '/^\[journal\]/,$d' "$ag/acctgate.conf" >"$ag/no-resolve.conf"
printf '[journal]\ndir = %s\n' "$jdir" >>"$ag/no-resolve.conf"
crash_mid_ddl "CREATE TABLE jd.e3 (x INT) ENGINE=InnoDB"
kill -CONT "$(<"$db/mariadbd.pid")"
sleep 1
lab_acctgate_start "$ag" "$ag/no-resolve.conf" >/dev/null 2>&1 || { tail "$ag/acctgate.log"; exit 1; }
q "$ap" "DROP TABLE IF EXISTS jd.e3" >/dev/null
lab_acctgate_stop "$ag"
log_mark "$ag/acctgate.log"
start
after=$(in_doubt)
check "E3: a DDL whose table a later DDL redefined stays in doubt" \
	"$([[ $after == 1 && $(resolved_ddl) == '0 definition changes ran and 0 did not' ]] && echo 1 || echo 0)" \
	"in doubt after the restart: $after; log: '$(resolved_ddl)'"
indoubt_expected=1

# ---- the journal equals the server -------------------------------------------
out=$("$ACCTGATE_BIN" journal verify "$jdir")
check "journal verify passes, with E3 alone in doubt" \
	"$([[ $out == *OK && $(in_doubt) == "$indoubt_expected" && $out == *"CREATE TABLE jd.e3"* ]] && echo 1 || echo 0)" \
	"$(echo "$out" | tr '\n' ' ')"
markers=$(q "$dbp" "SELECT COUNT(*) FROM acctgate.commits WHERE run_id < (SELECT MAX(run_id) FROM acctgate.commits)")
check "markers of earlier runs are deleted once resolved" "$([[ $markers == 0 ]] && echo 1 || echo 0)" \
	"old markers: $markers"
rout=$("$ACCTGATE_BIN" replay --journal "$jdir" --target "127.0.0.1:$db2p" --user "$LAB_DB_USER" \
	--password-file "$ag/pw" --tls-ca "$CERTS/ca.pem" --no-progress 2>&1)
check "replay has no divergence" "$([[ $rout == *" 0 divergences"* ]] && echo 1 || echo 0)" "$rout"
a=$(q "$dbp" "CHECKSUM TABLE jd.t EXTENDED")
b=$(q "$db2p" "CHECKSUM TABLE jd.t EXTENDED")
check "replay equals the server" "$([[ -n $a && $a == "$b" ]] && echo 1 || echo 0)" "server: $a; replay: $b"
((failures)) && log_since "$ag/acctgate.log"
exit $((failures > 0))
