#!/usr/bin/env bash
# upstream_health_login.sh LABDIR CLIENT_BIN - a health user that cannot log
# in is the operator's mistake, not the server's, and it repeats every
# health_interval for as long as nobody fixes it.
#   - With a wrong health password (health_interval 1 s), acctgate logs the
#     server's ERR once, keeps the server up, keeps serving sessions and is
#     still running after several rounds. Under the sanitizer build each
#     failed round must be clean: the log is checked here for reports, after
#     acctgate has exited (leaks are reported at exit).
#   - Reloaded (SIGHUP) onto bad_peer.py's err-login server, whose ERR text
#     holds CR LF, a forged log line and an ANSI escape, and with an ESC byte
#     in health_user: the log shows them as \x0d\x0a and \x1b on the one
#     warning line, never the raw bytes, so what a server (or an impostor)
#     says cannot forge or hide log lines.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: health checks are acctgate's"; exit 77; }
d=$lab/ag-health-login peer=$lab/peer-health-login
cleanup() {
	lab_acctgate_stop "$d"
	lab_kill_pidfile "$peer/bad_peer.pid" bad_peer 5
}
trap cleanup EXIT
user=acctgate_hlogin
lab_mariadb_sql "$DB_DIR" -e "CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY '$LAB_HEALTH_PASS'" || exit 1
mkdir -p "$d"
rm -f "$d/acctgate.log" # lab_acctgate_start appends: read this run's story only
(umask 077 && echo "not-the-health-password" >"$d/health.pw")
ap=$(lab_free_port $((TARGET_PORT + 170)))
lab_acctgate_conf "$d/acctgate.conf" "$ap" "127.0.0.1:$DB_PORT" "$CERTS" tls=verify_identity \
	health_user="$user" health_password_file="$d/health.pw" health_interval=1 health_backoff_max=2
lab_acctgate_start "$d" "$d/acctgate.conf" || exit 1
up="upstream 127.0.0.1:$DB_PORT"

# wait_count PATTERN N SECONDS: wait until the log has N lines matching the
# extended regex PATTERN; print how many it has.
wait_count() {
	local deadline=$((SECONDS + $3)) n=0
	while ((SECONDS < deadline)); do
		n=$(grep -cE "$1" "$d/acctgate.log")
		((n >= $2)) && break
		sleep 0.1
	done
	printf '%s\n' "$n"
}

# ---- a wrong password, round after round -----------------------------------------
n=$(wait_count "login as '$user' failed: ERROR 1045" 1 10)
check "failed login logged" "$((n == 1))" "$n warning(s) naming the server's ERR 1045"
# Each round opens a connection the server refuses; let several go by.
sleep 5
pid=$(<"$d/acctgate.pid")
check "still running after failed rounds" "$(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0)" "pid $pid"
n=$(grep -cE "login as '$user' failed" "$d/acctgate.log")
check "logged once, not every round" "$((n == 1))" "$n warnings"
n=$(grep -cE "$up (is down|still down)" "$d/acctgate.log")
check "server not marked down" "$((n == 0))" "$n down lines for $up"
out=$(timeout 30 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 \
	--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -B -N -e "SELECT 'ok'" 2>&1)
check "sessions still served" "$([[ $out == ok ]] && echo 1 || echo 0)" "$out"

# ---- a server's words with control bytes in them ----------------------------
mkdir -p "$peer"
pp=$(lab_free_port $((DB_PORT + 110)))
/usr/bin/python3 "$here/bad_peer.py" server --port "$pp" --case err-login --pidfile "$peer/bad_peer.pid" \
	>>"$peer/bad_peer.log" 2>&1 &
disown
deadline=$((SECONDS + 10))
until [[ -s $peer/bad_peer.pid ]] && (exec 3<>"/dev/tcp/127.0.0.1/$pp") 2>/dev/null; do
	((SECONDS < deadline)) || break
	sleep 0.05
done
esc=$'\x1b'
lab_acctgate_conf "$d/acctgate.conf" "$ap" "127.0.0.1:$pp" "$CERTS" tls=disabled \
	health_user="acct${esc}hlogin" health_password_file="$d/health.pw" health_interval=1 health_backoff_max=2
line=$(lab_acctgate_reload "$d")
check "reload onto the err-login server" "$([[ $line == *"reload done"* ]] && echo 1 || echo 0)" "${line:-no verdict}"
n=$(wait_count "login as 'acct\\\\x1bhlogin' failed: ERROR 1045: Access denied\\\\x0d\\\\x0a.*forged line\\\\x1b\\[2J" 1 10)
check "ERR text and user escaped on one line" "$((n == 1))" "$n escaped warning lines"
n=$(grep -cE '^[^ ]+ notice  forged line' "$d/acctgate.log")
check "no forged log line" "$((n == 0))" "$n forged lines"
n=$(grep -c "$esc" "$d/acctgate.log")
check "no raw control byte in the log" "$((n == 0))" "$n lines with a raw ESC"

lab_acctgate_stop "$d"
n=$(grep -cE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$d/acctgate.log")
check "no sanitizer report" "$((n == 0))" "$n report lines in $d/acctgate.log"
((failures)) && tail -n 60 "$d/acctgate.log"
((failures == 0))
