#!/usr/bin/env bash
# replay.sh LABDIR CLIENT_BIN CONTENTION_BIN - deadlocks and lock wait
# timeouts the client never sees (proxy/redo.c), through an acctgate of the
# test's own with the throttle off, so that InnoDB deadlocks for real:
#   - two sessions deadlock on each other: the victim's transaction runs
#     again, neither client sees an error, both commit, the table holds
#     both transactions whole; SHOW STATUS counts the replay, the log says;
#   - a transaction that read UUID() deadlocks: the read comes out
#     different on the replay, so the client gets the 1213 and nothing of
#     its transaction is left;
#   - a transaction that assigned a user variable before reading it
#     deadlocks: replayed, the variable as the client set it; one that
#     reads a variable it assigned again deadlocks: not replayed (a
#     rollback keeps the variable), the client gets the 1213, the log says
#     why;
#   - a lock wait timeout (1205) inside a transaction that stays open: the
#     statement goes again until the lock holder commits, the client sees
#     no error; on a server of the test's own with innodb_rollback_on_timeout
#     the transaction runs again whole;
#   - the contention harness direct and through acctgate, same seed: no
#     write of a replayed transaction is applied twice (phantom 0, mismatch
#     0), and every acknowledged transaction that lost effects is one whose
#     deadlock reached its client.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
bin=${3:?usage: $0 LABDIR CLIENT_BIN CONTENTION_BIN}
[[ $MODE == direct ]] && { echo "SKIP: the replay is acctgate's"; exit 77; }
d=$lab/replay
rm -rf "$d" && mkdir -p "$d"
pw=$d/admin.pw
printf '%s\n' "$LAB_DB_PASS" >"$pw"
chmod 600 "$pw"
ag=$d/ag
port=$(lab_free_port $((DB_PORT + 750)))
adm_port=$(lab_free_port $((port + 1)))
trap 'sess_close_all; lab_acctgate_stop "$ag"' EXIT
# A client that got its error exits; what is still sent to it must not
# kill the script.
trap '' PIPE
direct() { lab_mariadb_sql "$DB_DIR" -B -N -e "$1" 2>&1; }
admin() { mariadb -h 127.0.0.1 -P "$adm_port" -u admin -p"$LAB_DB_PASS" --skip-ssl -B -N -e "$1" 2>&1; }
status_of() { admin "SHOW STATUS" | awk -v k="$1" '$1 == k { print $2 }'; }
count_log() { grep -cE "$1" "$ag/acctgate.log"; }

lab_acctgate_conf "$ag/acctgate.conf" "$port" "127.0.0.1:$DB_PORT" "$CERTS" threads=2
printf '[admin]\nlisten = 127.0.0.1:%s\nuser = admin\npassword_file = %s\nclient_tls = disabled\n' \
	"$adm_port" "$pw" >>"$ag/acctgate.conf"
# No admission: the deadlocks happen in InnoDB, as with writers that take
# no slot.
printf '[throttle]\nheavy_limit = 0\nbulk_limit = 0\n' >>"$ag/acctgate.conf"
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1

t=acctgate_replay.t
reset_table() {
	direct "DROP DATABASE IF EXISTS acctgate_replay; CREATE DATABASE acctgate_replay;
		CREATE TABLE $t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB;
		INSERT INTO $t VALUES (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0)" >/dev/null
}
values() { direct "SELECT GROUP_CONCAT(v ORDER BY id) FROM $t"; }
open_pair() {
	sess_close_all
	sess_open a "$port" --ssl-ca="$CERTS/ca.pem"
	sess_open b "$port" --ssl-ca="$CERTS/ca.pem"
	sess_send a "SET autocommit=0"
	sess_send b "SET autocommit=0"
}
# deadlock LINES B_FIRST...: A takes row 1, B row 2 (after B_FIRST, which
# print LINES lines), then each wants the other's: one of them is InnoDB's
# victim.
deadlock() {
	local lines=$1
	shift
	sess_send a "UPDATE $t SET v = v + 1 WHERE id = 1"
	sess_send a "SELECT 'a1'"
	for stmt in "$@"; do sess_send b "$stmt"; done
	sess_send b "UPDATE $t SET v = v + 10 WHERE id = 2"
	sess_send b "SELECT 'b1'"
	sess_wait a 1 >/dev/null
	sess_wait b $((lines + 1)) >/dev/null
	sess_send a "UPDATE $t SET v = v + 1 WHERE id = 2"
	sleep 0.3
	sess_send b "UPDATE $t SET v = v + 10 WHERE id = 1"
	sess_send a "SELECT 'a2'"
	sess_send a "COMMIT"
	sess_send b "SELECT 'b2'"
	sess_send b "COMMIT"
}

# ---- a deadlock neither client sees ----------------------------------------------------
reset_table
open_pair
deadlock 1 "SELECT v FROM $t WHERE id = 3"
sess_wait a 2 >/dev/null
sess_wait b 3 >/dev/null
out_a=$(tr '\n' ' ' <"$sess_dir/a.out") out_b=$(tr '\n' ' ' <"$sess_dir/b.out")
check "a deadlock: neither client sees an error" \
	"$([[ $out_a == "a1 a2 " && $out_b == "0 b1 b2 " ]] && echo 1 || echo 0)" "a: $out_a b: $out_b"
check "... both transactions committed whole (rows 1 and 2: 1 + 10 each)" \
	"$([[ $(values) == 11,11,0,0,0,0,0 ]] && echo 1 || echo 0)" "$(values)"
check "... SHOW STATUS counts the replay, the log says what ran again" \
	"$([[ $(status_of replays) -ge 1 && $(count_log 'deadlock \(1213\) in transaction [0-9]+: its [0-9]+ earlier command\(s\) ran again with the results the client had; the failed COM_QUERY goes again \(attempt 1\)') -ge 1 ]] && echo 1 || echo 0)" \
	"replays $(status_of replays); $(grep -m1 'ran again' "$ag/acctgate.log" | cut -c1-200)"

# ---- a read that comes out different: the client gets the deadlock ---------------------
# B reads UUID(), different on every run: if B is the victim, its replay
# cannot match and B gets the 1213; if A is, A's replay matches. Either way
# the table holds exactly what was acknowledged.
reset_table
open_pair
failed_before=$(status_of replays_failed)
deadlock 2 "SELECT UUID() IS NOT NULL AND LENGTH(UUID()) = 36" "SELECT UUID()"
sess_wait a 2 >/dev/null
sess_wait b 4 >/dev/null
sleep 0.5
out_a=$(tr '\n' ' ' <"$sess_dir/a.out") out_b=$(tr '\n' ' ' <"$sess_dir/b.out")
if [[ $out_b == *"ERROR 1213"* ]]; then
	check "a deadlock after a read that differs on the replay: the client gets the 1213, its transaction is gone" \
		"$([[ $out_a == "a1 a2 " && $(values) == 1,1,0,0,0,0,0 &&
			$(status_of replays_failed) -gt $failed_before &&
			$(count_log 'not run again \(command 2 of 5 answered otherwise than the client was told') -ge 1 ]] && echo 1 || echo 0)" \
		"a: $out_a b: $out_b values $(values)"
else
	check "a deadlock whose victim read nothing different: replayed, both committed whole" \
		"$([[ $out_a == "a1 a2 " && $out_b == *" b1 b2 " && $(values) == 11,11,0,0,0,0,0 ]] && echo 1 || echo 0)" \
		"a: $out_a b: $out_b values $(values)"
fi

# ---- user variables: assigned before they are read, replayed; else not -----------------
# A heavier (more rows locked) than B: InnoDB makes B the victim.
reset_table
open_pair
replays_before=$(status_of replays)
sess_send a "UPDATE $t SET v = v + 1 WHERE id IN (4, 5, 6)"
deadlock 0 "BEGIN" "SET @n = 10"
sess_send b "SELECT @n"
sess_wait a 2 >/dev/null
sess_wait b 3 >/dev/null
out_a=$(tr '\n' ' ' <"$sess_dir/a.out") out_b=$(tr '\n' ' ' <"$sess_dir/b.out")
check "a deadlock in a transaction that set a user variable before reading it: replayed, no error, the variable kept" \
	"$([[ $out_a == "a1 a2 " && $out_b == "b1 b2 10 " && $(values) == 11,11,0,1,1,1,0 &&
		$(status_of replays) -gt $replays_before ]] && echo 1 || echo 0)" \
	"a: $out_a b: $out_b values $(values) replays $(status_of replays)"

reset_table
open_pair
refused_before=$(status_of replays_refused)
sess_send a "UPDATE $t SET v = v + 1 WHERE id IN (4, 5, 6)"
deadlock 1 "BEGIN" "SET @n = 0" "SELECT @n := @n + 1"
sess_wait a 2 >/dev/null
sess_wait b 2 >/dev/null
sleep 0.5
out_a=$(tr '\n' ' ' <"$sess_dir/a.out") out_b=$(tr '\n' ' ' <"$sess_dir/b.out")
check "a deadlock in a transaction that assigned a user variable twice: the client gets the 1213, the log says why" \
	"$([[ $out_b == *"ERROR 1213"* && $out_a == "a1 a2 " && $(values) == 1,1,0,1,1,1,0 &&
		$(status_of replays_refused) -gt $refused_before &&
		$(count_log 'goes to the client: a user variable assigned after an earlier statement') -ge 1 ]] && echo 1 || echo 0)" \
	"a: $out_a b: $out_b values $(values)"

# ---- a lock wait timeout: the statement goes again ---------------------------------------
reset_table
open_pair
retries_before=$(status_of replay_retries)
sess_send a "UPDATE $t SET v = v + 1 WHERE id = 6"
sess_send a "SELECT 'a holds 6'"
sess_wait a 1 >/dev/null
sess_send b "SET innodb_lock_wait_timeout = 1"
sess_send b "UPDATE $t SET v = v + 100 WHERE id = 7"
sess_send b "UPDATE $t SET v = v + 10 WHERE id = 6"
sess_send b "SELECT 'b done'"
sleep 2.5
sess_send a "COMMIT"
sess_send b "COMMIT"
sess_wait b 1 >/dev/null
out_b=$(tr '\n' ' ' <"$sess_dir/b.out")
check "a lock wait timeout inside an open transaction: the statement went again, the client saw no error" \
	"$([[ $out_b == "b done " && $(values) == 0,0,0,0,0,11,100 && $(status_of replay_retries) -gt $retries_before &&
		$(count_log 'lock wait timeout \(1205\) in transaction [0-9]+, which stays open: the failed COM_QUERY goes again') -ge 1 ]] && echo 1 || echo 0)" \
	"b: $out_b values $(values) retries $(status_of replay_retries)"
sess_close_all

# ---- a lock wait timeout on a server that rolls the transaction back ----------------------
# innodb_rollback_on_timeout = ON: the 1205 took the whole transaction, so
# it runs again as after a deadlock (B's earlier UPDATE of row 7 too).
rdb=$d/rollback-db
rport=$(lab_free_port $((adm_port + 1)))
LAB_MARIADB_EXTRA="innodb_rollback_on_timeout=ON" lab_mariadb_start "$rdb" "$rport" "$CERTS" server || exit 1
trap 'sess_close_all; lab_acctgate_stop "$ag"; lab_mariadb_stop "$rdb"' EXIT
lab_acctgate_stop "$ag"
sed -i "s/^servers = .*/servers = 127.0.0.1:$rport/" "$ag/acctgate.conf"
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
direct() { lab_mariadb_sql "$rdb" -B -N -e "$1" 2>&1; }
reset_table
open_pair
replays_before=$(status_of replays)
sess_send a "UPDATE $t SET v = v + 1 WHERE id = 6"
sess_send a "SELECT 'a holds 6'"
sess_wait a 1 >/dev/null
sess_send b "SET innodb_lock_wait_timeout = 1"
sess_send b "UPDATE $t SET v = v + 100 WHERE id = 7"
sess_send b "UPDATE $t SET v = v + 10 WHERE id = 6"
sess_send b "SELECT 'b done'"
sleep 2.5
sess_send a "COMMIT"
sess_send b "COMMIT"
sess_wait b 1 >/dev/null
out_b=$(tr '\n' ' ' <"$sess_dir/b.out")
check "a lock wait timeout that rolled the transaction back (innodb_rollback_on_timeout): run again whole, nothing lost" \
	"$([[ $out_b == "b done " && $(values) == 0,0,0,0,0,11,100 && $(status_of replays) -gt $replays_before &&
		$(count_log 'lock wait timeout \(1205\) in transaction [0-9]+: its [0-9]+ earlier command\(s\) ran again') -ge 1 ]] && echo 1 || echo 0)" \
	"b: $out_b values $(values) replays $(status_of replays)"
sess_close_all
lab_acctgate_stop "$ag"
lab_mariadb_stop "$rdb"
sed -i "s/^servers = .*/servers = 127.0.0.1:$DB_PORT/" "$ag/acctgate.conf"
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
direct() { lab_mariadb_sql "$DB_DIR" -B -N -e "$1" 2>&1; }

# ---- the contention harness, direct and through acctgate ----------------------------------
kv() { sed -nE "s/.* $2=([^ ]*).*/\1/p" <<<"$1"; }
seed=${CONTENTION_SEED:-$RANDOM}
for target in direct acctgate; do
	p=$DB_PORT
	[[ $target == acctgate ]] && p=$port
	"$bin" --host 127.0.0.1 --port "$p" --user "$LAB_DB_USER" --password "$LAB_DB_PASS" --ssl-ca "$CERTS/ca.pem" \
		--database "acct_replay_$target" --seconds "${CONTENTION_SECONDS:-4}" --seed "$seed" \
		>"$d/harness-$target.out" 2>"$d/harness-$target.err"
	line=$(grep '^contention:' "$d/harness-$target.out")
	echo "$target (seed $seed): ${line:-no summary: $(head -n 3 "$d/harness-$target.err")}"
	declare "line_$target=$line"
done
echo "INFO replays $(status_of replays), failed $(status_of replays_failed), refused $(status_of replays_refused)"
check "through acctgate without admission: transactions were replayed" \
	"$([[ $(status_of replays) -gt 1 ]] && echo 1 || echo 0)" "replays $(status_of replays)"
check "... no write applied twice, every loss explained by an error the client saw (phantom 0, mismatch 0)" \
	"$([[ -n $line_acctgate && $(kv "$line_acctgate" phantom) == 0 && $(kv "$line_acctgate" mismatch) == 0 &&
		$(kv "$line_acctgate" lost) -le $(kv "$line_acctgate" err_1213) ]] && echo 1 || echo 0)" \
	"$line_acctgate"
check "... fewer deadlocks reach the clients than direct" \
	"$([[ $(kv "$line_acctgate" err_1213) -lt $(kv "$line_direct" err_1213) ]] && echo 1 || echo 0)" \
	"direct $(kv "$line_direct" err_1213), through acctgate $(kv "$line_acctgate" err_1213)"
((failures)) && log_since "$ag/acctgate.log"
((failures == 0))
