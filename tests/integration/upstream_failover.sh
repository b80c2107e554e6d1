#!/usr/bin/env bash
# upstream_failover.sh LABDIR CLIENT_BIN - the cross-VPC bridge follows the
# database when it moves, with TLS verify_identity throughout.
# 1. Failover list: servers = localhost:A,127.0.0.1:B (the lab certificate
#    names both). Sessions use A; A stops; the next new session reaches B at
#    once (@@port), and acctgate's log names A and the address its name
#    stood for. A comes back: once its backoff is over, new sessions use A
#    again.
# 2. DNS: servers = db.lab.test:B, [upstream] resolver = fake_dns.py,
#    tls_server_name = localhost. MariaDBs on 127.0.0.1:B and 127.0.0.2:B;
#    the zone sends the name to the first, then is rewritten to the second:
#    the next new session must reach the second (@@datadir), and the DNS log
#    must show that acctgate asked again (nothing cached, as an RDS failover
#    that moves a name needs).
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: failover and re-resolution are acctgate's"; exit 77; }
dba=$lab/db-foA dbb=$lab/db-foB dbc=$lab/db-foC
ag1=$lab/ag-failover ag2=$lab/ag-dns dns=$lab/dns-failover
cleanup() {
	lab_acctgate_stop "$ag1"
	lab_acctgate_stop "$ag2"
	lab_kill_pidfile "$dns/fake_dns.pid" fake_dns 5
	lab_mariadb_stop "$dba"
	lab_mariadb_stop "$dbb"
	lab_mariadb_stop "$dbc"
}
trap cleanup EXIT
# Logs are appended to: checks must read this run's lines only.
rm -f "$ag1/acctgate.log" "$ag2/acctgate.log" "$dns/queries.log"
# q PORT SQL: one new session through acctgate, TLS on the client leg too.
q() {
	timeout 30 mariadb -h 127.0.0.1 -P "$1" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 \
		--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -B -N -e "$2" 2>&1
}

pa=$(lab_free_port $((DB_PORT + 40)))
lab_mariadb_start "$dba" "$pa" "$CERTS" server || exit 1
pb=$(lab_free_port $((pa + 1)))
lab_mariadb_start "$dbb" "$pb" "$CERTS" server 127.0.0.1 || exit 1
lab_mariadb_start "$dbc" "$pb" "$CERTS" server 127.0.0.2 || exit 1

# ---- 1. failover list ------------------------------------------------------
ap1=$(lab_free_port $((TARGET_PORT + 40)))
lab_acctgate_conf "$ag1/acctgate.conf" "$ap1" "localhost:$pa,127.0.0.1:$pb" "$CERTS" tls=verify_identity
lab_acctgate_start "$ag1" "$ag1/acctgate.conf" || exit 1
out=$(q "$ap1" "SELECT @@port")
check "first server in use" "$([[ $out == "$pa" ]] && echo 1 || echo 0)" "@@port $out (A is $pa)"

lab_mariadb_stop "$dba"
log_mark "$ag1/acctgate.log"
t0=$(lab_now_ms)
out=$(q "$ap1" "SELECT @@port")
ms=$(($(lab_now_ms) - t0))
check "failover to the second server" "$([[ $out == "$pb" ]] && ((ms < 3000)) && echo 1 || echo 0)" \
	"@@port $out (B is $pb) in $ms ms"
line=$(grep -F "upstream localhost:$pa is down" "$ag1/acctgate.log" | tail -n1)
check "log names the failed server and address" \
	"$([[ $line == *"at 127.0.0.1: Connection refused"* ]] && echo 1 || echo 0)" "${line:-no 'is down' line}"
((failures)) && log_since "$ag1/acctgate.log"

lab_mariadb_restart "$dba" || exit 1
# Backoff after one failure is 1 s, after two 2 s: A must be first again
# well within 15 s.
deadline=$((SECONDS + 15))
while out=$(q "$ap1" "SELECT @@port") && [[ $out != "$pa" ]] && ((SECONDS < deadline)); do sleep 0.5; done
check "back to the first server once it returns" "$([[ $out == "$pa" ]] && echo 1 || echo 0)" "@@port $out"

# ---- 2. DNS re-resolution --------------------------------------------------
mkdir -p "$dns"
dp=$(lab_free_port $((pb + 100)))
while ss -Huln "sport = :$dp" | grep -q .; do dp=$((dp + 1)); done
echo "db.lab.test 127.0.0.1" >"$dns/zone"
rm -f "$dns/fake_dns.pid"
python3 "$here/fake_dns.py" --port "$dp" --zone "$dns/zone" --pidfile "$dns/fake_dns.pid" \
	--log "$dns/queries.log" </dev/null >/dev/null 2>"$dns/stderr.log" &
# The pid file is written once the socket is bound.
deadline=$((SECONDS + 10))
until [[ -s $dns/fake_dns.pid ]] || ((SECONDS >= deadline)); do sleep 0.05; done
[[ -s $dns/fake_dns.pid ]] || { lab_fail "fake_dns.py did not start" "$dns/stderr.log"; exit 1; }

ap2=$(lab_free_port $((ap1 + 1)))
lab_acctgate_conf "$ag2/acctgate.conf" "$ap2" "db.lab.test:$pb" "$CERTS" tls=verify_identity \
	tls_server_name=localhost resolver="127.0.0.1:$dp"
lab_acctgate_start "$ag2" "$ag2/acctgate.conf" || exit 1
out=$(q "$ap2" "SELECT @@datadir")
check "name resolves to 127.0.0.1" "$([[ $out == "$dbb/data/" ]] && echo 1 || echo 0)" "@@datadir $out"

echo "db.lab.test 127.0.0.2" >"$dns/zone"
out=$(q "$ap2" "SELECT @@datadir")
check "moved name followed by the next session" "$([[ $out == "$dbc/data/" ]] && echo 1 || echo 0)" \
	"@@datadir $out (127.0.0.2's is $dbc/data/)"
# The resolver randomises the case of its questions (0x20); match any case.
n=$(grep -ci '^A db\.lab\.test -> 127\.0\.0\.2$' "$dns/queries.log")
check "acctgate asked the resolver again" "$((n > 0))" "$n A queries answered 127.0.0.2"
((failures)) && { log_since "$ag2/acctgate.log"; cat "$dns/queries.log"; }
((failures == 0))
