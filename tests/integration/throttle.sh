#!/usr/bin/env bash
# throttle.sh LABDIR CLIENT_BIN CONTENTION_BIN - contention control's
# admission ([throttle], proxy/throttle.h) against the fixture's MariaDB,
# through acctgates of the test's own:
#   - the contention harness (tests/contention) direct and through acctgate
#     with the default (Slurm) classes, same seed: direct, deadlocks reach
#     the clients and acknowledged transactions lose effects; through
#     acctgate, none and none (the throughput of both is printed, not
#     judged: bench/contention.sh measures);
#   - a client idle inside its heavy transaction does not stall another
#     cluster's heavy transaction: the slot goes after idle_release, with a
#     log line, and the idle one's transaction still commits;
#   - a heavy transaction that waits longer than queue_timeout gets ERR
#     1105 naming the throttle (not a disconnect, not 1205), and its
#     session goes on;
#   - a session holding row locks is never queued behind one that waits
#     for them: its heavy statement inside its transaction goes at once
#     (counted unadmitted) while the slot holder waits for its lock; both
#     commit;
#   - SHOW THROTTLE on the admin port: the classes, the clusters, the waits;
#   - a digest slower than promote_p95_ms is promoted to bulk;
#   - a cluster over cluster_rate waits in order, another does not; past
#     the queue timeout the statement gets ERR 1105 naming the rate;
#   - two acctgates in front of the one server share the slots (named
#     locks): a heavy transaction on the second waits while the first
#     holds the slot; when the first one's coordination connection is
#     killed on the server, the log says the limits hold per acctgate only,
#     the waiter goes on, and coordination comes back by itself;
#   - the harness through one acctgate per cluster (two, coordinated,
#     default classes): no deadlock, nothing lost.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
bin=${3:?usage: $0 LABDIR CLIENT_BIN CONTENTION_BIN}
[[ $MODE == direct ]] && { echo "SKIP: the throttle is acctgate's"; exit 77; }
d=$lab/throttle
rm -rf "$d" && mkdir -p "$d"
pw=$d/admin.pw
printf '%s\n' "$LAB_DB_PASS" >"$pw"
chmod 600 "$pw"
ag=$d/ag
port=$(lab_free_port $((DB_PORT + 700)))
adm_port=$(lab_free_port $((port + 1)))
ag2=$d/ag2
port2=$(lab_free_port $((adm_port + 1)))
trap 'sess_close_all; lab_acctgate_stop "$ag"; lab_acctgate_stop "$ag2"' EXIT
direct() { lab_mariadb_sql "$DB_DIR" -B -N -e "$1" 2>&1; }
admin() { mariadb -h 127.0.0.1 -P "$adm_port" -u admin -p"$LAB_DB_PASS" --skip-ssl -B -N -e "$1" 2>&1; }

# start [throttle keys...]: (re)start acctgate with the fixture's settings
# and these [throttle] keys.
start() {
	lab_acctgate_stop "$ag"
	lab_acctgate_conf "$ag/acctgate.conf" "$port" "127.0.0.1:$DB_PORT" "$CERTS" threads=2
	{
		printf '[admin]\nlisten = 127.0.0.1:%s\nuser = admin\npassword_file = %s\nclient_tls = disabled\n' \
			"$adm_port" "$pw"
		printf '[throttle]\n'
		printf '%s\n' "$@"
	} >>"$ag/acctgate.conf"
	rm -f "$ag/acctgate.log"
	lab_acctgate_start "$ag" "$ag/acctgate.conf"
}

# ---- the harness, direct and through acctgate's default classes ---------------------
kv() { sed -nE "s/.* $2=([^ ]*).*/\1/p" <<<"$1"; }
start || exit 1
seed=${CONTENTION_SEED:-$RANDOM}
for target in direct acctgate; do
	p=$DB_PORT
	[[ $target == acctgate ]] && p=$port
	"$bin" --host 127.0.0.1 --port "$p" --user "$LAB_DB_USER" --password "$LAB_DB_PASS" --ssl-ca "$CERTS/ca.pem" \
		--database "acct_throttle_$target" --seconds "${CONTENTION_SECONDS:-4}" --seed "$seed" \
		>"$d/harness-$target.out" 2>"$d/harness-$target.err"
	line=$(grep '^contention:' "$d/harness-$target.out")
	echo "$target (seed $seed): ${line:-no summary: $(head -n 3 "$d/harness-$target.err")}"
	declare "line_$target=$line"
done
check "direct: deadlocks reach the clients and acknowledged transactions lose effects" \
	"$(($(kv "$line_direct" err_1213) > 0 && $(kv "$line_direct" lost) > 0))" \
	"err_1213=$(kv "$line_direct" err_1213) lost=$(kv "$line_direct" lost)"
check "through acctgate: no deadlock reaches a client, no transaction loses anything" \
	"$([[ -n $line_acctgate && $(kv "$line_acctgate" err_1213) == 0 && $(kv "$line_acctgate" lost) == 0 &&
		$(kv "$line_acctgate" mismatch) == 0 && $(kv "$line_acctgate" phantom) == 0 &&
		$(kv "$line_acctgate" err_other) == 0 ]] && echo 1 || echo 0)" \
	"err_1213=$(kv "$line_acctgate" err_1213) lost=$(kv "$line_acctgate" lost) err_other=$(kv "$line_acctgate" err_other)"
echo "INFO throughput: direct $(kv "$line_direct" tps) tps, through acctgate $(kv "$line_acctgate" tps) tps"

# ---- the sessions' tables: two clusters (databases), heavy tables, a hot row ------------
for db in thr_x thr_y; do
	direct "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db;
		CREATE TABLE $db.heavy_a (id INT PRIMARY KEY) ENGINE=InnoDB;
		CREATE TABLE $db.hot (id INT PRIMARY KEY, v INT) ENGINE=InnoDB; INSERT INTO $db.hot VALUES (1, 0)" >/dev/null
done
heavy='heavy = INSERT INTO heavy_a *'

# ---- an idle client does not stall another cluster -------------------------------------
start heavy_limit=1 "$heavy" bulk_limit=0 queue_timeout=20s idle_release=1s || exit 1
sess_open idle "$port" --ssl-ca="$CERTS/ca.pem"
sess_send idle "USE thr_x"
sess_send idle "BEGIN"
sess_send idle "INSERT INTO heavy_a VALUES (1)"
sess_send idle "SELECT 'idle holds the slot'"
sess_wait idle 1 >/dev/null
t0=$(lab_now_ms)
out=$(mariadb -h 127.0.0.1 -P "$port" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --ssl-ca="$CERTS/ca.pem" -B -N thr_y \
	-e "INSERT INTO heavy_a VALUES (2); SELECT 'other cluster done'" 2>&1)
ms=$(($(lab_now_ms) - t0))
check "another cluster's heavy transaction runs once the idle one's slot is released (idle_release 1 s)" \
	"$([[ $out == "other cluster done" && $ms -lt 8000 ]] && echo 1 || echo 0)" "$out after $ms ms"
check "the log says whose slot went and why" \
	"$(grep -q 'left its heavy transaction idle for 1000 ms: its slot goes to the next' "$ag/acctgate.log" && echo 1 || echo 0)" \
	"$(grep -m1 'idle for' "$ag/acctgate.log" | cut -c1-160)"
sess_send idle "COMMIT"
sess_send idle "SELECT COUNT(*) FROM heavy_a"
last=$(sess_wait idle 2)
check "the idle client's transaction commits afterwards" "$([[ $last == 1 ]] && echo 1 || echo 0)" "$last"
sess_close_all

# ---- a wait longer than queue_timeout: ERR 1105, the session goes on -----------------------
start heavy_limit=1 "$heavy" bulk_limit=0 queue_timeout=1s idle_release=0 || exit 1
sess_open holder "$port" --ssl-ca="$CERTS/ca.pem"
sess_send holder "USE thr_x"
sess_send holder "BEGIN"
sess_send holder "INSERT INTO heavy_a VALUES (10)"
sess_send holder "SELECT 'holding'"
sess_wait holder 1 >/dev/null
out=$(printf "INSERT INTO heavy_a VALUES (11);\nSELECT 'session goes on';\n" |
	mariadb -h 127.0.0.1 -P "$port" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --ssl-ca="$CERTS/ca.pem" -f -B -N thr_y 2>&1)
check "a wait past queue_timeout: ERR 1105 naming the throttle, and the session goes on" \
	"$([[ $out == *"ERROR 1105"*"waited 1 s for a heavy-transaction slot"* && $out == *"session goes on"* ]] && echo 1 || echo 0)" \
	"$(tr '\n' ' ' <<<"$out")"
check "the timed-out statement did not run" "$([[ $(direct "SELECT COUNT(*) FROM thr_y.heavy_a WHERE id = 11") == 0 ]] && echo 1 || echo 0)" \
	"$(direct "SELECT COUNT(*) FROM thr_y.heavy_a WHERE id = 11") rows"
sess_send holder "ROLLBACK"
sess_wait holder 1 >/dev/null
sess_close_all

# ---- a lock holder is never queued behind a waiter for its lock -------------------------
# locker (cluster x) holds thr_x.hot's row; slotter (cluster y) takes the
# heavy slot, then waits for that row (cross-database); locker then sends a
# heavy statement inside its transaction: queued behind slotter it would
# wait for ever (here: the 1 s queue timeout); it must go at once.
direct "DELETE FROM thr_x.heavy_a; DELETE FROM thr_y.heavy_a" >/dev/null
sess_open locker "$port" --ssl-ca="$CERTS/ca.pem"
sess_send locker "USE thr_x"
sess_send locker "BEGIN"
sess_send locker "UPDATE hot SET v = v + 1 WHERE id = 1"
sess_send locker "SELECT 'locked'"
sess_wait locker 1 >/dev/null
sess_open slotter "$port" --ssl-ca="$CERTS/ca.pem"
sess_send slotter "USE thr_y"
sess_send slotter "BEGIN"
sess_send slotter "INSERT INTO heavy_a VALUES (20)"
sess_send slotter "UPDATE thr_x.hot SET v = v + 10 WHERE id = 1"
sess_send slotter "COMMIT"
sess_send slotter "SELECT 'slotter done'"
sleep 0.5
sess_send locker "INSERT INTO heavy_a VALUES (21)"
sess_send locker "COMMIT"
sess_send locker "SELECT 'locker done'"
l=$(sess_wait locker 2)
s=$(sess_wait slotter 1)
check "the lock holder's heavy statement is not queued; both transactions commit" \
	"$([[ $l == "locker done" && $s == "slotter done" && $(direct "SELECT v FROM thr_x.hot") == 11 ]] && echo 1 || echo 0)" \
	"locker: $(tr '\n' ' ' <"$sess_dir/locker.out"); slotter: $(tr '\n' ' ' <"$sess_dir/slotter.out"); hot.v=$(direct "SELECT v FROM thr_x.hot")"
status=$(admin "SHOW STATUS")
check "SHOW STATUS counts it: throttle_unadmitted" \
	"$([[ $(awk '$1 == "throttle_unadmitted" { print $2 }' <<<"$status") -ge 1 ]] && echo 1 || echo 0)" \
	"$(grep throttle <<<"$status" | tr '\n' ' ')"
sess_close_all

# ---- SHOW THROTTLE -------------------------------------------------------------------
out=$(admin "SHOW THROTTLE")
echo "$out" | sed 's/^/  | /'
check "SHOW THROTTLE: each class, then each cluster that used it" \
	"$([[ $(grep -c $'^heavy\t\*\t1\t' <<<"$out") == 1 && $(grep -c $'^bulk\t\*\t0\t' <<<"$out") == 1 &&
		$out == *$'heavy\t'"$LAB_DB_USER@thr_y"* && $out == *$'heavy\t'"$LAB_DB_USER@thr_x"* ]] && echo 1 || echo 0)" \
	"$(wc -l <<<"$out") rows"
check "SHOW THROTTLE: a wait and a timeout are counted" \
	"$([[ $(awk -F'\t' '$1 == "heavy" && $2 == "*" { print ($7 >= 1 && $8 >= 0) }' <<<"$out") == 1 ]] && echo 1 || echo 0)" \
	"$(grep $'^heavy\t\*' <<<"$out")"
# ---- a slow digest is promoted to bulk ---------------------------------------------------
# promote_p95_ms = 50: after 5 runs of SELECT SLEEP(0.08) (p95 80 ms) in
# one session, the next one is bulk: it takes a slot, and the log says so
# once.
start heavy_limit=0 bulk_limit=1 promote_p95_ms=50 || exit 1
sleeps=$(printf 'SELECT SLEEP(0.08);%.0s' 1 2 3 4 5 6 7 8)
mariadb -h 127.0.0.1 -P "$port" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --ssl-ca="$CERTS/ca.pem" -B -N thr_x \
	-e "$sleeps" >/dev/null 2>&1
promoted=$(admin "SHOW STATUS" | awk '$1 == "throttle_promoted" { print $2 }')
bulk=$(admin "SHOW THROTTLE" | awk -F'\t' '$1 == "bulk" && $2 == "*" { print $6 }')
check "a digest whose p95 passed promote_p95_ms is bulk: it took a slot, SHOW STATUS counts it, the log says once" \
	"$([[ ${promoted:-0} -ge 1 && ${bulk:-0} -ge 1 && $(grep -c 'digest promoted to bulk.*SELECT SLEEP' "$ag/acctgate.log") == 1 ]] && echo 1 || echo 0)" \
	"promoted ${promoted:-?}, bulk admitted ${bulk:-?}, $(grep -c 'promoted to bulk' "$ag/acctgate.log") log line(s)"

# ---- a cluster's rate -------------------------------------------------------------------
# cluster_rate = 5, burst 1, queue_timeout 1 s: thr_x's ten autocommit
# statements in one session start at the rate (the later ones wait, none
# is refused) while thr_y's one, meanwhile, starts at once; then 20
# sessions of thr_x at once: those that would wait past the queue timeout
# get the ERR naming the rate, the others run.
start heavy_limit=0 bulk_limit=0 cluster_rate=5 cluster_burst=1 queue_timeout=1s || exit 1
q() { mariadb -h 127.0.0.1 -P "$port" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --ssl-ca="$CERTS/ca.pem" -B -N "$@" 2>&1; }
selects=$(printf 'SELECT 1;%.0s' 1 2 3 4 5 6 7 8 9 10)
q thr_x -e "$selects" >"$d/rate-x.out" &
sleep 0.3
q thr_y -e "SELECT 'y'" >"$d/rate-y.out"
wait
xw=$(admin "SHOW THROTTLE" | awk -F'\t' -v c="$LAB_DB_USER@thr_x" '$1 == "rate" && $2 == c { print $7 }')
xt=$(admin "SHOW THROTTLE" | awk -F'\t' -v c="$LAB_DB_USER@thr_x" '$1 == "rate" && $2 == c { print $8 }')
yw=$(admin "SHOW THROTTLE" | awk -F'\t' -v c="$LAB_DB_USER@thr_y" '$1 == "rate" && $2 == c { print $7 }')
check "a cluster over its rate waits, in order, none refused; another cluster does not wait" \
	"$([[ $(grep -c '^1$' "$d/rate-x.out") == 10 && $(grep -c '^y$' "$d/rate-y.out") == 1 && ${xw:-0} -ge 8 &&
		${xt:-1} == 0 && ${yw:-1} == 0 ]] && echo 1 || echo 0)" \
	"thr_x: $(grep -c '^1$' "$d/rate-x.out") of 10 ran, ${xw:-?} waited, ${xt:-?} refused; thr_y: ${yw:-?} waited"
for i in $(seq 1 20); do
	q thr_x -e "SELECT 'ran'" >"$d/rate-burst-$i.out" &
done
wait
ran=$(cat "$d"/rate-burst-*.out | grep -c '^ran$')
refused=$(grep -l "ERROR 1105.*cluster $LAB_DB_USER@thr_x is over its rate" "$d"/rate-burst-*.out | wc -l)
check "past the queue timeout: ERR 1105 naming the rate, the others ran" \
	"$([[ $refused -ge 1 && $ran -ge 1 && $((ran + refused)) -ge 20 ]] && echo 1 || echo 0)" \
	"$ran ran, $refused refused: $(grep -h 'ERROR' "$d"/rate-burst-*.out | head -n 1)"

# ---- two acctgates share the slots through the server ---------------------------------
# conf DIR PORT ADMIN_PORT: an instance with [snapshot] user (its own
# account, which holds the named locks) and the test's heavy class.
conf() {
	lab_acctgate_conf "$1/acctgate.conf" "$2" "127.0.0.1:$DB_PORT" "$CERTS" threads=2
	{
		printf '[snapshot]\nuser = %s\npassword_file = %s\n' "$LAB_DB_USER" "$pw"
		printf '[admin]\nlisten = 127.0.0.1:%s\nuser = admin\npassword_file = %s\nclient_tls = disabled\n' "$3" "$pw"
		printf '[throttle]\nheavy_limit = 1\n%s\nbulk_limit = 0\nqueue_timeout = 30s\nidle_release = 0\n' "$heavy"
	} >>"$1/acctgate.conf"
	[[ -f $1/acctgate.log ]] && mv "$1/acctgate.log" "$1/acctgate.log.$(date +%s%N)"
}
lab_acctgate_stop "$ag"
conf "$ag" "$port" "$adm_port"
conf "$ag2" "$port2" "$(lab_free_port $((port2 + 1)))"
lab_acctgate_start "$ag" "$ag/acctgate.conf" && lab_acctgate_start "$ag2" "$ag2/acctgate.conf" || exit 1
direct "DELETE FROM thr_x.heavy_a; DELETE FROM thr_y.heavy_a" >/dev/null
sess_open first "$port" --ssl-ca="$CERTS/ca.pem"
sess_send first "USE thr_x"
sess_send first "BEGIN"
sess_send first "INSERT INTO heavy_a VALUES (40)"
sess_send first "SELECT 'first holds'"
sess_wait first 1 >/dev/null
mariadb -h 127.0.0.1 -P "$port2" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --ssl-ca="$CERTS/ca.pem" -B -N thr_y \
	-e "INSERT INTO heavy_a VALUES (41); SELECT 'second done'" >"$d/second.out" 2>&1 &
second=$!
sleep 1.5
check "a heavy transaction through the second acctgate waits while the first acctgate's holds the shared slot" \
	"$([[ ! -s $d/second.out && $(direct "SELECT COUNT(*) FROM thr_y.heavy_a") == 0 ]] && echo 1 || echo 0)" \
	"$(cat "$d/second.out")"
status=$(admin "SHOW STATUS")
check "SHOW STATUS: throttle_coordination on" \
	"$([[ $(awk '$1 == "throttle_coordination" { print $2 }' <<<"$status") == on ]] && echo 1 || echo 0)" \
	"$(grep throttle_coordination <<<"$status")"
holder=$(direct "SELECT IS_USED_LOCK('acctgate.heavy.0')")
direct "KILL $holder" >/dev/null
wait "$second"
for i in $(seq 30); do
	grep -q 'coordination through the server is unavailable' "$ag/acctgate.log" && break
	sleep 0.1
done
check "its coordination connection killed, the first acctgate says the limits hold per acctgate only, and the waiter goes on" \
	"$([[ $(cat "$d/second.out") == "second done" ]] &&
		grep -q 'coordination through the server is unavailable' "$ag/acctgate.log" && echo 1 || echo 0)" \
	"holder connection $holder; second: $(cat "$d/second.out"); $(grep -m1 'coordination through' "$ag/acctgate.log" | cut -c1-200)"
sess_send first "COMMIT"
sess_send first "SELECT 'first done'"
sess_wait first 2 >/dev/null
for i in $(seq 80); do
	grep -q 'coordination through the server is back' "$ag/acctgate.log" && break
	sleep 0.1
done
check "coordination comes back by itself" \
	"$(grep -q 'coordination through the server is back' "$ag/acctgate.log" && echo 1 || echo 0)" \
	"$(grep 'coordination' "$ag/acctgate.log" | tail -n 1 | cut -c1-160)"
sess_close_all

# ---- one acctgate per cluster (two here), the default classes, coordinated ----------------
heavy='' # conf's heavy line: empty = the defaults
for a in "$ag" "$ag2"; do lab_acctgate_stop "$a"; done
conf "$ag" "$port" "$adm_port"
conf "$ag2" "$port2" "$(lab_free_port $((port2 + 1)))"
lab_acctgate_start "$ag" "$ag/acctgate.conf" && lab_acctgate_start "$ag2" "$ag2/acctgate.conf" || exit 1
"$bin" --host 127.0.0.1 --port "$DB_PORT" --cluster-ports "$port,$port2,$port,$port2" --user "$LAB_DB_USER" \
	--password "$LAB_DB_PASS" --ssl-ca "$CERTS/ca.pem" --database acct_throttle_per_cluster \
	--seconds "${CONTENTION_SECONDS:-4}" --seed "$seed" >"$d/harness-per-cluster.out" 2>"$d/harness-per-cluster.err"
line=$(grep '^contention:' "$d/harness-per-cluster.out")
echo "per-cluster acctgates (seed $seed): ${line:-no summary: $(head -n 3 "$d/harness-per-cluster.err")}"
check "one acctgate per cluster, coordinated: no deadlock reaches a client, no transaction loses anything" \
	"$([[ -n $line && $(kv "$line" err_1213) == 0 && $(kv "$line" lost) == 0 && $(kv "$line" mismatch) == 0 &&
		$(kv "$line" err_other) == 0 ]] && echo 1 || echo 0)" \
	"err_1213=$(kv "$line" err_1213) lost=$(kv "$line" lost) err_other=$(kv "$line" err_other) tps=$(kv "$line" tps)"
((failures)) && { log_since "$ag/acctgate.log"; log_since "$ag2/acctgate.log"; }
((failures == 0))
