#!/usr/bin/env bash
# digests.sh LABDIR CLIENT_BIN - per-digest statistics (proxy/digests.h) and
# the admin port's SHOW QUERY DIGESTS / RESET QUERY DIGESTS, on an acctgate
# of its own (LABDIR/ag-digests, two workers) in front of the fixture's
# MariaDB, with the stock mariadb client:
#   statements with different literals are one digest, counted across
#     sessions on both workers (the per-worker tables merged);
#   each statement of a multi-statement query is its own digest (the
#     client sends "a; b" as one COM_QUERY under another delimiter);
#   rows sent and rows affected; a failing statement's error code, and
#     the statement after it in the same query never counted;
#   a statement that sleeps shows in mean/p95/max; a CALL's rows are its
#     result sets'; a lock wait lost (1205) counts in lock_waits;
#   COM_STMT_EXECUTE under its prepared text's digest (the client test's
#     prepared scenario);
#   ORDER BY and LIMIT sort and cut as asked; a bad clause gets ERR 1064;
#   RESET QUERY DIGESTS forgets; [digests] max = 0 answers ERR.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: the admin port is acctgate's"; exit 77; }
ag=$lab/ag-digests
cleanup() {
	sess_close_all
	lab_acctgate_stop "$ag"
}
trap cleanup EXIT
rm -rf "$ag"
mkdir -p "$ag"
is() { [[ $1 == "$2" ]] && echo 1 || echo 0; }
has() { [[ $1 == *"$2"* ]] && echo 1 || echo 0; }

ap=$(lab_free_port $((TARGET_PORT + 80)))
adm=$(lab_free_port $((ap + 1)))
pwfile=$ag/admin.pw
printf 'Adm1n-pass\n' >"$pwfile"
chmod 600 "$pwfile"
# conf MAX: acctgate's file with [admin] and [digests] max = MAX.
conf() {
	lab_acctgate_conf "$ag/acctgate.conf" "$ap" "127.0.0.1:$DB_PORT" "$CERTS" threads=2
	printf '[admin]\nlisten = 127.0.0.1:%s\nuser = admin\npassword_file = %s\n\n[digests]\nmax = %s\n' \
		"$adm" "$pwfile" "$1" >>"$ag/acctgate.conf"
}
start() {
	lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
	lab_wait_port "$adm" 10 "$(<"$ag/acctgate.pid")" "$ag/acctgate.log" || exit 1
}
# q SQL...: one client session through acctgate (batch, no column names).
q() {
	timeout 30 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" -D acctgate_test -B -N "$@" 2>&1
}
ok() { timeout 30 mariadb -h 127.0.0.1 -P "$adm" -u admin -p'Adm1n-pass' --connect-timeout=5 -B "$@" 2>&1; }
# row OUT TEXT: the line of SHOW QUERY DIGESTS whose digest_text is TEXT.
row() { awk -F'\t' -v t="$2" '$2 == t' <<<"$1"; }
# col LINE N: the Nth column (1-based) of a line.
col() { cut -f "$2" <<<"$1"; }

conf 5000
start

# ---- statements through acctgate -----------------------------------------------
q -e "DROP TABLE IF EXISTS dig; CREATE TABLE dig (id INT PRIMARY KEY, v VARCHAR(16)) ENGINE=InnoDB" >/dev/null
# Four sessions (round-robin: two per worker), each with another literal.
for i in 1 2 3 4; do
	q -e "SELECT $i + 1 AS x" >/dev/null
done
q -e "INSERT INTO dig VALUES (1, 'a'), (2, 'b'), (3, 'c')" >/dev/null
q -e "INSERT INTO dig VALUES (4, 'd')" >/dev/null
q -e "SELECT id, v FROM dig WHERE id > 0" >/dev/null
# One COM_QUERY of three statements (the client's multi-statement mode):
# the second fails, so the third never runs.
out=$(q --delimiter='//' -e "UPDATE dig SET v = 'z' WHERE id <= 2; SELECT * FROM no_such_table; DELETE FROM dig//")
check "a multi-statement query stops at its failing statement" "$(has "$out" "ERROR 1146")" "$out"
q -e "SELECT * FROM no_such_table WHERE id = 7" >/dev/null
q -e "SELECT SLEEP(0.3)" >/dev/null
# A CALL: its result set's rows are the CALL's, its digest one statement.
q -e "DROP PROCEDURE IF EXISTS dig_rows; CREATE PROCEDURE dig_rows() SELECT id FROM dig WHERE id <= 2" >/dev/null
q -e "CALL dig_rows()" >/dev/null
# A lock wait lost: a session holds the row, another waits 1 s for it (1205).
sess_open holder "$ap"
sess_send holder "BEGIN"
sess_send holder "SELECT id FROM dig WHERE id = 4 FOR UPDATE"
sess_wait holder 1 >/dev/null
out=$(q -e "SET SESSION innodb_lock_wait_timeout = 1; UPDATE dig SET v = 'w' WHERE id = 4")
check "a statement waiting for a held row lock gets 1205" "$(has "$out" "ERROR 1205")" "$out"
sess_close_all
out=$("$client" "${client_args[@]}" --port "$ap" --client-tls off prepared 2>&1)
rc=$?
check "the client test's prepared scenario passes through acctgate" "$(is "$rc" 0)" \
	"$(tail -n 3 <<<"$out" | tr '\n' '|')"

# ---- SHOW QUERY DIGESTS ------------------------------------------------------------
out=$(ok -e "SHOW QUERY DIGESTS")
check "columns" "$(is "$(head -n 1 <<<"$out")" "digest	digest_text	count	errors	error_codes	total_ms	mean_ms	p95_ms	max_ms	rows_sent	rows_affected	lock_waits	first_seen	last_seen")" \
	"$(head -n 1 <<<"$out")"
r=$(row "$out" "SELECT ? + ? AS x")
check "different literals, sessions on both workers: one digest, count 4, rows_sent 4" \
	"$([[ $(col "$r" 3) == 4 && $(col "$r" 4) == 0 && $(col "$r" 10) == 4 && $(col "$r" 1) =~ ^[0-9a-f]{16}$ ]] && echo 1 || echo 0)" \
	"${r:-no row}"
check "its times: wall-clock UTC" "$([[ $(col "$r" 13) =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}\ [0-9:.]+\ UTC$ ]] && echo 1 || echo 0)" \
	"$(col "$r" 13)"
r=$(row "$out" "INSERT INTO dig VALUES (...)")
check "INSERT of 3 rows and of 1 row: one digest, count 2, rows_affected 4" \
	"$([[ $(col "$r" 3) == 2 && $(col "$r" 11) == 4 ]] && echo 1 || echo 0)" "${r:-no row}"
r=$(row "$out" "SELECT id, v FROM dig WHERE id > ?")
check "a SELECT's rows_sent" "$([[ $(col "$r" 3) == 1 && $(col "$r" 10) == 4 ]] && echo 1 || echo 0)" "${r:-no row}"
r=$(row "$out" "UPDATE dig SET v = ? WHERE id <= ?")
check "the multi-statement query's first statement: its own digest, 2 rows affected" \
	"$([[ $(col "$r" 3) == 1 && $(col "$r" 11) == 2 && $(col "$r" 4) == 0 ]] && echo 1 || echo 0)" "${r:-no row}"
r=$(row "$out" "SELECT * FROM no_such_table")
check "its failing statement: count 1, errors 1, code 1146" \
	"$([[ $(col "$r" 3) == 1 && $(col "$r" 4) == 1 && $(col "$r" 5) == "1146:1" && $(col "$r" 12) == 0 ]] && echo 1 || echo 0)" \
	"${r:-no row}"
r=$(row "$out" "DELETE FROM dig")
check "the statement after the error never ran: not counted" "$([[ -z $r ]] && echo 1 || echo 0)" "$r"
r=$(row "$out" "SELECT * FROM no_such_table WHERE id = ?")
check "a failing single statement: errors 1, code 1146" \
	"$([[ $(col "$r" 4) == 1 && $(col "$r" 5) == "1146:1" ]] && echo 1 || echo 0)" "${r:-no row}"
r=$(row "$out" "SELECT SLEEP(?)")
mean=$(col "$r" 7) p95=$(col "$r" 8) max=$(col "$r" 9)
check "SELECT SLEEP(0.3): mean, p95 and max about 300 ms (p95 within 1/16)" \
	"$(awk -v a="$mean" -v b="$p95" -v c="$max" 'BEGIN { print (a >= 295 && a < 1000 && c >= 295 && c < 1000 && b >= 0.93 * c && b <= c) ? 1 : 0 }')" \
	"${r:-no row}"
r=$(row "$out" "CALL dig_rows()")
check "CALL: count 1, the rows of its result set" "$([[ $(col "$r" 3) == 1 && $(col "$r" 10) == 2 ]] && echo 1 || echo 0)" \
	"${r:-no row}"
r=$(row "$out" "UPDATE dig SET v = ? WHERE id = ?")
check "the lock wait lost: errors 1, code 1205, lock_waits 1, about 1 s" \
	"$([[ $(col "$r" 4) == 1 && $(col "$r" 5) == "1205:1" && $(col "$r" 12) == 1 && $(col "$r" 9) == 1[0-9][0-9][0-9].* ]] && echo 1 || echo 0)" \
	"${r:-no row}"
r=$(row "$out" "INSERT INTO ps VALUES (...)")
check "COM_STMT_EXECUTE under its prepared text's digest: 10 executions, 10 rows" \
	"$([[ $(col "$r" 3) == 10 && $(col "$r" 11) == 10 ]] && echo 1 || echo 0)" "${r:-no row: $(cut -f 2,3 <<<"$out" | grep -i 'ps' | tr '\n' '|')}"

# ---- ORDER BY, LIMIT --------------------------------------------------------------
sorted() { # sorted KEY COLUMN: is SHOW QUERY DIGESTS ORDER BY KEY descending in COLUMN?
	local o
	o=$(ok -N -e "SHOW QUERY DIGESTS ORDER BY $1")
	[[ -n $o ]] && cut -f "$2" <<<"$o" | sort -g -r -c 2>/dev/null && echo 1 || echo 0
}
check "ORDER BY count" "$(sorted count 3)" ""
check "ORDER BY errors" "$(sorted errors 4)" ""
check "ORDER BY total" "$(sorted total 6)" ""
check "ORDER BY mean" "$(sorted mean 7)" ""
check "ORDER BY p95" "$(sorted p95 8)" ""
check "ORDER BY max" "$(sorted max 9)" ""
top=$(ok -N -e "SHOW QUERY DIGESTS ORDER BY max LIMIT 1")
check "ORDER BY max LIMIT 1: one row, the lock wait" \
	"$([[ $(wc -l <<<"$top") == 1 && $(col "$top" 2) == "UPDATE dig SET v = ? WHERE id = ?" ]] && echo 1 || echo 0)" \
	"$top"
top=$(ok -N -e "show query digests order by errors limit 3")
check "ORDER BY errors LIMIT 3: the three failing digests" \
	"$([[ $(wc -l <<<"$top") == 3 && $(cut -f 2 <<<"$top" | sort | tr '\n' '|') == "SELECT * FROM no_such_table|SELECT * FROM no_such_table WHERE id = ?|UPDATE dig SET v = ? WHERE id = ?|" ]] && echo 1 || echo 0)" \
	"$(cut -f 2,4 <<<"$top" | tr '\n' '|')"
top=$(ok -N -e "SHOW QUERY DIGESTS ORDER BY rows LIMIT 0")
check "LIMIT 0: no row" "$([[ -z $top ]] && echo 1 || echo 0)" "$top"
out=$(ok -e "SHOW QUERY DIGESTS ORDER BY latency")
check "a bad ORDER BY: ERR 1064 naming the keys" \
	"$(has "$out" "ERROR 1064 (42000) at line 1: SHOW QUERY DIGESTS: expected count, total, mean, p95, max, errors or rows after ORDER BY, got 'latency'")" \
	"$out"
out=$(ok -e "help admin")
check "HELP lists SHOW QUERY DIGESTS and RESET QUERY DIGESTS" \
	"$([[ $out == *"SHOW QUERY DIGESTS"* && $out == *"RESET QUERY DIGESTS"* ]] && echo 1 || echo 0)" ""

# ---- RESET -------------------------------------------------------------------------
out=$(ok -e "RESET QUERY DIGESTS")
check "RESET QUERY DIGESTS: OK" "$([[ -z $out ]] && echo 1 || echo 0)" "$out"
q -e "SELECT 42 AS x" >/dev/null
out=$(ok -N -e "SHOW QUERY DIGESTS")
check "after RESET only what ran since" "$([[ $(cut -f 2,3 <<<"$out") == "SELECT ? AS x	1" ]] && echo 1 || echo 0)" \
	"$(tr '\n' '|' <<<"$out")"

# ---- [digests] max = 0 -------------------------------------------------------------
lab_acctgate_stop "$ag"
conf 0
start
q -e "SELECT 1" >/dev/null
out=$(ok -e "SHOW QUERY DIGESTS")
check "[digests] max = 0: SHOW QUERY DIGESTS answers ERR" "$(has "$out" "no digests are kept ([digests] max = 0)")" "$out"

((failures)) && log_since "$ag/acctgate.log"
echo "$failures check(s) failed"
((failures == 0))
