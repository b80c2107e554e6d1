#!/usr/bin/env bash
# signals.sh LABDIR CLIENT_BIN - what an admin's kill does to running
# sessions, on an acctgate of its own (LABDIR/ag-signals) in front of the
# fixture's MariaDB, sessions driven by the stock mariadb client.
#   SIGHUP: max_connections 2 -> 3 lets a third session in; servers moved to
#     a second MariaDB sends new sessions there while an open one stays on
#     its server (same CONNECTION_ID, @@port); a changed listen address is
#     kept with a warning (restart only); a file with an unknown key is
#     refused with file, line and key named, and acctgate keeps serving.
#   SIGTERM: the listener closes at once (new connections refused); a
#     session idle outside a transaction is closed at once; one inside a
#     transaction keeps working until its COMMIT, which lands, and is closed
#     right after; then acctgate exits 0.
#   SIGTERM past drain_timeout: a transaction that never ends is closed
#     after drain_timeout (2 s here) and the server rolls it back.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: signals are acctgate's"; exit 77; }
ag=$lab/ag-signals db2=$lab/db-signals
cleanup() {
	sess_close_all
	lab_acctgate_stop "$ag"
	lab_mariadb_stop "$db2"
}
trap cleanup EXIT
rm -f "$ag/acctgate.log"
is() { [[ $1 == "$2" ]] && echo 1 || echo 0; }

# q SQL: one new session, the answer or the error.
q() {
	timeout 20 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=5 \
		-B -N -e "$1" 2>&1
}
# conf KEY=VALUE...: (re)write acctgate's configuration.
conf() { lab_acctgate_conf "$ag/acctgate.conf" "$ap" "$ups" "$CERTS" threads=2 "$@"; }
since() { log_after "$ag/acctgate.log"; }
# hup: SIGHUP, the verdict in the log read from the mark on (since).
hup() {
	log_mark "$ag/acctgate.log"
	lab_acctgate_reload "$ag" >/dev/null
}

ap=$(lab_free_port $((TARGET_PORT + 60)))
ups="127.0.0.1:$DB_PORT"
conf max_connections=2 drain_timeout=30
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
lab_mariadb_sql "$DB_DIR" -e "CREATE TABLE IF NOT EXISTS acctgate_test.sig (v INT) ENGINE=InnoDB;
	DELETE FROM acctgate_test.sig"

# ---- SIGHUP ----------------------------------------------------------------
sess_open a "$ap"
sess_send a "SELECT CONNECTION_ID(), @@port"
first=$(sess_wait a 1)
sess_open b "$ap"
sess_send b "SELECT 'b'"
sess_wait b 1 >/dev/null
out=$(q "SELECT 'third'")
check "max_connections 2 refuses a third session" "$([[ $out == *1040* ]] && echo 1 || echo 0)" "$out"

d2=$(lab_free_port $((DB_PORT + 60)))
lab_mariadb_start "$db2" "$d2" "$CERTS" server || exit 1
ups="127.0.0.1:$d2"
conf max_connections=3 drain_timeout=30
hup
out=$(q "SELECT @@port")
check "after SIGHUP the third session gets in, on the new server" "$(is "$out" "$d2")" \
	"@@port '$out' (new server $d2); $(since | grep -c 'reload done') 'reload done' line"
sess_send a "SELECT CONNECTION_ID(), @@port"
check "an open session stays on its server through the reload" "$(is "$(sess_wait a 2)" "$first")" \
	"before '$first', after '$(tail -n 1 "$sess_dir/a.out")'"

lab_acctgate_conf "$ag/acctgate.conf" $((ap + 1)) "$ups" "$CERTS" threads=2 max_connections=3 drain_timeout=30
hup
line=$(since | grep -F "[proxy] listen changed")
check "a changed listen address waits for a restart" \
	"$([[ $line == *"keeping the running value"* ]] && [[ $(q "SELECT 'still'") == still ]] && echo 1 || echo 0)" \
	"${line:-no warning}"

conf max_connections=3 drain_timeout=30
printf 'bogus_key = 1\n' >>"$ag/acctgate.conf"
bad_line=$(wc -l <"$ag/acctgate.conf")
hup
line=$(since | grep -F "reload refused")
want="$ag/acctgate.conf:$bad_line: [upstream] bogus_key: unknown key"
check "a bad file on SIGHUP is refused, naming file, line and key" \
	"$([[ $line == *"$want"* ]] && [[ $(q "SELECT @@port") == "$d2" ]] && echo 1 || echo 0)" "${line:-no refusal}"
conf max_connections=3 drain_timeout=30
sess_close_all
lab_acctgate_stop "$ag"

# ---- SIGTERM: drain ----------------------------------------------------------
ups="127.0.0.1:$DB_PORT"
conf drain_timeout=30
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
pid=$(<"$ag/acctgate.pid")
sess_open idle "$ap"
sess_send idle "SELECT 'idle'"
sess_wait idle 1 >/dev/null
sess_open txn "$ap"
sess_send txn "SET autocommit = 0"
sess_send txn "INSERT INTO sig VALUES (1)"
sess_send txn "SELECT COUNT(*) FROM sig"
sess_wait txn 1 >/dev/null
log_mark "$ag/acctgate.log"
kill -TERM "$pid"
sleep 0.5
out=$(q "SELECT 1")
check "after SIGTERM new connections are refused" "$([[ $out == *"ERROR 2002"* ]] && echo 1 || echo 0)" "$out"
sess_send idle "SELECT 'still idle?'"
check "an idle session is closed at once" "$(sess_gone idle && echo 1 || echo 0)" \
	"its client: $(tail -n 1 "$sess_dir/idle.out")"
sess_send txn "INSERT INTO sig VALUES (2)"
sess_send txn "SELECT COUNT(*) FROM sig"
check "a session in a transaction keeps working" "$(is "$(sess_wait txn 2)" 2)" "$(tail -n 1 "$sess_dir/txn.out")"
sess_send txn "COMMIT"
sess_send txn "SELECT 'after commit'"
sess_gone txn
check "it is closed once its transaction has committed" \
	"$([[ $(tail -n 1 "$sess_dir/txn.out") == *"ERROR 20"* ]] && echo 1 || echo 0)" "its client: $(tail -n 1 "$sess_dir/txn.out")"
rows=$(lab_mariadb_sql "$DB_DIR" -B -N -e "SELECT COUNT(*) FROM acctgate_test.sig")
check "the drained transaction's rows are committed" "$(is "$rows" 2)" "$rows rows"
deadline=$((SECONDS + 10))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
wait "$pid" 2>/dev/null
check "acctgate exits once drained" "$(kill -0 "$pid" 2>/dev/null && echo 0 || echo 1)" \
	"$(since | grep -E 'SIGTERM|stopped' | tr '\n' ' ')"
sess_close_all

# ---- SIGTERM past drain_timeout ----------------------------------------------
conf drain_timeout=2
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
pid=$(<"$ag/acctgate.pid")
sess_open stuck "$ap"
sess_send stuck "SET autocommit = 0"
sess_send stuck "INSERT INTO sig VALUES (3)"
sess_send stuck "SELECT 'inserted'"
sess_wait stuck 1 >/dev/null
log_mark "$ag/acctgate.log"
t0=$(lab_now_ms)
kill -TERM "$pid"
deadline=$((SECONDS + 15))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
ms=$(($(lab_now_ms) - t0))
line=$(since | grep -F "drain_timeout reached")
check "a transaction that never ends is closed after drain_timeout" \
	"$([[ -n $line ]] && ! kill -0 "$pid" 2>/dev/null && ((ms >= 2000 && ms < 6000)) && echo 1 || echo 0)" \
	"acctgate gone after $ms ms: ${line:-no drain_timeout line}"
sleep 0.5
rows=$(lab_mariadb_sql "$DB_DIR" -B -N -e "SELECT COUNT(*) FROM acctgate_test.sig")
check "and its uncommitted row is rolled back by the server" "$(is "$rows" 2)" "$rows rows"

((failures)) && log_since "$ag/acctgate.log"
echo "$failures check(s) failed"
((failures == 0))
