#!/usr/bin/env bash
# mariadb_cli.sh LABDIR CLIENT_BIN - the stock command-line tools through the
# fixture's target: a multi-statement -e, TLS with server verification
# (and its refusal with the wrong CA), plaintext, and a mariadb-dump |
# mariadb round trip compared by CHECKSUM TABLE.
set -uo pipefail
. "$(dirname "$0")/common.sh"
failures=0
check() { # check NAME EXPECTED ACTUAL
	if [[ $2 == "$3" ]]; then
		echo "PASS $1"
	else
		echo "FAIL $1"
		echo "  expected: $(printf '%q' "$2")"
		echo "  got:      $(printf '%q' "$3")"
		failures=$((failures + 1))
	fi
}
m() { mariadb -h 127.0.0.1 -P "$TARGET_PORT" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 "$@"; }
[[ $MODE == acctgate ]] && log_mark "$AG_DIR/acctgate.log"

# 1. Several statements in one -e (the client sends them one by one after
#    splitting on ';', and the server runs them in order).
out=$(m -B -N acctgate_test -e "DROP TABLE IF EXISTS cli; CREATE TABLE cli (id INT PRIMARY KEY, s VARCHAR(20));
INSERT INTO cli VALUES (1,'one'),(2,'two'),(3,'three'); SELECT COUNT(*) FROM cli; SELECT s FROM cli ORDER BY id DESC;
SET @x = 7; SELECT @x * 6" 2>&1)
check "multi-statement -e" $'3\nthree\ntwo\none\n42' "$out"

# 2. TLS, server certificate verified against the lab CA.
out=$(m --ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -e status 2>&1 | grep -E '^SSL:' | sed 's/Cipher in use is .*/Cipher in use/')
check "--ssl-verify-server-cert --ssl-ca=lab CA" "SSL:			Cipher in use" "$out"
out=$(m --ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -B -N -e "SELECT CURRENT_USER()" 2>&1)
check "query over verified TLS" "slurm@%" "$out"

# 3. The same, trusting an unrelated CA: refused by the client.
out=$(m --ssl-verify-server-cert --ssl-ca="$CERTS/impostor-ca.pem" -e "SELECT 1" 2>&1)
rc=$?
if ((rc != 0)) && [[ $out == *"ERROR 2026"* ]]; then
	echo "PASS impostor CA refused ($out)"
else
	echo "FAIL impostor CA: rc $rc, output: $out"
	failures=$((failures + 1))
fi

# 4. Plaintext on the client leg.
out=$(m --skip-ssl -e status 2>&1 | grep -E '^SSL:')
check "--skip-ssl is plaintext" "SSL:			Not in use" "$out"

# 5. mariadb-dump through the target, loaded back through it.
m acctgate_test -e "DROP TABLE IF EXISTS dumpme; CREATE TABLE dumpme (id INT AUTO_INCREMENT PRIMARY KEY,
  t TEXT, b BLOB, d DATETIME, n DECIMAL(12,3));
INSERT INTO dumpme (t, b, d, n) SELECT CONCAT('row ', seq, ' \\'quoted\\' é'), UNHEX(SHA2(seq, 256)),
  '2024-01-01' + INTERVAL seq MINUTE, seq / 7 FROM seq_1_to_5000;
DROP DATABASE IF EXISTS acctgate_dump; CREATE DATABASE acctgate_dump"
dump_rc=0
mariadb-dump -h 127.0.0.1 -P "$TARGET_PORT" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --single-transaction \
	acctgate_test dumpme 2>"$lab/dump.err" | m acctgate_dump 2>>"$lab/dump.err" || dump_rc=$?
want=$(m -B -N -e "CHECKSUM TABLE acctgate_test.dumpme" 2>&1 | cut -f2)
got=$(m -B -N -e "CHECKSUM TABLE acctgate_dump.dumpme" 2>&1 | cut -f2)
if ((dump_rc == 0)) && [[ -n $want && $want == "$got" ]]; then
	echo "PASS mariadb-dump | mariadb round trip (5000 rows, checksum $want)"
else
	echo "FAIL mariadb-dump round trip: rc $dump_rc, checksum $want vs $got; $(cat "$lab/dump.err")"
	failures=$((failures + 1))
fi

if ((failures)); then
	[[ $MODE == acctgate ]] && log_since "$AG_DIR/acctgate.log"
	exit 1
fi
