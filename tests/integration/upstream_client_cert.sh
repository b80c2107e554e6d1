#!/usr/bin/env bash
# upstream_client_cert.sh LABDIR CLIENT_BIN - [upstream] tls_cert and
# tls_key: acctgate presents a client certificate to the server, for servers
# that demand one of the proxy's host. A MariaDB of its own (trusting the lab
# CA for client certificates) has a user created REQUIRE SUBJECT
# '/CN=acctgate-client', the lab client certificate's subject. Through an
# acctgate with the lab client certificate (and verify_identity) that user
# logs in; through one without any, the server's own ERR 1045 reaches the
# client unchanged.
# Direct mode: the mariadb client with and without that certificate against
# the same server, which proves the certificate and the user.
set -uo pipefail
. "$(dirname "$0")/common.sh"
db=$lab/db-ccert
ag_cert=$lab/ag-ccert
ag_nocert=$lab/ag-nocert
cleanup() {
	lab_acctgate_stop "$ag_cert"
	lab_acctgate_stop "$ag_nocert"
	lab_mariadb_stop "$db"
}
trap cleanup EXIT

user=certuser pass=certpw
dbport=$(lab_free_port $((DB_PORT + 90)))
lab_mariadb_start "$db" "$dbport" "$CERTS" server || exit 1
if ! lab_mariadb_sql "$db" -e "CREATE USER '$user'@'%' IDENTIFIED BY '$pass' REQUIRE SUBJECT '/CN=acctgate-client';
	GRANT SELECT ON acctgate_test.* TO '$user'@'%'"; then
	echo "FAIL cannot create $user"
	exit 1
fi

# login PORT [mariadb options...]: one session as the certificate user.
login() {
	local port=$1
	shift
	timeout 30 mariadb -h 127.0.0.1 -P "$port" -u "$user" -p"$pass" --connect-timeout=10 -B -N "$@" \
		-e "SELECT CURRENT_USER()" 2>&1
}
denied="ERROR 1045 (28000): Access denied for user '$user'"

if [[ $MODE == direct ]]; then
	tls=(--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem")
	out=$(login "$dbport" "${tls[@]}" --ssl-cert="$CERTS/client-cert.pem" --ssl-key="$CERTS/client-key.pem")
	check "with the lab client certificate" "$([[ $out == "$user@%" ]] && echo 1 || echo 0)" "$out"
	out=$(login "$dbport" "${tls[@]}")
	check "without a client certificate" "$([[ $out == "$denied"* ]] && echo 1 || echo 0)" "$out"
	exit $((failures != 0))
fi

ap=$(lab_free_port $((TARGET_PORT + 90)))
lab_acctgate_conf "$ag_cert/acctgate.conf" "$ap" "127.0.0.1:$dbport" "$CERTS" tls=verify_identity \
	upstream_tls_cert="$CERTS/client-cert.pem" upstream_tls_key="$CERTS/client-key.pem"
lab_acctgate_start "$ag_cert" "$ag_cert/acctgate.conf" || exit 1
ap2=$(lab_free_port $((ap + 1)))
lab_acctgate_conf "$ag_nocert/acctgate.conf" "$ap2" "127.0.0.1:$dbport" "$CERTS" tls=verify_identity
lab_acctgate_start "$ag_nocert" "$ag_nocert/acctgate.conf" || exit 1

log_mark "$ag_cert/acctgate.log"
out=$(login "$ap")
check "through acctgate with the client certificate" "$([[ $out == "$user@%" ]] && echo 1 || echo 0)" "$out"
((failures)) && log_since "$ag_cert/acctgate.log"

log_mark "$ag_nocert/acctgate.log"
out=$(login "$ap2")
check "through acctgate without one: the server's refusal" "$([[ $out == "$denied"* ]] && echo 1 || echo 0)" "$out"
line=$(log_since "$ag_nocert/acctgate.log" | grep -F "authentication of '$user'" | tail -n1)
check "acctgate logs the server's refusal" "$([[ $line == *"failed (server error 1045)"* ]] && echo 1 || echo 0)" \
	"${line:-no such line}"
((failures == 0))
