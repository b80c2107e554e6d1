#!/usr/bin/env bash
# malformed.sh LABDIR CLIENT_BIN - bad bytes from either side get a clear
# error, hurt no other session and never take acctgate down.
#   Client side (bad_peer.py client against the fixture's acctgate): a wrong
#   sequence id, a payload that is no HandshakeResponse, a 16 MiB header in
#   the handshake, a truncated packet, and after a real login (native user,
#   MariaDB behind): a command with a wrong sequence id, an empty command,
#   an unknown command byte (ERR 1047 and the session goes on: a ping is
#   answered), a command over max_command_size (own acctgate, 1 MiB: ERR
#   1153). Each error is the one the README's table promises.
#   Server side (bad_peer.py server behind an acctgate of its own, upstream
#   plaintext): garbage instead of a greeting and a close before it give the
#   client ERR 1105 naming the problem; a result set that breaks off into
#   an OK where a column definition belongs closes that session (the proxy
#   cannot know where the server's stream resumes) with a log line.
#   Those clients, a bare TCP check and a TLS client that gives up leave the
#   server no abandoned handshake (Aborted_connects_preauth, what counts
#   against max_connect_errors): acctgate ends each with an empty login.
#   Then the fixture's acctgate still serves a normal login, and it logged
#   a warning for each bad client.
# acctgate only (77 = skipped in direct mode: the errors are acctgate's).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: these errors are acctgate's own"; exit 77; }
agbig=$lab/ag-malformed agsrv=$lab/ag-badserver peer=$lab/bad-peer
cleanup() {
	lab_acctgate_stop "$agbig"
	lab_acctgate_stop "$agsrv"
	lab_kill_pidfile "$peer/bad_peer.pid" bad_peer 5
}
trap cleanup EXIT
mkdir -p "$peer"
rm -f "$agbig/acctgate.log" "$agsrv/acctgate.log"
# The lab's python3 from Debian (bad_peer.py needs nothing else).
py=/usr/bin/python3
bad_client() { # bad_client PORT CASE [options...]
	local port=$1 c=$2
	shift 2
	timeout 30 "$py" "$here/bad_peer.py" client --port "$port" --case "$c" \
		--user "$LAB_DB_NATIVE_USER" --password "$LAB_DB_NATIVE_PASS" "$@" 2>&1
}
# expect CASE WANT-PREFIX [PORT [options...]]
expect() {
	local c=$1 want=$2 port=${3:-$TARGET_PORT} out
	shift $(($# < 3 ? $# : 3))
	out=$(bad_client "$port" "$c" "$@")
	check "$c" "$([[ $out == "$want"* ]] && echo 1 || echo 0)" "$out"
}

# ---- client side -------------------------------------------------------------
# Handshakes the server saw abandoned: what counts against max_connect_errors
# for acctgate's host (the one host every session comes from).
preauth() {
	lab_mariadb_sql "$DB_DIR" -B -N -e "SHOW GLOBAL STATUS LIKE 'Aborted_connects_preauth'" | awk '{ print $2 }'
}
preauth0=$(preauth)
log_mark "$AG_DIR/acctgate.log"
expect bad-seq "ERR 1156 08S01 acctgate: malformed handshake packet"
expect garbage-response "ERR 1156 08S01 acctgate: malformed handshake response"
expect oversized "ERR 1156 08S01 acctgate: malformed handshake packet"
expect truncated "closed"
expect cmd-bad-seq "ERR 1156 08S01 acctgate: packets out of order"
expect cmd-empty "ERR 1156 08S01 acctgate: empty command packet"
expect cmd-unknown "ERR 1047 08S01 acctgate: command COM_UNKNOWN (0x42) is not supported through the proxy / then ping: OK"

# A bare TCP check of the port, and a TLS client that gives up (it does not
# trust acctgate's certificate), as monitoring or a misconfigured slurmdbd
# would do again and again.
for _ in 1 2 3; do (exec 3<>"/dev/tcp/127.0.0.1/$TARGET_PORT") 2>/dev/null; done
timeout 10 openssl s_client -starttls mysql -connect "127.0.0.1:$TARGET_PORT" -CAfile "$CERTS/impostor-ca.pem" \
	-verify_return_error </dev/null >/dev/null 2>&1
sleep 0.5
n=$(($(preauth) - preauth0))
check "bad or vanished clients leave the server no abandoned handshake" "$((n == 0))" \
	"Aborted_connects_preauth grew by $n over 8 clients that never logged in (each is ended with an empty login)"

ab=$(lab_free_port $((TARGET_PORT + 80)))
lab_acctgate_conf "$agbig/acctgate.conf" "$ab" "127.0.0.1:$DB_PORT" "$CERTS" max_command_size=1M
lab_acctgate_start "$agbig" "$agbig/acctgate.conf" || exit 1
expect cmd-too-large "ERR 1153 08S01 acctgate: command larger than max_command_size" "$ab" --size $((2 << 20))
{ printf "SELECT LENGTH('"; head -c 1000000 /dev/zero | tr '\0' x; printf "');\n"; } >"$peer/big.sql"
out=$(timeout 20 mariadb -h 127.0.0.1 -P "$ab" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" -B -N <"$peer/big.sql" 2>&1)
check "a command just under max_command_size passes" "$([[ $out == 1000000 ]] && echo 1 || echo 0)" \
	"a 1 MB literal through a 1 MiB limit: ${out:0:200}"

# What an admin reads for each bad client.
logged=$(log_after "$AG_DIR/acctgate.log")
absent=""
for want in "malformed handshake packet (packet sequence id" "unreadable handshake response" \
	"malformed handshake packet (packet length" "client went away" "packet sequence id at byte 3" \
	"empty command packet" "sent COM_UNKNOWN (0x42), which the proxy refuses"; do
	[[ $logged == *"$want"* ]] || absent+=" '$want'"
done
check "each bad client is logged with its reason" "$([[ -z $absent ]] && echo 1 || echo 0)" \
	"${absent:+missing:$absent}${absent:-all 7 reasons logged}"
out=$(timeout 20 mariadb -h 127.0.0.1 -P "$TARGET_PORT" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" -B -N -e "SELECT 'alive'" 2>&1)
check "acctgate still serves a normal login" "$([[ $out == alive ]] && echo 1 || echo 0)" "$out"

# ---- server side -------------------------------------------------------------
pp=$(lab_free_port $((DB_PORT + 80)))
as=$(lab_free_port $((ab + 1)))
lab_acctgate_conf "$agsrv/acctgate.conf" "$as" "127.0.0.1:$pp" "$CERTS" tls=disabled
lab_acctgate_start "$agsrv" "$agsrv/acctgate.conf" || exit 1
# peer CASE: (re)start the bad server on port pp.
peer() {
	lab_kill_pidfile "$peer/bad_peer.pid" bad_peer 5
	"$py" "$here/bad_peer.py" server --port "$pp" --case "$1" --pidfile "$peer/bad_peer.pid" \
		>>"$peer/bad_peer.log" 2>&1 &
	disown
	local deadline=$((SECONDS + 10))
	until [[ -s $peer/bad_peer.pid ]] && (exec 3<>"/dev/tcp/127.0.0.1/$pp") 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}
mq() { timeout 20 mariadb -h 127.0.0.1 -P "$as" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" -B -N -e "$1" 2>&1; }
peer garbage-greeting || exit 1
out=$(mq "SELECT 1")
check "garbage instead of a greeting" \
	"$([[ $out == *1105*"the database server sent an unreadable greeting"* ]] && echo 1 || echo 0)" "$out"
peer close-greeting || exit 1
out=$(mq "SELECT 1")
check "a server that closes before its greeting" \
	"$([[ $out == *1105*"closed the connection during the handshake"* ]] && echo 1 || echo 0)" "$out"
peer bad-result || exit 1
log_mark "$agsrv/acctgate.log"
out=$(mq "SELECT 1")
line=$(log_after "$agsrv/acctgate.log" | grep -F "unexpected server packet")
check "a result set that breaks off closes the session" \
	"$([[ $out == *"ERROR 2013"* && -n $line ]] && lab_pid_alive "$agsrv/acctgate.pid" && echo 1 || echo 0)" \
	"client: $(tail -n 1 <<<"$out"); log: ${line:-none}"

if ((failures)); then
	log_since "$AG_DIR/acctgate.log"
	log_since "$agsrv/acctgate.log"
fi
echo "$failures check(s) failed"
((failures == 0))
