#!/usr/bin/env bash
# upstream_reorder.sh LABDIR CLIENT_BIN - a reload that reorders [upstream]
# servers must not make a running session's news land on the wrong server.
# A session keeps the configuration it started with, so its index 0 is the
# first server of the old list; the pool knows servers by name.
#   servers = SILENT, DB: SILENT (bad_peer.py silent) accepts and never
#   greets, DB is the lab's MariaDB. A session starts and waits on SILENT's
#   greeting (handshake_timeout 3 s); meanwhile SIGHUP reloads
#   servers = DB, SILENT. When the session gives SILENT up (its ERR names
#   SILENT: a server that connected is not failed over from):
#   - the log marks SILENT down, never DB;
#   - a new session (new order: DB first, and DB is not in backoff) is
#     answered by DB at once, without a detour through SILENT's 3 s.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: upstream health is acctgate's"; exit 77; }
d=$lab/ag-reorder peer=$lab/peer-reorder
s1_pid=""
cleanup() {
	[[ -n $s1_pid ]] && kill "$s1_pid" 2>/dev/null
	lab_acctgate_stop "$d"
	lab_kill_pidfile "$peer/bad_peer.pid" bad_peer 5
}
trap cleanup EXIT
mkdir -p "$d" "$peer"
rm -f "$d/acctgate.log" "$peer/bad_peer.pid"

sp=$(lab_free_port $((DB_PORT + 120)))
/usr/bin/python3 "$here/bad_peer.py" server --port "$sp" --case silent --pidfile "$peer/bad_peer.pid" \
	>>"$peer/bad_peer.log" 2>&1 &
disown
deadline=$((SECONDS + 10))
until [[ -s $peer/bad_peer.pid ]] && (exec 3<>"/dev/tcp/127.0.0.1/$sp") 2>/dev/null; do
	((SECONDS < deadline)) || { echo "FAIL bad_peer.py silent did not start"; exit 1; }
	sleep 0.05
done
silent="127.0.0.1:$sp" db="127.0.0.1:$DB_PORT"
ap=$(lab_free_port $((TARGET_PORT + 180)))
conf() { # conf SERVERS
	lab_acctgate_conf "$d/acctgate.conf" "$ap" "$1" "$CERTS" tls=verify_identity handshake_timeout=3
}
conf "$silent,$db"
lab_acctgate_start "$d" "$d/acctgate.conf" || exit 1
q() {
	timeout 30 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=20 \
		--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -B -N -e "SELECT @@port" 2>&1
}

# A session under the old list, held at SILENT's greeting.
q >"$d/s1.out" &
s1_pid=$!
deadline=$((SECONDS + 10))
# acctgate's own connection to SILENT (the readiness probe's may linger).
agpid=$(<"$d/acctgate.pid")
until ss -Htnp state established "( dport = :$sp )" | grep -q "pid=$agpid,"; do
	((SECONDS < deadline)) || break
	sleep 0.05
done
conf "$db,$silent"
line=$(lab_acctgate_reload "$d")
check "reload reorders the servers" "$([[ $line == *"reload done"* ]] && echo 1 || echo 0)" "${line:-no verdict}"
wait "$s1_pid"
s1_pid=""
out=$(<"$d/s1.out")
check "old session told of SILENT" \
	"$([[ $out == *"database server $silent: no greeting within handshake_timeout"* ]] && echo 1 || echo 0)" "$out"
line=$(grep -E "upstream $silent is down: no greeting within handshake_timeout" "$d/acctgate.log" | head -n1)
check "SILENT marked down" "$([[ -n $line ]] && echo 1 || echo 0)" "${line:-no down line for $silent}"
n=$(grep -cE "upstream $db (is down|still down)" "$d/acctgate.log")
check "DB never marked down" "$((n == 0))" "$n down lines for $db"

t0=$(lab_now_ms)
out=$(q)
ms=$(($(lab_now_ms) - t0))
check "new session goes to DB at once" "$([[ $out == "$DB_PORT" ]] && ((ms < 2500)) && echo 1 || echo 0)" \
	"$out in $ms ms (SILENT would cost 3000)"
((failures)) && tail -n 40 "$d/acctgate.log"
((failures == 0))
