#!/usr/bin/env bash
# upstream_health.sh LABDIR CLIENT_BIN - what keeps a long-lived bridge
# honest when nobody is using it.
#   Health checks: with health_user / health_password_file (interval 1 s,
#   health_backoff_max 4 s) and no client at all, acctgate's log must tell
#   the server's story: up at start, down once it stops, still down with the
#   backoff growing 1 s, 2 s, 4 s and capped at 4 s (the probes themselves
#   wait that long: two at the cap are ~4 s apart), and up again once it
#   comes back (lab_mariadb_restart). The probes must really log in (one that
#   only reads the greeting counts toward max_connect_errors): the general
#   log shows the health user, and acctgate warns of no failed login.
#   Keepalive: with keepalive_idle = 47, `ss -tnoe` must show a keepalive
#   timer of at most 47 s on both legs of a live session (acctgate's sockets
#   to the client and to the server), not the kernel's 7200 s default: a VPC
#   route or NAT entry that vanishes is then noticed.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: health checks and keepalive are acctgate's"; exit 77; }
db=$lab/db-health d=$lab/ag-health
sess_pid=""
cleanup() {
	[[ -n $sess_pid ]] && kill "$sess_pid" 2>/dev/null
	lab_acctgate_stop "$d"
	lab_mariadb_stop "$db"
}
trap cleanup EXIT
trap '' PIPE
# wait_log PATTERN SECONDS: wait until acctgate's log has a line matching
# the extended regex PATTERN; print it.
wait_log() {
	local deadline=$((SECONDS + $2)) line=""
	while ((SECONDS < deadline)); do
		line=$(grep -E "$1" "$d/acctgate.log" | tail -n1)
		[[ -n $line ]] && break
		sleep 0.1
	done
	printf '%s\n' "$line"
}

dbport=$(lab_free_port $((DB_PORT + 60)))
lab_mariadb_start "$db" "$dbport" "$CERTS" server || exit 1
lab_mariadb_sql "$db" -e "CREATE USER 'acctgate_health'@'%' IDENTIFIED BY '$LAB_HEALTH_PASS'" || exit 1
mkdir -p "$d"
rm -f "$d/acctgate.log" # lab_acctgate_start appends: read this run's story only
(umask 077 && echo "$LAB_HEALTH_PASS" >"$d/health.pw")
idle=47
ap=$(lab_free_port $((TARGET_PORT + 60)))
lab_acctgate_conf "$d/acctgate.conf" "$ap" "127.0.0.1:$dbport" "$CERTS" tls=verify_identity \
	health_user=acctgate_health health_password_file="$d/health.pw" health_interval=1 health_backoff_max=4 \
	keepalive_idle=$idle keepalive_interval=5
lab_acctgate_start "$d" "$d/acctgate.conf" || exit 1
up="upstream 127.0.0.1:$dbport"

# ---- health: up, down with backoff, up ---------------------------------------
line=$(wait_log "$up is up" 10)
check "up at start" "$([[ -n $line ]] && echo 1 || echo 0)" "${line:-no '$up is up' line}"

# ---- keepalive on both legs of a live session (while the server is up) -------
coproc SESS { exec timeout 60 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" \
	--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -n -B -N 2>&1; }
# shellcheck disable=SC2153 # SESS_PID is set by coproc
sess_pid=$SESS_PID sess_in=${SESS[1]} sess_out=${SESS[0]}
# The server sees the session's server leg as coming from acctgate's port.
printf '%s\n' "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID();" 1>&"$sess_in"
IFS= read -r -t 10 host <&"$sess_out" || host=""
leg_port=${host##*:}
# keepalive_timer FILTER: the timer of acctgate's side of one established
# connection; until the last reply is acknowledged that is the retransmit
# timer ("on"), so wait (3 s at most) for the keepalive one.
keepalive_timer() {
	local t="" deadline=$((SECONDS + 3))
	while ((SECONDS < deadline)); do
		t=$(ss -Htnoe state established "$1" | grep -o 'timer:([^)]*)' | head -n1)
		[[ $t == timer:\(keepalive,* ]] && break
		sleep 0.05
	done
	printf '%s\n' "$t"
}
for leg in client server; do
	if [[ $leg == client ]]; then t=$(keepalive_timer "( sport = :$ap )")
	else t=$(keepalive_timer "( sport = :${leg_port:-0} and dport = :$dbport )"); fi
	secs=$(sed -n 's/^timer:(keepalive,\([0-9]*\)sec,.*/\1/p' <<<"$t")
	check "keepalive on the $leg leg" "$([[ -n $secs ]] && ((secs > 0 && secs <= idle)) && echo 1 || echo 0)" \
		"${t:-no socket or no timer} (keepalive_idle $idle)"
done
exec {sess_in}>&- # the session quits at end of input
wait "$sess_pid" 2>/dev/null
sess_pid=""

lab_mariadb_stop "$db"
line=$(wait_log "$up is down" 10)
check "down once the server stops" "$([[ -n $line ]] && echo 1 || echo 0)" "${line:-no '$up is down' line}"
# The backoff reaches its cap (4 s) at the third failure; the fourth stays.
deadline=$((SECONDS + 15))
until (($(grep -c "$up still down.*next check in 4s" "$d/acctgate.log") >= 2)) || ((SECONDS >= deadline)); do
	sleep 0.2
done
lab_mariadb_restart "$db" || exit 1
deadline=$((SECONDS + 15))
until (($(grep -c "$up is up" "$d/acctgate.log") >= 2)) || ((SECONDS >= deadline)); do sleep 0.1; done

# The whole story in one line: "up down:1 down:2 down:4 down:4 ... up".
story=$(grep -E "$up (is up|is down|still down)" "$d/acctgate.log" |
	sed -E 's/.* is up$/up/; s/.*(is|still) down.*next check in ([0-9]+)s$/down:\2/' | tr '\n' ' ')
story=${story% }
check "up, down with backoff 1-2-4 s capped at 4 s, up again" \
	"$([[ $story =~ ^up\ down:1\ down:2\ down:4(\ down:4)+\ up$ ]] && echo 1 || echo 0)" "$story"

# The probes themselves back off: two probes at the 4 s cap lie about 4 s
# apart, not health_interval (1 s).
gap_ms=$(grep -E "$up still down.*next check in 4s" "$d/acctgate.log" | head -n 2 | cut -d' ' -f1 |
	while read -r ts; do date -d "$ts" +%s%3N; done | paste -sd' ' | awk 'NF == 2 {print $2 - $1}')
check "probes back off" "$([[ -n $gap_ms ]] && ((gap_ms >= 3500)) && echo 1 || echo 0)" \
	"${gap_ms:-?} ms between two probes at the 4 s cap (health_interval 1 s)"

logins=$(grep -c "acctgate_health@" "$db/general.log" 2>/dev/null)
bad=$(grep -c "login as 'acctgate_health' failed" "$d/acctgate.log")
check "probes log in" "$((logins > 0 && bad == 0))" "$logins health logins in the general log, $bad failed logins in acctgate's"
((failures)) && tail -n 40 "$d/acctgate.log"
((failures == 0))
