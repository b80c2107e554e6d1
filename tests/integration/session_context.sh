#!/usr/bin/env bash
# session_context.sh LABDIR CLIENT_BIN - the per-session view acctgate keeps
# of the server session (user, default database, autocommit, transaction
# state, from the login, COM_INIT_DB and every OK's status flags), which the
# recording, throttling and snapshot features build on. With log_level =
# debug each finished command logs that view; a stock mariadb session that
# logs in with a database, switches database, turns autocommit off, writes,
# commits, and finally fails to switch to a missing database must show each
# step, and the failed switch must leave the database as it was.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
[[ $MODE == direct ]] && { echo "SKIP: the session context is acctgate's"; exit 77; }
ag=$lab/ag-context
cleanup() { lab_acctgate_stop "$ag"; }
trap cleanup EXIT
rm -f "$ag/acctgate.log"
ap=$(lab_free_port $((TARGET_PORT + 90)))
lab_acctgate_conf "$ag/acctgate.conf" "$ap" "127.0.0.1:$DB_PORT" "$CERTS" log_level=debug
lab_acctgate_start "$ag" "$ag/acctgate.conf" || exit 1
lab_mariadb_sql "$DB_DIR" -e "CREATE DATABASE IF NOT EXISTS acctgate_ctx;
	CREATE TABLE IF NOT EXISTS acctgate_ctx.c (v INT) ENGINE=InnoDB"

log_mark "$ag/acctgate.log"
# Each statement is one command: the client splits on ';' and sends `use`
# as COM_INIT_DB.
timeout 20 mariadb -h 127.0.0.1 -P "$ap" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" -B -N acctgate_test -e "
	SELECT 'step 1';
	use acctgate_ctx;
	SET autocommit = 0;
	INSERT INTO c VALUES (1);
	COMMIT;
	use no_such_database;" >/dev/null 2>&1
# The view after each command, in order. The client sends queries of its
# own too (its start-up query, SELECT DATABASE() before each `use`), so the
# expected views must appear as a subsequence.
mapfile -t views < <(log_after "$ag/acctgate.log" | grep -F " done in " |
	sed -n "s/.*: \(COM_[A-Z_]*\) (.*done in .*ms: \([A-Z]*\); \(.*\) (status .*/\1 \2; \3/p")
steps=(
	"logged in with a database|COM_QUERY OK; user '$LAB_DB_USER', database 'acctgate_test', autocommit on, no transaction"
	"COM_INIT_DB|COM_INIT_DB OK; user '$LAB_DB_USER', database 'acctgate_ctx', autocommit on, no transaction"
	"SET autocommit = 0|COM_QUERY OK; user '$LAB_DB_USER', database 'acctgate_ctx', autocommit off, no transaction"
	"INSERT opens a transaction|COM_QUERY OK; user '$LAB_DB_USER', database 'acctgate_ctx', autocommit off, in transaction"
	"COMMIT ends it|COM_QUERY OK; user '$LAB_DB_USER', database 'acctgate_ctx', autocommit off, no transaction"
	"a failed COM_INIT_DB keeps the database|COM_INIT_DB ERR; user '$LAB_DB_USER', database 'acctgate_ctx', autocommit off, no transaction"
)
i=0
for step in "${steps[@]}"; do
	name=${step%%|*} want=${step#*|}
	while ((i < ${#views[@]})) && [[ ${views[$i]} != "$want" ]]; do i=$((i + 1)); done
	check "$name" "$( ((i < ${#views[@]})) && echo 1 || echo 0)" "${views[$i]:-not logged: $want}"
	i=$((i + 1))
done
((failures)) && log_since "$ag/acctgate.log"
echo "$failures check(s) failed"
((failures == 0))
