#!/usr/bin/env bash
# admin.sh LABDIR CLIENT_BIN - the admin port (proxy/admin.c) with the stock
# mariadb client, on an acctgate of its own (LABDIR/ag-admin) in front of
# the fixture's MariaDB, with a journal:
#   login: the right password gets in; a wrong one gets ERR 1045, three in
#     a row each answered later than the one before (the throttle), each
#     logged with the peer's address; the same with client_ed25519 (the
#     stock client's plugin, --default-auth=client_ed25519), logged as such;
#   every command's shape (column names) and a known value in each: HELP,
#     the client's startup query, SHOW STATUS (version, a session held open,
#     a journaled commit), SHOW SESSIONS (that session's user and database),
#     SHOW SERVERS (the fixture's MariaDB up), SHOW JOURNAL, SHOW SNAPSHOTS,
#     SHOW CONFIG (the admin password as '(set)'); a malformed command gets
#     ERR 1064 naming what was expected, an unsupported one ERR 1064/1047;
#   RELOAD with a good file (a changed key shows in SHOW CONFIG) and a bad
#     one (ERR naming file, line and key; the running configuration stays);
#   [admin] auth: ed25519 switches every login to client_ed25519 (the stock
#     client follows unasked; a native answer is refused; a client without
#     plugin authentication gets ERR 1251), native switches a client_ed25519
#     client to mysql_native_password, a bad value is refused naming its line;
#   garbage bytes on the port: acctgate stays up and serves the next admin
#     login and a client session;
#   TLS: --ssl works with client_tls = optional; with client_tls = required
#     a plaintext login gets ERR 3159 and --ssl gets in;
#   without [admin] user and password_file nothing listens, and the log
#     says why in one notice.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: the admin port is acctgate's"; exit 77; }
ag=$lab/ag-admin
cleanup() {
	sess_close_all
	lab_acctgate_stop "$ag"
}
trap cleanup EXIT
rm -rf "$ag"
mkdir -p "$ag"
is() { [[ $1 == "$2" ]] && echo 1 || echo 0; }
has() { [[ $1 == *"$2"* ]] && echo 1 || echo 0; }
since() { log_after "$ag/acctgate.log"; }

ap=$(lab_free_port $((TARGET_PORT + 70)))
adm=$(lab_free_port $((ap + 1)))
ups="127.0.0.1:$DB_PORT"
pwfile=$ag/admin.pw
printf 'Adm1n-pass\n' >"$pwfile"
chmod 600 "$pwfile"

# conf [admin key=value...] [-- proxy key=value...]: acctgate's file with an
# [admin] and a [journal] section appended.
conf() {
	local admin_kv=() proxy_kv=() kv seen=0
	for kv in "$@"; do
		if [[ $kv == -- ]]; then seen=1; elif ((seen)); then proxy_kv+=("$kv"); else admin_kv+=("$kv"); fi
	done
	lab_acctgate_conf "$ag/acctgate.conf" "$ap" "$ups" "$CERTS" threads=2 "${proxy_kv[@]}"
	printf '[journal]\ndir = %s\nfsync = off\n\n[admin]\nlisten = 127.0.0.1:%s\n' "$ag/journal" "$adm" \
		>>"$ag/acctgate.conf"
	for kv in "${admin_kv[@]}"; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >>"$ag/acctgate.conf"; done
}
# a [options...] -e SQL: one admin session, batch output with column names.
a() {
	timeout 30 mariadb -h 127.0.0.1 -P "$adm" -u admin --connect-timeout=5 -B "$@" 2>&1
}
ok() { a -p'Adm1n-pass' "$@"; }
# value NAME: SHOW STATUS's value for NAME.
status_value() { ok -N -e "SHOW STATUS" | awk -F'\t' -v n="$1" '$1 == n { print $2 }'; }
header() { head -n 1 <<<"$1"; }

conf user=admin password_file="$pwfile" tls_cert="$CERTS/server-cert.pem" tls_key="$CERTS/server-key.pem"
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
lab_wait_port "$adm" 10 "$(<"$ag/acctgate.pid")" "$ag/acctgate.log" || exit 1

# ---- login ---------------------------------------------------------------------
out=$(ok -N -e "SELECT @@version_comment LIMIT 1")
check "the right password logs in; the client's startup query is answered" \
	"$(has "$out" "acctgate admin port")" "$out"
log_mark "$ag/acctgate.log"
times=()
for i in 1 2 3; do
	t0=$(lab_now_ms)
	out=$(a -p'wrong' -e "SHOW STATUS")
	times+=($(($(lab_now_ms) - t0)))
	check "wrong password $i: ERR 1045" "$(has "$out" "ERROR 1045 (28000)")" "$out"
done
check "each consecutive failure is answered later (doubling from 0.5 s)" \
	"$( ((times[0] >= 400 && times[1] >= times[0] * 3 / 2 && times[2] >= times[1] * 3 / 2)) && echo 1 || echo 0)" \
	"${times[*]} ms"
n=$(since | grep -c "login of 'admin' from 127.0.0.1:[0-9]* refused: wrong password")
check "each failure is logged with the peer's address" "$(is "$n" 3)" "$n lines; $(since | grep refused | tail -n 1)"
out=$(ok -N -e "SELECT @@version_comment")
check "the right password still gets in after them" "$(has "$out" "acctgate admin port")" "$out"

# client_ed25519: MariaDB's own client plugin signs acctgate's nonce.
ed=(--default-auth=client_ed25519 --plugin-dir="$(mariadb_config --plugindir)")
log_mark "$ag/acctgate.log"
out=$(ok "${ed[@]}" --skip-ssl -e "SHOW STATUS")
check "client_ed25519 with the right password logs in and runs SHOW STATUS (plaintext)" \
	"$([[ $(header "$out") == "name	value" && $out == *"admin_tls	optional"* ]] && echo 1 || echo 0)" \
	"$(tr '\n' '|' <<<"$out" | head -c 300)"
n=$(since | grep -c "'admin' logged in from 127.0.0.1:[0-9]* (plaintext, client_ed25519)")
check "the login is logged with its plugin" "$(is "$n" 1)" "$(since | grep 'logged in' | tail -n 1)"
out=$(a "${ed[@]}" -p'Adm1n-Pass' -e "SHOW STATUS")
check "client_ed25519 with a wrong password: ERR 1045" "$(has "$out" "ERROR 1045 (28000)")" "$out"
line=$(since | grep "login of 'admin' from 127.0.0.1:[0-9]* refused: wrong password (client_ed25519; failure 1 in a row")
check "the refused client_ed25519 login is logged with the peer's address" "$([[ -n $line ]] && echo 1 || echo 0)" \
	"$(since | grep refused | tail -n 1)"
out=$(ok "${ed[@]}" -N -e "SELECT @@version_comment")
check "client_ed25519 with the right password after it" "$(has "$out" "acctgate admin port")" "$out"

# ---- commands ------------------------------------------------------------------
out=$(ok -e "help admin")
check "HELP (the client's 'help admin') lists the commands" \
	"$([[ $out == *"SHOW SESSIONS"* && $out == *RELOAD* ]] && echo 1 || echo 0)" "$(tr '\n' '|' <<<"$out")"
# A bare HELP the stock client answers itself: admin_client.py sends it as
# it is, without CLIENT_DEPRECATE_EOF (result sets end with EOF packets).
raw() { timeout 30 /usr/bin/python3 "$here/admin_client.py" "$adm" admin 'Adm1n-pass' "$@" 2>&1; }
out=$(raw HELP)
check "HELP: command, description; one row per command; an EOF ends it" \
	"$([[ $(header "$out") == "command	description" && $out == *"RELOAD	reload the configuration"* &&
		$(tail -n 1 <<<"$out") == "end: EOF" ]] && echo 1 || echo 0)" "$(tr '\n' '|' <<<"$out")"
out=$(raw --deprecate-eof "SHOW SNAPSHOTS")
check "with CLIENT_DEPRECATE_EOF an OK ends it (SHOW SNAPSHOTS: no row yet)" \
	"$(is "$out" "id	sequence	time	tables	rows	bytes	state"$'\n'"end: OK")" "$(tr '\n' '|' <<<"$out")"
out=$(raw --plugin caching_sha2_password "SHOW SERVERS")
check "a client asking for another plugin is switched to mysql_native_password" \
	"$([[ $(header "$out") == "switched to mysql_native_password (21 bytes)" && $out == *"127.0.0.1:$DB_PORT	"* ]] && echo 1 || echo 0)" \
	"$(tr '\n' '|' <<<"$out")"
out=$(raw --plugin client_ed25519 "SHOW SERVERS")
check "one asking for client_ed25519 gets it, with a 32-byte nonce (and refuses a native answer)" \
	"$([[ $(header "$out") == "switched to client_ed25519 (32 bytes)" && $out == *"ERR 1045 "* ]] && echo 1 || echo 0)" \
	"$(tr '\n' '|' <<<"$out")"
out=$(ok -e "  sHoW   sErVeRs ;; " | head -n 1)
check "any case, extra spaces and trailing ';' are fine" \
	"$(is "$out" "server	state	failures	backoff_seconds	last_error")" "$out"

lab_mariadb_sql "$DB_DIR" -e "CREATE TABLE IF NOT EXISTS acctgate_test.adm (v INT) ENGINE=InnoDB"
sess_open held "$ap"
sess_send held "SET autocommit = 0"
sess_send held "INSERT INTO adm VALUES (1)"
sess_send held "COMMIT"
sess_send held "SELECT 'ready'"
sess_wait held 1 >/dev/null

out=$(ok -e "show status")
check "SHOW STATUS: name, value" "$(is "$(header "$out")" "name	value")" "$(header "$out")"
v=$(awk -F'\t' '$1 == "version" { print $2 }' <<<"$out")
check "SHOW STATUS: version" "$(is "$v" "$("$ACCTGATE_BIN" -V | awk '{ print $2 }')")" "version '$v'"
v=$(awk -F'\t' '$1 == "sessions" { print $2 }' <<<"$out")
check "SHOW STATUS: the held session counts" "$(is "$v" 1)" "sessions '$v'"
v=$(awk -F'\t' '$1 == "journal_commits" { print $2 }' <<<"$out")
check "SHOW STATUS: the session's commit is journaled" "$( ((${v:-0} >= 1)) && echo 1 || echo 0)" "journal_commits '$v'"
absent=""
for k in uptime connections_total worker_0_sessions worker_1_sessions queries bytes_in bytes_out \
	upstream_servers_up upstream_servers_down client_tls upstream_tls admin_tls journal journal_in_doubt \
	journal_flagged journal_refused journal_gaps last_snapshot; do
	grep -q "^$k	" <<<"$out" || absent+=" $k"
done
check "SHOW STATUS: every row is there" "$([[ -z $absent ]] && echo 1 || echo 0)" "absent:${absent:- none}"
check "SHOW STATUS: last_snapshot none, admin_tls optional" \
	"$([[ $out == *"last_snapshot	none"* && $out == *"admin_tls	optional"* ]] && echo 1 || echo 0)" \
	"$(grep -E '^(last_snapshot|admin_tls)' <<<"$out" | tr '\n' ' ')"

out=$(ok -e "SHOW SESSIONS")
check "SHOW SESSIONS: columns" "$(is "$(header "$out")" "id	worker	user	database	state	in_transaction	client")" \
	"$(header "$out")"
row=$(grep -P "\t$LAB_DB_USER\t" <<<"$out" | head -n 1)
check "SHOW SESSIONS: the held session, its user and database" \
	"$([[ $row == *"	$LAB_DB_USER	acctgate_test	idle	no	127.0.0.1:"* ]] && echo 1 || echo 0)" "${row:-no row}"

out=$(ok -e "show servers")
check "SHOW SERVERS: columns" "$(is "$(header "$out")" "server	state	failures	backoff_seconds	last_error")" \
	"$(header "$out")"
check "SHOW SERVERS: the fixture's MariaDB is up" "$(has "$out" "127.0.0.1:$DB_PORT	up	0	0")" \
	"$(tail -n +2 <<<"$out")"

out=$(ok -e "SHOW JOURNAL")
check "SHOW JOURNAL: name, value; enabled, its dir" \
	"$([[ $(header "$out") == "name	value" && $out == *"enabled	yes"* && $out == *"dir	$ag/journal"* ]] && echo 1 || echo 0)" \
	"$(tr '\n' '|' <<<"$out")"
v=$(awk -F'\t' '$1 == "commits" { print $2 }' <<<"$out")
check "SHOW JOURNAL: commits" "$( ((${v:-0} >= 1)) && echo 1 || echo 0)" "commits '$v'"

out=$(ok -e "SHOW SNAPSHOTS")
check "SHOW SNAPSHOTS: an empty result without [snapshot] dir" "$([[ -z $out ]] && echo 1 || echo 0)" "$out"
out=$(raw "SNAPSHOT")
check "SNAPSHOT without [snapshot] dir: an ERR naming what it needs" \
	"$([[ $out == *"ERR 1105 "*"SNAPSHOT needs ["* ]] && echo 1 || echo 0)" "$(tr '\n' '|' <<<"$out")"

out=$(ok -e "SHOW CONFIG")
check "SHOW CONFIG: columns" "$(is "$(header "$out")" "section	key	value	reload")" "$(header "$out")"
check "SHOW CONFIG: the admin password only as (set)" \
	"$([[ $out == *"admin	password_file	(set)	reload"* && $out != *Adm1n* ]] && echo 1 || echo 0)" \
	"$(grep -E '^admin' <<<"$out" | tr '\n' '|')"
check "SHOW CONFIG: a value and its reload column" "$(has "$out" "admin	listen	127.0.0.1:$adm	restart")" \
	"$(grep -E '^admin	listen' <<<"$out")"
n=$(($(wc -l <<<"$out") - 1))
keys=$(grep -cE '^[a-z0-9_]+ =' "$here/../../conf/acctgate.conf")
check "SHOW CONFIG: every key" "$(is "$n" "$keys")" "$n rows, $keys keys in conf/acctgate.conf"

out=$(ok -e "SHOW STAUTS")
check "a malformed command: ERR 1064 naming what was expected" \
	"$(has "$out" "ERROR 1064 (42000) at line 1: SHOW: expected STATUS, SESSIONS, SERVERS, JOURNAL, SNAPSHOTS, CONFIG, THROTTLE or QUERY DIGESTS after SHOW, got 'STAUTS'")" \
	"$out"
out=$(ok -e "FLUSH TABLES")
check "an unknown command: ERR 1064" "$(has "$out" "ERROR 1064 (42000) at line 1: unknown command 'FLUSH'")" "$out"
out=$(raw @0e @0a @02 "SHOW SNAPSHOTS")
check "COM_PING and COM_INIT_DB: OK; another command: ERR 1047, and the session goes on" \
	"$([[ $out == "OK"$'\n'"ERR 1047 "*"COM_PROCESS_INFO is not supported"*$'\n'"OK"$'\n'"id	sequence"* ]] && echo 1 || echo 0)" \
	"$(tr '\n' '|' <<<"$out")"
out=$(ok -e "SHOW STATUS; SHOW SERVERS")
check "the client splits statements: both answered" \
	"$([[ $out == *"last_snapshot	none"* && $out == *"127.0.0.1:$DB_PORT	up"* ]] && echo 1 || echo 0)" \
	"$(tail -n 2 <<<"$out" | tr '\n' '|')"
out=$(ok -D somedb -N -e "SELECT @@version_comment")
check "a database in the login (or COM_INIT_DB) is accepted" "$(has "$out" "acctgate admin port")" "$out"

# ---- RELOAD ---------------------------------------------------------------------
conf user=admin password_file="$pwfile" tls_cert="$CERTS/server-cert.pem" tls_key="$CERTS/server-key.pem" \
	-- max_connections=77
log_mark "$ag/acctgate.log"
out=$(ok -e "RELOAD")
v=$(ok -N -e "SHOW CONFIG" | awk -F'\t' '$1 == "proxy" && $2 == "max_connections" { print $3 }')
check "RELOAD with a good file: OK, and the new value runs" \
	"$([[ -z $out && $v == 77 ]] && echo 1 || echo 0)" "answer '$out', max_connections $v, log: $(since | grep -E 'reload' | tr '\n' ' ')"
printf 'bogus_key = 1\n' >>"$ag/acctgate.conf"
bad_line=$(wc -l <"$ag/acctgate.conf")
out=$(ok -e "reload;")
check "RELOAD with a bad file: ERR naming file, line and key" \
	"$(has "$out" "reload refused, running configuration kept: $ag/acctgate.conf:$bad_line: [admin] bogus_key: unknown key")" \
	"$out"
out=$(timeout 20 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" -B -N -e "SELECT 'still'" 2>&1)
check "after a refused RELOAD acctgate serves clients as before" "$(is "$out" still)" "$out"

# ---- [admin] auth (reloadable) ---------------------------------------------------
conf_auth() { conf user=admin password_file="$pwfile" tls_cert="$CERTS/server-cert.pem" tls_key="$CERTS/server-key.pem" "$@"; }
conf_auth auth=ed25519
out=$(ok -e "RELOAD")
check "RELOAD to auth = ed25519" "$([[ -z $out ]] && echo 1 || echo 0)" "$out"
log_mark "$ag/acctgate.log"
out=$(ok -N -e "SELECT @@version_comment")
n=$(since | grep -cE "'admin' logged in from 127.0.0.1:[0-9]+ \((TLS|plaintext), client_ed25519\)")
check "auth = ed25519: the stock client, asking for nothing, is switched to client_ed25519 and logs in" \
	"$([[ $out == *"acctgate admin port"* && $n == 1 ]] && echo 1 || echo 0)" "$out; $(since | grep 'logged in')"
out=$(raw "SHOW SERVERS")
check "auth = ed25519: a native login is switched to client_ed25519, and a native answer refused" \
	"$([[ $(header "$out") == "switched to client_ed25519 (32 bytes)" && $out == *"ERR 1045 "* ]] && echo 1 || echo 0)" \
	"$(tr '\n' '|' <<<"$out")"
out=$(raw --no-plugin-auth "SHOW SERVERS")
check "auth = ed25519: a client without plugin authentication gets ERR 1251" \
	"$(has "$out" "ERR 1251 acctgate admin port takes client_ed25519 logins only ([admin] auth = ed25519)")" "$out"
v=$(ok -N -e "SHOW CONFIG" | awk -F'\t' '$1 == "admin" && $2 == "auth" { print $3 "/" $4 }')
check "SHOW CONFIG: auth ed25519, reloadable" "$(is "$v" "ed25519/reload")" "$v"
conf_auth auth=native
out=$(ok -e "RELOAD")
log_mark "$ag/acctgate.log"
out=$(ok "${ed[@]}" -N -e "SELECT @@version_comment")
n=$(since | grep -cE "'admin' logged in from 127.0.0.1:[0-9]+ \((TLS|plaintext), mysql_native_password\)")
check "auth = native: a client asking for client_ed25519 is switched to mysql_native_password" \
	"$([[ $out == *"acctgate admin port"* && $n == 1 ]] && echo 1 || echo 0)" "$out; $(since | grep 'logged in')"
conf_auth auth=sha1
bad_line=$(grep -n '^auth = ' "$ag/acctgate.conf" | cut -d: -f1)
out=$(ok -e "RELOAD")
check "auth = sha1: RELOAD refused naming file, line, key and the choices" \
	"$(has "$out" "$ag/acctgate.conf:$bad_line: [admin] auth: expected one of any | native | ed25519, got 'sha1'")" "$out"
conf_auth
out=$(ok -e "RELOAD")
check "RELOAD back to the default (any)" "$([[ -z $out ]] && echo 1 || echo 0)" "$out"

# ---- garbage on the port -------------------------------------------------------
junk=$(/usr/bin/python3 - "$adm" <<'EOF'
import socket, struct, sys
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.recv(4096)  # the greeting
    return s
def answer(s):
    try:
        data = s.recv(4096)
    except OSError as e:
        return "error " + str(e)
    if len(data) >= 7 and data[4] == 0xFF:
        return "ERR %d" % struct.unpack("<H", data[5:7])[0]
    return "closed" if not data else "bytes"
out = []
s = conn(); s.sendall(b"\xde\xad\xbe\xef" * 50); out.append(answer(s)); s.close()
s = conn(); s.sendall(b"\xff\xff\xff\x01" + b"A" * 100); out.append(answer(s)); s.close()
s = conn(); s.sendall(b"\x05\x00\x00\x01hello"); out.append(answer(s)); s.close()
s = conn(); s.sendall(b"\x00\x00\x00\x01"); out.append(answer(s)); s.close()
s = conn(); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); out.append(answer(s)); s.close()
s = socket.create_connection(("127.0.0.1", port), timeout=5); s.close()  # connect, then nothing
for i in range(20):  # more connections than the admin port takes at once
    try:
        t = socket.create_connection(("127.0.0.1", port), timeout=5); t.sendall(b"\x13\x37" * 25); t.close()
    except OSError:
        pass
print(" ".join(out))
EOF
)
check "garbage before the login: an ERR or a close each time" \
	"$([[ $junk =~ ^((ERR\ [0-9]+|closed)\ ?)+$ ]] && echo 1 || echo 0)" "$junk"
check "acctgate is still running" "$(kill -0 "$(<"$ag/acctgate.pid")" 2>/dev/null && echo 1 || echo 0)" ""
sleep 0.5
out=$(ok -N -e "SELECT @@version_comment")
check "after the garbage the next admin login is served" "$(has "$out" "acctgate admin port")" "$out"
out=$(timeout 20 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" -B -N -e "SELECT 'client ok'" 2>&1)
check "and so is a client session" "$(is "$out" "client ok")" "$out"

# ---- TLS -------------------------------------------------------------------------
out=$(ok --ssl --ssl-ca="$CERTS/ca.pem" -N -e "SHOW STATUS" | grep -E '^admin_tls')
check "--ssl on the admin port (client_tls = optional)" "$(is "$out" "admin_tls	optional")" "$out"
line=$(since | grep -E "'admin' logged in from 127.0.0.1:[0-9]+ \(TLS, mysql_native_password\)" | tail -n 1)
check "the admin session is encrypted" "$([[ -n $line ]] && echo 1 || echo 0)" "${line:-no TLS login logged}"
sess_close_all
lab_acctgate_stop "$ag"
conf user=admin password_file="$pwfile" tls_cert="$CERTS/server-cert.pem" tls_key="$CERTS/server-key.pem" \
	client_tls=required
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
lab_wait_port "$adm" 10 "$(<"$ag/acctgate.pid")" "$ag/acctgate.log" || exit 1
out=$(ok --skip-ssl -e "SHOW STATUS")
check "client_tls = required: a plaintext login gets ERR 3159" "$(has "$out" "ERROR 3159")" "$out"
out=$(ok --ssl --ssl-ca="$CERTS/ca.pem" -N -e "SHOW STATUS" | grep -E '^admin_tls')
check "client_tls = required: --ssl gets in" "$(is "$out" "admin_tls	required")" "$out"
lab_acctgate_stop "$ag"

# ---- not configured --------------------------------------------------------------
conf
log_mark "$ag/acctgate.log"
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
sleep 0.3
line=$(since | grep -F "admin port not started")
check "without user and password_file the admin port does not start, and the log says why" \
	"$([[ $line == *"[admin] user and password_file are not set"* ]] && ! lab_port_in_use "$adm" && echo 1 || echo 0)" \
	"${line:-no log line}"
lab_acctgate_stop "$ag"

((failures)) && log_since "$ag/acctgate.log"
echo "$failures check(s) failed"
((failures == 0))
