#!/usr/bin/env bash
# caching_sha2.sh LABDIR CLIENT_BIN - caching_sha2_password, MySQL 8's default
# login, through acctgate. MariaDB has no server side of it, so the server is
# fake_mysql8.py (with the lab certificate), whose log says what reached it:
# per login, TLS or not, fast or full (in clear over TLS, RSA over
# plaintext), whether it sent its key, whether a password came in clear.
# The client is the mariadb command line: libmariadb's plugin asks for the
# server's RSA key by itself on a plaintext connection (MySQL's client needs
# --get-server-public-key), and --skip-ssl makes one, since the 10.11 client
# uses TLS whenever the server offers it.
#   Prelude, the peer itself, client straight to it (direct mode too): cold
#   cache over plaintext is RSA with the key fetched, then fast; cold over
#   TLS is the password in clear; a wrong password gets ERR 1045 on both
#   paths; a mysql_native_password greeting switches to caching_sha2.
#   Through acctgate (ag-sha2: upstream tls = verify_identity; ag-sha2-plainup:
#   tls = disabled; ag-sha2-switch: verify_identity to the switching peer):
#   1. cold, plain-plain: RSA end to end, login and query;
#   2. warm: fast authentication on all four leg combinations;
#   3. cold, TLS-TLS: the password in clear inside both TLS connections;
#   4. cold, plain client over a TLS upstream (slurmdbd's default): MySQL
#      reads whatever comes over TLS as the clear password and never sends
#      its key there, so acctgate answers the client's key request with its
#      own key, decrypts, and passes the password on in clear inside TLS:
#      login and query, the server never asked for its key; the same after
#      an AuthSwitch (case 7);
#   5. cold, TLS client over a plaintext upstream: acctgate refuses with its
#      ERR 1045, and no password ever reached the server in clear;
#   6. a wrong password: the server's ERR 1045 reaches the client unchanged;
#   7. the AuthSwitch path logs in, full (cold) and fast (warm).
# In direct mode only the prelude runs, then 77 (the rest is acctgate's).
set -uo pipefail
. "$(dirname "$0")/common.sh"
# Debian's interpreter: python3-cryptography is installed for it, not for
# whatever python3 comes first in PATH.
py=/usr/bin/python3
fk=$lab/fake-sha2 fks=$lab/fake-sha2-switch
ag=$lab/ag-sha2 agp=$lab/ag-sha2-plainup ags=$lab/ag-sha2-switch
user=sha2 pass=sha2pw
cleanup() {
	lab_acctgate_stop "$ag"
	lab_acctgate_stop "$agp"
	lab_acctgate_stop "$ags"
	lab_kill_pidfiles 5 "fake_mysql8:$fk/fake.pid" "fake_mysql8:$fks/fake.pid"
}
trap cleanup EXIT
# Logs are appended to: checks must read this run's lines only.
rm -f "$ag/acctgate.log" "$agp/acctgate.log" "$ags/acctgate.log" "$fk/fake.log" "$fks/fake.log"

# start_fake DIR PORT GREETING_PLUGIN: fake_mysql8.py on 127.0.0.1:PORT,
# TLS with the lab server certificate, one caching_sha2 user.
start_fake() {
	mkdir -p "$1"
	rm -f "$1/fake.pid"
	"$py" "$here/fake_mysql8.py" --port "$2" --user "$user:$pass" --cert "$CERTS/server-cert.pem" \
		--key "$CERTS/server-key.pem" --greeting-plugin "$3" --pidfile "$1/fake.pid" --log "$1/fake.log" \
		</dev/null >/dev/null 2>"$1/stderr.log" &
	lab_wait_port "$2" 20 $! "$1/stderr.log" "$1/fake.log"
}

# login FAKEDIR PORT LEG PASSWORD: one mariadb session to PORT (LEG plain or
# tls, verified against the lab CA) running the query below; sets out (the
# client's output), rc, and line: the fake's log line for this login, which
# may come after the client has its answer (a refusal ends at the server
# once acctgate's empty password arrives).
query="SELECT 1, CURRENT_USER()" answer=$'1\tsha2@%'
login() {
	local f=$1/fake.log port=$2 leg=$3 pw=$4 n deadline
	local -a tls=(--skip-ssl)
	[[ $leg == tls ]] && tls=(--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem")
	n=$(grep -c '^login ' "$f")
	out=$(timeout 30 mariadb -h 127.0.0.1 -P "$port" -u "$user" -p"$pw" --connect-timeout=10 "${tls[@]}" \
		-B -N -e "$query" 2>&1)
	rc=$?
	deadline=$((SECONDS + 10))
	until line=$(grep '^login ' "$f" | sed -n "$((n + 1))p") && [[ -n $line ]] || ((SECONDS >= deadline)); do
		sleep 0.05
	done
}
# has WORD...: every key=value WORD is in the login line ($line).
has() {
	local w
	for w in "$@"; do
		[[ " $line " == *" $w "* ]] || return 1
	done
}
# flush FAKEDIR PORT: empty the fake's cache (FLUSH PRIVILEGES, as on MySQL).
flush() {
	timeout 30 mariadb -h 127.0.0.1 -P "$2" -u "$user" -p"$pass" --connect-timeout=10 --skip-ssl \
		-e "FLUSH PRIVILEGES" >/dev/null 2>&1 || { lab_fail "FLUSH PRIVILEGES failed on $2" "$1/fake.log"; exit 1; }
}

fp=$(lab_free_port $((DB_PORT + 85)))
start_fake "$fk" "$fp" caching_sha2_password || exit 1
fsp=$(lab_free_port $((fp + 1)))
start_fake "$fks" "$fsp" mysql_native_password || exit 1

# ---- prelude: the peer, straight from the client -----------------------------
flush "$fk" "$fp"
login "$fk" "$fp" plain "$pass"
check "peer: cold, plaintext: RSA with the key fetched" \
	"$(has tls=no path=full-rsa pubkey=yes cleartext=no result=ok && [[ $out == "$answer" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"
login "$fk" "$fp" plain "$pass"
check "peer: warm: fast" "$(has tls=no path=fast result=ok && echo 1 || echo 0)" "${line:-no login line}"
flush "$fk" "$fp"
login "$fk" "$fp" tls "$pass"
check "peer: cold, TLS: password in clear" \
	"$(has tls=yes path=full-tls cleartext=yes result=ok && [[ $out == "$answer" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"
# The peer's refusal, worded as MySQL's; case 6 expects it through acctgate
# byte for byte.
msg="ERROR 1045 (28000): Access denied for user '$user'@'127.0.0.1' (using password: YES)"
login "$fk" "$fp" tls wrongpw
check "peer: wrong password over TLS" \
	"$(has path=full-tls result=denied reason=wrong-password && [[ $rc != 0 && $out == "$msg" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"
login "$fk" "$fp" plain wrongpw
check "peer: wrong password over RSA" \
	"$(has path=full-rsa result=denied reason=wrong-password && [[ $rc != 0 && $out == "$msg" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"
login "$fks" "$fsp" tls "$pass"
check "peer: native greeting switches to caching_sha2" \
	"$(has switch=yes path=full-tls result=ok && [[ $out == "$answer" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"

if [[ $MODE == direct ]]; then
	((failures)) && exit 1
	echo "SKIP: the rest is acctgate's"
	exit 77
fi

# ---- through acctgate ----------------------------------------------------------
a=$(lab_free_port $((TARGET_PORT + 85)))
lab_acctgate_conf "$ag/acctgate.conf" "$a" "127.0.0.1:$fp" "$CERTS" tls=verify_identity
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
ap=$(lab_free_port $((a + 1)))
lab_acctgate_conf "$agp/acctgate.conf" "$ap" "127.0.0.1:$fp" "$CERTS" tls=disabled
lab_acctgate_start "$agp" "$agp/acctgate.conf" || exit 1
as=$(lab_free_port $((ap + 1)))
lab_acctgate_conf "$ags/acctgate.conf" "$as" "127.0.0.1:$fsp" "$CERTS" tls=verify_identity
lab_acctgate_start "$ags" "$ags/acctgate.conf" || exit 1

# 1. Cold cache, plaintext on both legs.
flush "$fk" "$fp"
login "$fk" "$ap" plain "$pass"
check "1 cold, plain-plain: RSA end to end" \
	"$(has tls=no path=full-rsa pubkey=yes cleartext=no result=ok && [[ $out == "$answer" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"

# 2. Warm cache (from 1): fast on every combination. acctgate's own line
#    says which legs the session had.
for legs in plain-plain plain-tls tls-tls tls-plain; do
	client_leg=${legs%-*} server_leg=${legs#*-}
	if [[ $server_leg == tls ]]; then port=$a d=$ag up=yes; else port=$ap d=$agp up=no; fi
	login "$fk" "$port" "$client_leg" "$pass"
	agline=$(grep -F "'$user' authenticated" "$d/acctgate.log" | tail -n1)
	want="(client ${client_leg/tls/TLS}, server ${server_leg/tls/TLS})"
	check "2 warm, $legs: fast" \
		"$(has tls=$up path=fast result=ok && [[ $out == "$answer" && $agline == *"$want" ]] && echo 1 || echo 0)" \
		"${line:-no login line}; client: $out; acctgate: ${agline##*: }"
done

# 3. Cold cache, TLS on both legs.
flush "$fk" "$fp"
login "$fk" "$a" tls "$pass"
check "3 cold, tls-tls: password in clear inside TLS" \
	"$(has tls=yes path=full-tls cleartext=yes result=ok && [[ $out == "$answer" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"

# 4. Cold cache, plaintext client, TLS upstream: acctgate lends its key.
flush "$fk" "$fp"
login "$fk" "$a" plain "$pass"
check "4 cold, plain-tls: RSA to acctgate, clear inside TLS to the server" \
	"$(has tls=yes path=full-tls pubkey=no cleartext=yes result=ok && [[ $out == "$answer" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"
login "$fk" "$a" plain wrongpw
check "4 wrong password, plain-tls: the server's ERR unchanged" \
	"$(has path=full-tls result=denied reason=wrong-password && [[ $rc != 0 && $out == "$msg" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"

# 5. Cold cache, TLS client, plaintext upstream.
flush "$fk" "$fp"
login "$fk" "$ap" tls "$pass"
check "5 cold, tls-plain: refused by acctgate" \
	"$([[ $rc != 0 && $out == "ERROR 1045 (28000): acctgate: "*"server leg is not encrypted"* ]] && echo 1 || echo 0)" \
	"$out"
check "5 no password reached the server" \
	"$(has tls=no cleartext=no && [[ $line == *" path=full"* ]] && echo 1 || echo 0)" \
	"${line:-no login line}"
check "5 the server saw a failed login, not a vanished client" "$(has result=denied && echo 1 || echo 0)" \
	"${line:-no login line}"

# 6. Wrong password, on each full-authentication path acctgate allows.
login "$fk" "$a" tls wrongpw
check "6 wrong password, tls-tls: the server's ERR unchanged" \
	"$(has path=full-tls result=denied reason=wrong-password && [[ $rc != 0 && $out == "$msg" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"
login "$fk" "$ap" plain wrongpw
check "6 wrong password, plain-plain: the server's ERR unchanged" \
	"$(has path=full-rsa result=denied reason=wrong-password && [[ $rc != 0 && $out == "$msg" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"

# 7. AuthSwitch: the greeting names mysql_native_password, the server
#    switches the client to caching_sha2_password. The switching peer's
#    cache is warm from the prelude: flush it for the full path first.
flush "$fks" "$fsp"
login "$fks" "$as" tls "$pass"
check "7 switch, cold, tls-tls: full" \
	"$(has switch=yes tls=yes path=full-tls result=ok && [[ $out == "$answer" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"
flush "$fks" "$fsp"
login "$fks" "$as" plain "$pass"
check "7 switch, cold, plain-tls: full, through acctgate's key" \
	"$(has switch=yes tls=yes path=full-tls cleartext=yes result=ok && [[ $out == "$answer" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"
login "$fks" "$as" plain "$pass"
check "7 switch, warm, plain-tls: fast" \
	"$(has switch=yes tls=yes path=fast result=ok && [[ $out == "$answer" ]] && echo 1 || echo 0)" \
	"${line:-no login line}; client: $out"

# Over the whole run: nothing arrived in clear on a plaintext connection.
n=$(grep '^login ' "$fk/fake.log" "$fks/fake.log" | grep ' tls=no ' | grep -c ' cleartext=yes ')
check "no password in clear on a plaintext server connection" "$((n == 0))" "$n such logins"

if ((failures)); then
	log_since "$ag/acctgate.log"
	log_since "$agp/acctgate.log"
	log_since "$ags/acctgate.log"
	cat "$fk/fake.log" "$fks/fake.log"
	exit 1
fi
