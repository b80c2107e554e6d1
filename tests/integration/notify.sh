#!/usr/bin/env bash
# notify.sh DIR ACCTGATE_BIN - acctgate's sd_notify messages (proxy/notify.c)
# to a notification socket the test owns (notify_receiver.py), as systemd
# would see them with Type=notify:
#   - READY=1 comes once, after acctgate listens: a connect made the moment
#     it arrives succeeds; its STATUS names the listen address;
#   - SIGHUP: RELOADING=1 with a MONOTONIC_USEC of this boot's clock, then
#     READY=1; a reload refused (a missing certificate) is still followed by
#     READY=1, with STATUS saying it was refused;
#   - SIGTERM: STOPPING=1, and acctgate exits 0;
#   - an abstract socket (NOTIFY_SOCKET=@name) gets the same READY=1, and a
#     second acctgate that cannot bind the port sends none;
#   - a bad config file, or one naming a missing certificate: acctgate exits
#     1 and sends nothing at all;
#   - NOTIFY_SOCKET unset: acctgate runs as before.
# Needs no database: acctgate's upstream is never contacted.
set -uo pipefail
dir=${1:?usage: notify.sh DIR ACCTGATE_BIN}
ACCTGATE_BIN=${2:?usage: notify.sh DIR ACCTGATE_BIN}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
rm -rf "$dir"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
failures=0
check() {
	if (($2)); then echo "PASS $1: $3"; else echo "FAIL $1: $3"; failures=$((failures + 1)); fi
}

recv_pid="" ag_pid=""
cleanup() {
	[[ -n $ag_pid ]] && kill "$ag_pid" 2>/dev/null
	[[ -n $recv_pid ]] && kill "$recv_pid" 2>/dev/null
	wait 2>/dev/null
}
trap cleanup EXIT

# One self-signed certificate serves as acctgate's and as the upstream CA.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout "$dir/key.pem" \
	-out "$dir/cert.pem" -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null || exit 1
port=$(lab_free_port $((${ACCTGATE_TEST_PORT_BASE:-25306} + 400)))
# conf FILE [CERT]: a valid configuration listening on $port.
conf() {
	cat >"$1" <<-CONF
		[proxy]
		listen = 127.0.0.1:$port
		threads = 1
		client_tls = optional
		tls_cert = ${2:-$dir/cert.pem}
		tls_key = $dir/key.pem
		[upstream]
		servers = 127.0.0.1:1
		tls = verify_identity
		tls_ca = $dir/cert.pem
	CONF
}

# receiver SOCKET: (re)start the receiver on SOCKET, messages in $msgs.
receiver() {
	[[ -n $recv_pid ]] && kill "$recv_pid" 2>/dev/null && wait "$recv_pid" 2>/dev/null
	msgs=$dir/messages.$((++nrecv))
	rm -f "$dir/notify.sock"
	python3 "$here/notify_receiver.py" "$1" "$msgs" &
	recv_pid=$!
	local deadline=$((SECONDS + 10))
	until grep -qx bound "$msgs" 2>/dev/null; do
		((SECONDS < deadline)) || { echo "FAIL: the receiver did not bind $1"; exit 1; }
		sleep 0.05
	done
}
nrecv=0
# wait_msg PATTERN N: wait (10 s) until N messages match PATTERN; print the last.
wait_msg() {
	local deadline=$((SECONDS + 10))
	while (($(grep -c -- "$1" "$msgs") < $2)) && ((SECONDS < deadline)); do sleep 0.02; done
	grep -- "$1" "$msgs" | sed -n "$2p"
}
# start CONF: acctgate in the background with NOTIFY_SOCKET=$sock.
start() {
	NOTIFY_SOCKET=$sock "$ACCTGATE_BIN" -c "$1" >>"$dir/acctgate.log" 2>&1 </dev/null &
	ag_pid=$!
}
# stop: SIGTERM, wait for the exit; its status in $status.
stop() {
	kill -TERM "$ag_pid"
	wait "$ag_pid"
	status=$?
	ag_pid=""
}

# ---- READY=1 after listening, on a path socket ------------------------------
sock=$dir/notify.sock
receiver "$sock"
conf "$dir/good.conf"
start "$dir/good.conf"
ready=$(wait_msg 'READY=1' 1)
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then listening=1; else listening=0; fi
check "READY=1 is sent once acctgate listens" "$([[ -n $ready ]] && ((listening)) && echo 1 || echo 0)" \
	"${ready:-no READY=1}; port $port $( ((listening)) && echo accepted || echo refused) a connect"
check "READY=1's STATUS names the listen address" \
	"$([[ $ready == *"STATUS=listening on 127.0.0.1:$port"* ]] && echo 1 || echo 0)" "$ready"

# ---- SIGHUP: RELOADING=1 + MONOTONIC_USEC, then READY=1 ------------------------
t0=$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)')
kill -HUP "$ag_pid"
reloading=$(wait_msg 'RELOADING=1' 1)
again=$(wait_msg 'READY=1' 2)
usec=$(sed -n 's/.*MONOTONIC_USEC=\([0-9]*\).*/\1/p' <<<"$reloading")
t1=$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)')
check "SIGHUP sends RELOADING=1 with MONOTONIC_USEC from CLOCK_MONOTONIC" \
	"$([[ -n $usec ]] && ((usec >= t0 && usec <= t1)) && echo 1 || echo 0)" \
	"${reloading:-none} (clock between $t0 and $t1)"
check "and READY=1 once the reload is done" \
	"$([[ $again == *"reloaded"* ]] && echo 1 || echo 0)" "${again:-no second READY=1}"
ord=$(grep -n -e 'RELOADING=1' -e 'READY=1' "$msgs" | tail -n 2 | cut -d' ' -f2 | cut -c1-11 | tr '\n' ' ')
check "RELOADING=1 comes before that READY=1" "$([[ $ord == "RELOADING=1 READY=1|STA"* ]] && echo 1 || echo 0)" "$ord"

# ---- a refused reload is still followed by READY=1 --------------------------
conf "$dir/good.conf" "$dir/missing-cert.pem"
kill -HUP "$ag_pid"
wait_msg 'RELOADING=1' 2 >/dev/null
refused=$(wait_msg 'READY=1' 3)
check "a refused reload ends with READY=1 and says why in STATUS" \
	"$([[ $refused == *"reload refused"*missing-cert.pem* ]] && echo 1 || echo 0)" "${refused:-no READY=1}"
conf "$dir/good.conf"

# ---- SIGTERM: STOPPING=1 ----------------------------------------------------
stop
stopping=$(wait_msg 'STOPPING=1' 1)
check "SIGTERM sends STOPPING=1 and acctgate exits 0" \
	"$([[ -n $stopping ]] && ((status == 0)) && echo 1 || echo 0)" "${stopping:-no STOPPING=1}, exit $status"

# ---- an abstract socket -------------------------------------------------------
sock=@acctgate-notify-test-$$
receiver "$sock"
start "$dir/good.conf"
ready=$(wait_msg 'READY=1' 1)
check "an abstract NOTIFY_SOCKET (@name) gets READY=1" "$([[ -n $ready ]] && echo 1 || echo 0)" \
	"${ready:-nothing on $sock}"
# A second acctgate on the same port cannot listen: it must not say READY.
NOTIFY_SOCKET=$sock "$ACCTGATE_BIN" -c "$dir/good.conf" >>"$dir/acctgate.log" 2>&1 </dev/null
rc_busy=$?
sleep 0.3
check "an acctgate that cannot listen exits 1 without READY=1" \
	"$( ((rc_busy == 1)) && [[ $(grep -c 'READY=1' "$msgs") == 1 ]] && echo 1 || echo 0)" \
	"exit $rc_busy, $(grep -c 'READY=1' "$msgs") READY=1 in all"
stop

# ---- nothing at all when acctgate cannot start ----------------------------------
sock=$dir/notify.sock
receiver "$sock"
printf '[proxy]\nlisen = 127.0.0.1:%s\n' "$port" >"$dir/bad.conf"
NOTIFY_SOCKET=$sock "$ACCTGATE_BIN" -c "$dir/bad.conf" >>"$dir/acctgate.log" 2>&1 </dev/null
rc_bad=$?
conf "$dir/nocert.conf" "$dir/missing-cert.pem"
NOTIFY_SOCKET=$sock "$ACCTGATE_BIN" -c "$dir/nocert.conf" >>"$dir/acctgate.log" 2>&1 </dev/null
rc_nocert=$?
sleep 0.3
n=$(grep -vcx bound "$msgs")
check "a bad config or a missing certificate: exit 1 and no message" \
	"$( ((rc_bad == 1 && rc_nocert == 1 && n == 0)) && echo 1 || echo 0)" \
	"exits $rc_bad and $rc_nocert, $n message(s): $(grep -vx bound "$msgs" | tr '\n' ' ')"

# ---- no NOTIFY_SOCKET -------------------------------------------------------------
"$ACCTGATE_BIN" -c "$dir/good.conf" >>"$dir/acctgate.log" 2>&1 </dev/null &
ag_pid=$!
if lab_wait_port "$port" 10 "$ag_pid" "$dir/acctgate.log" 2>/dev/null; then up=1; else up=0; fi
stop
check "without NOTIFY_SOCKET acctgate runs and stops as before" "$( ((up && status == 0)) && echo 1 || echo 0)" \
	"listening: $up, exit $status"

((failures)) && { echo "---- acctgate.log ----"; tail -n 30 "$dir/acctgate.log"; }
echo "$failures check(s) failed"
((failures == 0))
