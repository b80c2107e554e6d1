#!/usr/bin/env bash
# local_infile.sh LABDIR CLIENT_BIN - LOAD DATA LOCAL INFILE lets the server
# read any file the client can, so acctgate refuses it unless
# [proxy] local_infile = on.
#   - Through the fixture's acctgate (local_infile = off) the stock client,
#     even with --local-infile=1, gets the server's own ERR 4166 (acctgate
#     never offers the capability, so the server refuses) and no row lands.
#   - Through an acctgate with local_infile = on (LABDIR/ag-infile), over
#     plaintext and TLS on the client leg, a 40 MB file (more than two
#     16 MiB packets' worth) loads whole: row count and CHECKSUM TABLE equal
#     those of the same file loaded straight into MariaDB; a query after it
#     works (the proxy is back in step with the server).
# Direct mode: only the load straight into MariaDB (proves the data set).
set -uo pipefail
. "$(dirname "$0")/common.sh"
ag=$lab/ag-infile work=$lab/infile
cleanup() { lab_acctgate_stop "$ag"; }
trap cleanup EXIT
rm -rf "$work"
mkdir -p "$work"
# load PORT TABLE [client options...]: LOAD DATA LOCAL INFILE of the data
# file into a fresh TABLE through PORT; prints "rows checksum" or the error.
load() {
	local port=$1 t=$2
	shift 2
	timeout 60 mariadb -h 127.0.0.1 -P "$port" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --local-infile=1 "$@" \
		-B -N acctgate_test -e "DROP TABLE IF EXISTS $t; CREATE TABLE $t (id INT PRIMARY KEY, label VARCHAR(200));
		LOAD DATA LOCAL INFILE '$work/data.tsv' INTO TABLE $t;
		SELECT COUNT(*) FROM $t" 2>&1 |
		tail -n 1
	timeout 20 mariadb -h 127.0.0.1 -P "$port" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" "$@" -B -N acctgate_test \
		-e "CHECKSUM TABLE $t" 2>&1 | awk '{ print $2 }'
}
# 400k rows of ~100 bytes: ~40 MB.
awk 'BEGIN { for (i = 1; i <= 400000; i++) printf "%d\trow %d %s\n", i, i, "x-acctgate-local-infile-payload-0123456789abcdefghijklmnopqrstuvwxyz-0123456789" }' \
	>"$work/data.tsv"
size=$(stat -c %s "$work/data.tsv")

want=$(load "$DB_PORT" li_direct | tr '\n' ' ')
check "straight into MariaDB" "$([[ $want == "400000 "[0-9]*" " ]] && echo 1 || echo 0)" \
	"$size bytes: rows, checksum: $want"
if [[ $MODE == direct ]]; then
	echo "$failures check(s) failed (direct mode: acctgate's checks skipped)"
	((failures == 0))
	exit
fi

out=$(load "$TARGET_PORT" li_refused | tr '\n' ' ')
check "refused by default (local_infile = off)" \
	"$([[ $out == *"ERROR 4166"* && $out != "400000 "* ]] && echo 1 || echo 0)" "$out"

ap=$(lab_free_port $((TARGET_PORT + 70)))
lab_acctgate_conf "$ag/acctgate.conf" "$ap" "127.0.0.1:$DB_PORT" "$CERTS" local_infile=on
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
got=$(load "$ap" li_plain | tr '\n' ' ')
check "allowed with local_infile = on, client plaintext" "$([[ $got == "$want" ]] && echo 1 || echo 0)" \
	"rows, checksum: $got (direct: $want)"
got=$(load "$ap" li_tls --ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" | tr '\n' ' ')
check "allowed with local_infile = on, client TLS" "$([[ $got == "$want" ]] && echo 1 || echo 0)" \
	"rows, checksum: $got (direct: $want)"

((failures)) && log_since "$ag/acctgate.log"
echo "$failures check(s) failed"
((failures == 0))
