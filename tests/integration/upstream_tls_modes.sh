#!/usr/bin/env bash
# upstream_tls_modes.sh LABDIR CLIENT_BIN - the [upstream] tls modes below
# verify_ca do what they say and no more, read from MariaDB's side of
# acctgate's leg (the session's Ssl_cipher; the client leg is plaintext
# throughout, so a cipher there can only be acctgate's):
#   required   TLS without any check: the impostor's certificate is
#              accepted; a server without TLS is refused with its own reason
#              and no login reaches its general log;
#   preferred  TLS with a server that offers it (the impostor too), and
#              plaintext only with one that does not, logged as such;
#   disabled   plaintext, even to a server that offers TLS.
# At start every mode but verify_identity logs a warning naming the mode
# (verify_ca too: it does not check the name); verify_identity logs none.
# Direct mode proves the two servers and the query with the mariadb client:
# the impostor serves TLS (Ssl_cipher set) with a chain that fails
# verification, --skip-ssl to it reads an empty Ssl_cipher, and the other
# server offers no TLS.
set -uo pipefail
. "$(dirname "$0")/common.sh"
db=$lab/db-modes
dbplain=$lab/db-modesplain
# One acctgate per mode and server: name -> "mode server" (server is tls,
# the impostor's, or plain).
declare -A spec=([required-tls]="required tls" [required-plain]="required plain"
	[preferred-tls]="preferred tls" [preferred-plain]="preferred plain" [disabled-tls]="disabled tls"
	[verify_ca]="verify_ca tls" [verify_identity]="verify_identity tls")
names=(required-tls required-plain preferred-tls preferred-plain disabled-tls verify_ca verify_identity)
cleanup() {
	local n
	for n in "${names[@]}"; do lab_acctgate_stop "$lab/ag-mode-$n"; done
	lab_mariadb_stop "$db"
	lab_mariadb_stop "$dbplain"
}
trap cleanup EXIT

dbport=$(lab_free_port $((DB_PORT + 80)))
lab_mariadb_start "$db" "$dbport" "$CERTS" impostor || exit 1
plainport=$(lab_free_port $((dbport + 1)))
lab_mariadb_start "$dbplain" "$plainport" "$CERTS" none || exit 1

# cipher PORT [mariadb options...]: one session; prints the Ssl_cipher
# MariaDB sees on it (an empty line: plaintext), or the client's error.
cipher() {
	local port=$1
	shift
	timeout 30 mariadb -h 127.0.0.1 -P "$port" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 -B -N \
		"$@" -e "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'" 2>&1
}
# logins DIR: how many logins DIR's server has seen.
logins() { grep -c "slurm@" "$1/general.log"; }

if [[ $MODE == direct ]]; then
	out=$(cipher "$dbport" --ssl); rc=$?
	check "impostor server speaks TLS" "$((rc == 0 && ${#out} > 0))" "Ssl_cipher '$out'"
	out=$(cipher "$dbport" --ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem"); rc=$?
	check "impostor's chain fails verification" \
		"$([[ $rc != 0 && $out == *"unable to get local issuer certificate"* ]] && echo 1 || echo 0)" "$out"
	out=$(cipher "$dbport" --skip-ssl); rc=$?
	check "plaintext session reads an empty Ssl_cipher" "$([[ $rc == 0 && -z $out ]] && echo 1 || echo 0)" \
		"rc $rc, Ssl_cipher '$out'"
	out=$(cipher "$plainport" --ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem"); rc=$?
	check "other server offers no TLS" \
		"$([[ $rc != 0 && $out == *"server does not support it"* ]] && echo 1 || echo 0)" "$out"
	exit $((failures != 0))
fi

declare -A port=()
i=0
for n in "${names[@]}"; do
	read -r tlsmode server <<<"${spec[$n]}"
	a=$lab/ag-mode-$n
	# Logs are appended to: the start-up warnings must be this run's.
	rm -f "$a/acctgate.log"
	port[$n]=$(lab_free_port $((TARGET_PORT + 80 + i)))
	ups=127.0.0.1:$dbport
	[[ $server == plain ]] && ups=127.0.0.1:$plainport
	lab_acctgate_conf "$a/acctgate.conf" "${port[$n]}" "$ups" "$CERTS" tls="$tlsmode"
	lab_acctgate_start "$a" "$a/acctgate.conf" || exit 1
	i=$((i + 1))
done

# ---- start-up warnings ------------------------------------------------------
for n in required-tls preferred-tls disabled-tls verify_ca; do
	read -r tlsmode _ <<<"${spec[$n]}"
	line=$(grep -F " warning [upstream] tls = $tlsmode: " "$lab/ag-mode-$n/acctgate.log")
	check "tls = $tlsmode warned about at start" "$([[ -n $line ]] && echo 1 || echo 0)" "${line:-no warning}"
done
line=$(grep -F "[upstream] tls = " "$lab/ag-mode-verify_identity/acctgate.log")
check "tls = verify_identity not warned about" "$([[ -z $line ]] && echo 1 || echo 0)" "${line:-no warning}"

# ---- what each mode does with each server -----------------------------------
# through NAME WANT(tls|plain): a session through NAME's acctgate answers,
# and MariaDB saw TLS (a cipher) or plaintext on acctgate's leg.
through() {
	local n=$1 want=$2 out rc ok=0
	out=$(cipher "${port[$n]}" --skip-ssl)
	rc=$?
	if ((rc == 0)); then
		[[ $want == tls && -n $out ]] && ok=1
		[[ $want == plain && -z $out ]] && ok=1
	fi
	check "$n: $want on acctgate's leg" "$ok" "rc $rc, Ssl_cipher '$out'"
	((ok)) || log_since "$lab/ag-mode-$n/acctgate.log"
}
through required-tls tls
through preferred-tls tls
through preferred-plain plain
through disabled-tls plain

a=$lab/ag-mode-preferred-plain
line=$(grep -F "upstream 127.0.0.1:$plainport offers no TLS; continuing in plaintext (tls = preferred)" "$a/acctgate.log" |
	tail -n1)
check "preferred: the fallback is logged" "$([[ -n $line ]] && echo 1 || echo 0)" "${line:-no such line}"

before=$(logins "$dbplain")
out=$(cipher "${port[required-plain]}" --skip-ssl); rc=$?
n=$(($(logins "$dbplain") - before))
want="database server 127.0.0.1:$plainport does not offer TLS and [upstream] tls = required forbids plaintext; no credentials were sent"
check "required: a server without TLS is refused" "$([[ $rc != 0 && $n == 0 && $out == *"$want"* ]] && echo 1 || echo 0)" \
	"rc $rc, server saw $n login(s): $out"
((failures == 0))
