#!/usr/bin/env bash
# upstream_ca_rotation.sh LABDIR CLIENT_BIN - the database's CA rotates (as
# RDS moves from one CA to the next) under a running acctgate with
# tls = verify_identity, and slurmdbd stays connected throughout.
#   - The server starts serving a certificate from the new CA (the lab's
#     "impostor" CA stands in for it): new sessions are refused with the
#     reason (untrusted CA), the open session keeps working.
#   - The operator appends the new CA to the tls_ca bundle and sends SIGHUP:
#     new sessions verify again; the open session is the same one.
#   - A botched bundle (garbage, then a missing file) is refused on SIGHUP
#     with the file named, and the running CA store stays in use.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: the CA store reload is acctgate's"; exit 77; }
ag=$lab/ag-carot db=$lab/db-carot
cleanup() {
	sess_close_all
	lab_acctgate_stop "$ag"
	lab_mariadb_stop "$db"
}
trap cleanup EXIT
rm -f "$ag/acctgate.log"
mkdir -p "$ag"
dport=$(lab_free_port $((DB_PORT + 100)))
lab_mariadb_start "$db" "$dport" "$CERTS" server || exit 1
cp "$CERTS/ca.pem" "$ag/bundle.pem"
ap=$(lab_free_port $((TARGET_PORT + 100)))
lab_acctgate_conf "$ag/acctgate.conf" "$ap" "localhost:$dport" "$CERTS" tls=verify_identity tls_ca="$ag/bundle.pem"
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
q() {
	timeout 20 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=5 -B -N \
		-e "SELECT CONNECTION_ID()" 2>&1
}

sess_open slurmdbd "$ap"
sess_send slurmdbd "SELECT CONNECTION_ID()"
cid=$(sess_wait slurmdbd 1)
check "a session through the old CA" "$([[ $cid =~ ^[0-9]+$ ]] && echo 1 || echo 0)" "CONNECTION_ID $cid"

lab_mariadb_tls_swap "$db" "$CERTS" impostor || exit 1
out=$(q)
check "the server's new CA is not trusted yet" \
	"$([[ $out == *1105*"not signed by a trusted CA"* ]] && echo 1 || echo 0)" "$out"
sess_send slurmdbd "SELECT CONNECTION_ID()"
check "the open session keeps working" "$([[ $(sess_wait slurmdbd 2) == "$cid" ]] && echo 1 || echo 0)" \
	"CONNECTION_ID $(tail -n 1 "$sess_dir/slurmdbd.out")"

cat "$CERTS/impostor-ca.pem" >>"$ag/bundle.pem"
line=$(lab_acctgate_reload "$ag")
out=$(q)
check "new CA appended to the bundle, SIGHUP: new sessions verify" \
	"$([[ $line == *"reload done"* && $out =~ ^[0-9]+$ ]] && echo 1 || echo 0)" \
	"${line:-no verdict}; new session: $out"
sess_send slurmdbd "SELECT CONNECTION_ID()"
check "the open session is the same one" "$([[ $(sess_wait slurmdbd 3) == "$cid" ]] && echo 1 || echo 0)" \
	"CONNECTION_ID $(tail -n 1 "$sess_dir/slurmdbd.out")"

cp "$ag/bundle.pem" "$ag/bundle.good"
echo "not a certificate" >"$ag/bundle.pem"
line=$(lab_acctgate_reload "$ag")
out=$(q)
check "a garbage bundle is refused, the running store kept" \
	"$([[ $line == *"reload refused"*"$ag/bundle.pem"* && $out =~ ^[0-9]+$ ]] && echo 1 || echo 0)" \
	"${line:-no verdict}; new session: $out"
rm -f "$ag/bundle.pem"
line=$(lab_acctgate_reload "$ag")
out=$(q)
check "a missing bundle is refused, the running store kept" \
	"$([[ $line == *"reload refused"*"$ag/bundle.pem"* && $out =~ ^[0-9]+$ ]] && echo 1 || echo 0)" \
	"${line:-no verdict}; new session: $out"
cp "$ag/bundle.good" "$ag/bundle.pem"

((failures)) && log_since "$ag/acctgate.log"
echo "$failures check(s) failed"
((failures == 0))
