#!/usr/bin/env bash
# upstream_reload.sh LABDIR CLIENT_BIN - SIGHUP rotates the client-leg
# certificate without hurting anyone: certificates are renewed while
# slurmdbd stays connected, and a botched rotation must not take the proxy
# down.
#   - an open TLS session survives every reload and keeps working (same
#     CONNECTION_ID, queries answered);
#   - a garbage tls_cert, then a new certificate with the old key, are each
#     refused with a log line naming the problem, and the old certificate
#     stays: new sessions still verify (mariadb --ssl-verify-server-cert)
#     and `openssl s_client -starttls mysql` still sees the old fingerprint;
#   - a good new pair is picked up: the served fingerprint is the new one.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: certificate reload is acctgate's"; exit 77; }
d=$lab/ag-reload
sess_pid=""
cleanup() {
	[[ -n $sess_pid ]] && kill "$sess_pid" 2>/dev/null
	lab_acctgate_stop "$d"
}
trap cleanup EXIT
trap '' PIPE # a session that died must fail a check, not kill the script

mkdir -p "$d/tls"
cp "$CERTS/server-cert.pem" "$d/tls/cert.pem"
cp "$CERTS/server-key.pem" "$d/tls/key.pem"
ap=$(lab_free_port $((TARGET_PORT + 50)))
lab_acctgate_conf "$d/acctgate.conf" "$ap" "127.0.0.1:$DB_PORT" "$CERTS" client_tls=required \
	tls_cert="$d/tls/cert.pem" tls_key="$d/tls/key.pem"
lab_acctgate_start "$d" "$d/acctgate.conf" || exit 1

# served_fp: the SHA-256 fingerprint of the certificate acctgate serves now.
served_fp() {
	timeout 10 openssl s_client -starttls mysql -connect "127.0.0.1:$ap" </dev/null 2>/dev/null |
		openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
file_fp() { openssl x509 -in "$1" -noout -fingerprint -sha256; }
# new_session: a new session that verifies acctgate's certificate.
new_session() {
	timeout 30 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 \
		--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -B -N -e "SELECT 'ok'" 2>&1
}
# The session held open across all reloads: mariadb reading SQL from a pipe
# (-n: answer each statement as it completes).
coproc SESS { exec timeout 120 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" \
	--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -n -B -N 2>&1; }
# shellcheck disable=SC2153 # SESS_PID is set by coproc
sess_pid=$SESS_PID sess_in=${SESS[1]} sess_out=${SESS[0]}
# sq SQL: run SQL in the open session; print its one-line answer (10 s max).
sq() {
	local line=""
	printf '%s;\n' "$1" 1>&"$sess_in" 2>/dev/null && IFS= read -r -t 10 line <&"$sess_out"
	printf '%s\n' "$line"
}
cid=$(sq "SELECT CONNECTION_ID()")
check "open session" "$([[ $cid =~ ^[0-9]+$ ]] && echo 1 || echo 0)" "CONNECTION_ID $cid"
fp_old=$(served_fp)
check "served certificate" "$([[ -n $fp_old && $fp_old == "$(file_fp "$d/tls/cert.pem")" ]] && echo 1 || echo 0)" \
	"${fp_old:-none}"

line=$(lab_acctgate_reload "$d")
check "plain reload" "$([[ $line == *"reload done"* ]] && echo 1 || echo 0)" "${line:-no verdict in the log}"
out=$(sq "SELECT CONNECTION_ID()")
check "open session survives the reload" "$([[ $out == "$cid" ]] && echo 1 || echo 0)" "CONNECTION_ID $out"

# Two botched rotations, each refused with its reason; the old pair stays.
echo "this is not a certificate" >"$d/tls/cert.pem"
line=$(lab_acctgate_reload "$d")
check "garbage certificate refused" \
	"$([[ $line == *"reload refused"* && $line == *"cannot load certificate $d/tls/cert.pem"*"no start line"* ]] &&
		echo 1 || echo 0)" \
	"${line:-no verdict in the log}"
# A new certificate (lab CA, same names) for a new key; first with the old key.
if ! openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$d/tls/new-key.pem" -subj "/CN=localhost" \
	-out "$d/tls/new.csr" 2>/dev/null ||
	! openssl x509 -req -in "$d/tls/new.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca-key.pem" \
		-set_serial "0x$(openssl rand -hex 12)" -days 30 -sha256 -out "$d/tls/new-cert.pem" \
		-extfile <(printf '%s\n' 'basicConstraints=CA:FALSE' 'extendedKeyUsage=serverAuth' \
			'subjectAltName=DNS:localhost,IP:127.0.0.1') 2>/dev/null; then
	echo "FAIL cannot make a new certificate"
	exit 1
fi
cp "$d/tls/new-cert.pem" "$d/tls/cert.pem"
line=$(lab_acctgate_reload "$d")
check "certificate without its key refused" \
	"$([[ $line == *"reload refused"* && $line == *"private key $d/tls/key.pem"*"mismatch"* ]] && echo 1 || echo 0)" \
	"${line:-no verdict in the log}"
out=$(new_session)
check "new sessions still verify" "$([[ $out == ok ]] && echo 1 || echo 0)" "$out"
fp=$(served_fp)
check "old certificate still served" "$([[ $fp == "$fp_old" ]] && echo 1 || echo 0)" "${fp:-none}"
out=$(sq "SELECT CONNECTION_ID()")
check "open session survives refused reloads" "$([[ $out == "$cid" ]] && echo 1 || echo 0)" "CONNECTION_ID $out"

# The good pair.
cp "$d/tls/new-key.pem" "$d/tls/key.pem"
line=$(lab_acctgate_reload "$d")
check "new certificate accepted" "$([[ $line == *"reload done"* ]] && echo 1 || echo 0)" "${line:-no verdict in the log}"
fp=$(served_fp)
check "new certificate served" \
	"$([[ -n $fp && $fp != "$fp_old" && $fp == "$(file_fp "$d/tls/new-cert.pem")" ]] && echo 1 || echo 0)" "${fp:-none}"
out=$(new_session)
check "new sessions verify the new certificate" "$([[ $out == ok ]] && echo 1 || echo 0)" "$out"
out=$(sq "SELECT CONNECTION_ID()")
check "open session still works" "$([[ $out == "$cid" ]] && echo 1 || echo 0)" "CONNECTION_ID $out"

exec {sess_in}>&- # the session quits at end of input
((failures)) && tail -n 40 "$d/acctgate.log"
((failures == 0))
