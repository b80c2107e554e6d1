#!/usr/bin/env bash
# client_tls.sh LABDIR CLIENT_BIN - acctgate's client leg with
# client_tls = required and tls_client_ca = the lab CA: plaintext is refused
# with ERR 3159, TLS without a client certificate is refused, TLS with the
# lab client certificate logs in. acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: acctgate's client-certificate policy has no direct-mode equivalent"; exit 77; }
d=$lab/ag-ctls
ap=$(lab_free_port $((TARGET_PORT + 20)))
lab_acctgate_conf "$d/acctgate.conf" "$ap" "127.0.0.1:$DB_PORT" "$CERTS" client_tls=required \
	tls_client_ca="$CERTS/ca.pem"
lab_acctgate_start "$d" "$d/acctgate.conf" || exit 1
trap 'lab_acctgate_stop "$d"' EXIT
log_mark "$d/acctgate.log"
m() { timeout 30 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 -B -N "$@"; }
failures=0

out=$(m --skip-ssl -e "SELECT 1" 2>&1); rc=$?
if ((rc != 0)) && [[ $out == *3159* ]]; then echo "PASS plaintext refused: $out"
else echo "FAIL plaintext: expected ERROR 3159, rc $rc: $out"; failures=$((failures + 1)); fi

out=$(m --ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -e "SELECT 1" 2>&1); rc=$?
if ((rc != 0)); then echo "PASS TLS without a client certificate refused: $out"
else echo "FAIL TLS without a client certificate was accepted: $out"; failures=$((failures + 1)); fi

out=$(m --ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" --ssl-cert="$CERTS/client-cert.pem" \
	--ssl-key="$CERTS/client-key.pem" -e "SELECT CURRENT_USER()" 2>&1); rc=$?
if ((rc == 0)) && [[ $out == "slurm@%" ]]; then echo "PASS TLS with the lab client certificate: $out"
else echo "FAIL TLS with the lab client certificate: rc $rc: $out"; failures=$((failures + 1)); fi

out=$(m --ssl-ca="$CERTS/ca.pem" --ssl-cert="$CERTS/impostor-cert.pem" --ssl-key="$CERTS/impostor-key.pem" \
	-e "SELECT 1" 2>&1); rc=$?
if ((rc != 0)); then echo "PASS client certificate from another CA refused: $out"
else echo "FAIL client certificate from another CA accepted"; failures=$((failures + 1)); fi

((failures)) && log_since "$d/acctgate.log"
((failures == 0))
