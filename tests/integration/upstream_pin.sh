#!/usr/bin/env bash
# upstream_pin.sh LABDIR CLIENT_BIN - [upstream] tls_pin_sha256: the
# server's public key pinned on top of verify_identity (a CA that signs for
# anyone, like a cloud provider's, no longer suffices). The right pin logs
# in, as 64 hex digits and as curl-style "sha256//base64"; a wrong pin (the
# pin of another lab key, whose certificate would verify) is refused with
# the reason and the server's actual key hash in the client's error, and no
# login reaches the server's general log.
# (tls_client_ca on the client leg is client_tls.sh's.)
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: key pinning is acctgate's"; exit 77; }
db=$lab/db-pin
ags=("$lab/ag-pin-hex" "$lab/ag-pin-b64" "$lab/ag-pin-wrong")
cleanup() {
	local a
	for a in "${ags[@]}"; do lab_acctgate_stop "$a"; done
	lab_mariadb_stop "$db"
}
trap cleanup EXIT
failures=0

# spki_sha256 CERT [hex|base64]: the hash tls_pin_sha256 compares.
spki_sha256() {
	openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
		if [[ $2 == hex ]]; then openssl dgst -sha256 -r | cut -d' ' -f1; else openssl dgst -sha256 -binary | base64; fi
}
pin_hex=$(spki_sha256 "$CERTS/server-cert.pem" hex)
pin_b64=$(spki_sha256 "$CERTS/server-cert.pem" base64)
pin_other=$(spki_sha256 "$CERTS/client-cert.pem" hex)

dbport=$(lab_free_port $((DB_PORT + 70)))
lab_mariadb_start "$db" "$dbport" "$CERTS" server || exit 1
declare -A port=()
i=0
for pin in "$pin_hex" "sha256//$pin_b64" "$pin_other"; do
	a=${ags[$i]}
	port[$i]=$(lab_free_port $((TARGET_PORT + 70 + i)))
	lab_acctgate_conf "$a/acctgate.conf" "${port[$i]}" "127.0.0.1:$dbport" "$CERTS" tls=verify_identity \
		tls_pin_sha256="$pin"
	lab_acctgate_start "$a" "$a/acctgate.conf" || exit 1
	i=$((i + 1))
done

# attempt INDEX EXPECT(ok|refused) WHAT [REASON]
attempt() {
	local a=${ags[$1]} expect=$2 what=$3 want=${4:-} out rc before logins
	before=$(grep -c "slurm@" "$db/general.log")
	out=$(timeout 30 mariadb -h 127.0.0.1 -P "${port[$1]}" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" \
		--connect-timeout=10 -B -N -e "SELECT CURRENT_USER()" 2>&1)
	rc=$?
	logins=$(($(grep -c "slurm@" "$db/general.log") - before))
	if [[ $expect == ok ]] && ((rc == 0 && logins > 0)) && [[ $out == "slurm@%" ]]; then
		echo "PASS $what: logged in"
	elif [[ $expect == refused ]] && ((rc != 0 && logins == 0)) && [[ $out == *"$want"* ]]; then
		echo "PASS $what: refused, no login reached the server: $out"
	else
		echo "FAIL $what: expected $expect${want:+ with '$want'}; rc $rc, server saw $logins login(s): $out"
		tail -n 20 "$a/acctgate.log"
		failures=$((failures + 1))
	fi
}
attempt 0 ok "right pin (hex)"
attempt 1 ok "right pin (sha256//base64)"
attempt 2 refused "wrong pin" "server public key does not match tls_pin_sha256 (server's key is sha256 $pin_hex)"
((failures == 0))
