#!/usr/bin/env bash
# client_tls_policy.sh LABDIR CLIENT_BIN - what acctgate's client leg
# negotiates: TLS 1.2 and 1.3 only, and [proxy] tls_ciphers (TLS 1.2) and
# tls_ciphersuites (TLS 1.3) honoured. Handshakes are made with
# `openssl s_client -starttls mysql`, which offers exactly what it is told:
#   - only TLS 1.0 or only 1.1 (with SECLEVEL=0, so the client itself allows
#     them) is refused by acctgate's protocol_version alert, and acctgate
#     logs why; TLS 1.2 and 1.3 are accepted;
#   - an acctgate with tls_ciphersuites = TLS_AES_256_GCM_SHA384 and
#     tls_ciphers = ECDHE-RSA-AES256-GCM-SHA384 refuses a client offering
#     only another suite or cipher (handshake_failure alert; the default
#     acctgate accepts the same offer, so the refusal is the setting's) and
#     gives the configured one to a client offering it; the mariadb client,
#     offering its own lists, still logs in through it (with the configured
#     suite, and with the configured cipher under --tls-version=TLSv1.2);
#   - a bad value of either key, or one of the other TLS version's names, is
#     refused by acctgate --check with the file, line and key named.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: acctgate's own TLS policy toward clients"; exit 77; }
ag_def=$lab/ag-ctlsp-default
ag_set=$lab/ag-ctlsp-ciphers
cleanup() {
	lab_acctgate_stop "$ag_def"
	lab_acctgate_stop "$ag_set"
}
trap cleanup EXIT

suite=TLS_AES_256_GCM_SHA384 cipher=ECDHE-RSA-AES256-GCM-SHA384
port_def=$(lab_free_port $((TARGET_PORT + 25)))
lab_acctgate_conf "$ag_def/acctgate.conf" "$port_def" "127.0.0.1:$DB_PORT" "$CERTS"
lab_acctgate_start "$ag_def" "$ag_def/acctgate.conf" || exit 1
port_set=$(lab_free_port $((port_def + 1)))
lab_acctgate_conf "$ag_set/acctgate.conf" "$port_set" "127.0.0.1:$DB_PORT" "$CERTS" tls_ciphersuites="$suite" \
	tls_ciphers="$cipher"
lab_acctgate_start "$ag_set" "$ag_set/acctgate.conf" || exit 1

# handshake DIR PORT EXPECT OFFER...: one s_client handshake offering
# OFFER. EXPECT is "VERSION CIPHER" as s_client reports a session, or
# "refused ALERT REASON": s_client received ALERT from acctgate (not a
# failure of its own) and acctgate logged REASON for the session.
handshake() {
	local d=$1 port=$2 expect=$3 out got alert reason line deadline ok=0
	shift 3
	log_mark "$d/acctgate.log"
	out=$(timeout 10 openssl s_client -starttls mysql -connect "127.0.0.1:$port" -CAfile "$CERTS/ca.pem" \
		-verify_return_error "$@" </dev/null 2>&1)
	got=$(sed -n 's/^New, \(.*\), Cipher is \(.*\)$/\1 \2/p' <<<"$out" | head -n1)
	if [[ $expect == refused* ]]; then
		read -r _ alert reason <<<"$expect"
		alert=${alert//_/ }
		# acctgate may log the refusal just after its alert has left.
		deadline=$((SECONDS + 5))
		until line=$(log_since "$d/acctgate.log" | grep -F "client TLS handshake failed" | tail -n1) &&
			[[ -n $line ]] || ((SECONDS >= deadline)); do
			sleep 0.05
		done
		[[ $got == "(NONE) (NONE)" && $out == *"alert $alert"* && $line == *"$reason" ]] && ok=1
		check "$* to $(basename "$d"): refused" "$ok" \
			"s_client: ${got:-no session}, $(grep -o "alert [a-z ]*" <<<"$out" | head -n1); acctgate: ${line:-no log line}"
	else
		[[ $got == "$expect" ]] && ok=1
		check "$* to $(basename "$d"): $expect" "$ok" "s_client: ${got:-no session}"
	fi
	((ok)) || tail -n 20 <<<"$out"
}

# ---- protocol versions ------------------------------------------------------
handshake "$ag_def" "$port_def" "refused protocol_version unsupported protocol" -tls1 -cipher DEFAULT@SECLEVEL=0
handshake "$ag_def" "$port_def" "refused protocol_version unsupported protocol" -tls1_1 -cipher DEFAULT@SECLEVEL=0
handshake "$ag_def" "$port_def" "TLSv1.2 $cipher" -tls1_2 -cipher "$cipher"
handshake "$ag_def" "$port_def" "TLSv1.3 $suite" -tls1_3 -ciphersuites "$suite"

# ---- tls_ciphersuites and tls_ciphers ---------------------------------------
other_suite=TLS_AES_128_GCM_SHA256 other_cipher=ECDHE-RSA-AES128-GCM-SHA256
handshake "$ag_def" "$port_def" "TLSv1.3 $other_suite" -tls1_3 -ciphersuites "$other_suite"
handshake "$ag_set" "$port_set" "refused handshake_failure no shared cipher" -tls1_3 -ciphersuites "$other_suite"
handshake "$ag_set" "$port_set" "TLSv1.3 $suite" -tls1_3 -ciphersuites "$suite"
handshake "$ag_def" "$port_def" "TLSv1.2 $other_cipher" -tls1_2 -cipher "$other_cipher"
handshake "$ag_set" "$port_set" "refused handshake_failure no shared cipher" -tls1_2 -cipher "$other_cipher"
handshake "$ag_set" "$port_set" "TLSv1.2 $cipher" -tls1_2 -cipher "$cipher"

# What the setting must not break: a real client offering its own lists
# logs in, with the configured suite, or cipher when it stops at TLS 1.2.
for v in TLSv1.3:"$suite" TLSv1.2:"$cipher"; do
	out=$(timeout 30 mariadb -h 127.0.0.1 -P "$port_set" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 \
		--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" --tls-version="${v%%:*}" -e status 2>&1)
	got=$(sed -n 's/.*Cipher in use is \([^ ,]*\).*/\1/p' <<<"$out")
	check "mariadb --tls-version=${v%%:*} logs in with ${v#*:}" "$([[ $got == "${v#*:}" ]] && echo 1 || echo 0)" \
		"${got:-$out}"
done

# ---- bad values at start ----------------------------------------------------
for kv in tls_ciphers=BOGUS tls_ciphersuites=BOGUS tls_ciphers="$suite" tls_ciphersuites="$cipher"; do
	conf=$ag_set/bad.conf
	lab_acctgate_conf "$conf" "$port_set" "127.0.0.1:$DB_PORT" "$CERTS" "$kv"
	key=${kv%%=*}
	n=$(grep -n "^$key = " "$conf" | cut -d: -f1)
	out=$("$ACCTGATE_BIN" -c "$conf" --check 2>&1)
	rc=$?
	check "--check refuses $kv" \
		"$([[ $rc != 0 && $out == *"$conf:$n: [proxy] $key: "*"got '${kv#*=}'"* ]] && echo 1 || echo 0)" "rc $rc: $out"
done
((failures == 0))
