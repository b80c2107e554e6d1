#!/usr/bin/env bash
# timeouts.sh LABDIR CLIENT_BIN - the connection phase is bounded on both
# legs, on an acctgate of its own (LABDIR/ag-timeouts):
#   login_timeout (slowloris): max_connections = 3 filled by three TCP
#     connections that never log in (one silent, two trickling a byte a
#     second) refuses a fourth client with 1040 at first; after
#     login_timeout (2 s) acctgate closed all three with a log line, and a
#     real login works.
#   handshake_timeout: a server that accepts and never greets gives the
#     client an ERR naming it within handshake_timeout (2 s), not a hang.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: timeouts are acctgate's"; exit 77; }
ag=$lab/ag-timeouts agsilent=$lab/ag-silent
silent_pid=""
cleanup() {
	for fd in 3 4 5; do eval "exec $fd>&-" 2>/dev/null; done
	[[ -n $trickle_pids ]] && kill $trickle_pids 2>/dev/null
	[[ -n $silent_pid ]] && kill "$silent_pid" 2>/dev/null
	lab_acctgate_stop "$ag"
	lab_acctgate_stop "$agsilent"
}
trickle_pids=""
trap cleanup EXIT
rm -f "$ag/acctgate.log" "$agsilent/acctgate.log"
ap=$(lab_free_port $((TARGET_PORT + 140)))
lab_acctgate_conf "$ag/acctgate.conf" "$ap" "127.0.0.1:$DB_PORT" "$CERTS" max_connections=3 login_timeout=2
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
q() {
	timeout 20 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=5 \
		--skip-ssl -B -N -e "$1" 2>&1
}

# ---- login_timeout ------------------------------------------------------------
exec 3<>"/dev/tcp/127.0.0.1/$ap"
for i in 1 2; do
	# A byte a second: each read resets nothing (the timer runs from accept).
	timeout 10 bash -c "exec 9<>/dev/tcp/127.0.0.1/$ap; for j in 1 2 3 4 5 6 7 8; do printf 'x' >&9 || exit; sleep 1; done" \
		2>/dev/null &
	trickle_pids+=" $!"
done
# All three are acctgate's before the fourth client comes.
agpid=$(<"$ag/acctgate.pid")
deadline=$((SECONDS + 10))
until (($(ss -Htnp state established "( sport = :$ap )" | grep -c "pid=$agpid,") >= 3)); do
	((SECONDS < deadline)) || break
	sleep 0.05
done
out=$(q "SELECT 1")
check "three idle logins fill max_connections = 3" "$([[ $out == *1040* ]] && echo 1 || echo 0)" "$out"
sleep 2.5
out=$(q "SELECT 'after'")
check "after login_timeout a real login works" "$([[ $out == after ]] && echo 1 || echo 0)" "$out"
n=$(grep -c "login not complete after login_timeout (2s)" "$ag/acctgate.log")
check "each stalled login was closed and logged" "$((n >= 3))" "$n log lines"
# The silent one sees the ERR acctgate sent before closing.
err=$(timeout 2 cat <&3 | tr -c '[:print:]' '.')
check "the silent client was told why" "$([[ $err == *login_timeout* ]] && echo 1 || echo 0)" "$err"

# ---- handshake_timeout ----------------------------------------------------------
sp=$(lab_free_port $((TARGET_PORT + 150)))
/usr/bin/python3 - "$sp" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
held = []
s.settimeout(1)
end = time.time() + 30
while time.time() < end:
    try:
        held.append(s.accept()[0])  # accepted, never greeted
    except socket.timeout:
        pass
PY
silent_pid=$!
sleep 0.5
agp=$(lab_free_port $((TARGET_PORT + 160)))
lab_acctgate_conf "$agsilent/acctgate.conf" "$agp" "127.0.0.1:$sp" "$CERTS" handshake_timeout=2
lab_acctgate_start "$agsilent" "$agsilent/acctgate.conf" || exit 1
t0=$(lab_now_ms)
out=$(timeout 20 mariadb -h 127.0.0.1 -P "$agp" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 \
	--skip-ssl -B -N -e "SELECT 1" 2>&1)
dt=$(($(lab_now_ms) - t0))
check "a server that never greets: the client is told within handshake_timeout" \
	"$([[ $out == *"no greeting within handshake_timeout (2s)"* ]] && ((dt < 6000)) && echo 1 || echo 0)" \
	"$out (after $dt ms)"
((failures == 0))
