#!/usr/bin/env bash
# lab_setup.sh LABDIR ACCTGATE_BIN - ctest fixture setup: certificates, a
# TLS-enabled MariaDB and (unless ACCTGATE_TEST_DIRECT=1) two acctgates in
# front of it, both with client TLS optional: LABDIR/ag with upstream TLS
# verify_identity (the production setting) and LABDIR/ag-plainup with
# upstream TLS disabled (so a failure can be pinned on the server leg's TLS
# or not). Writes LABDIR/env, which every integration test sources:
#   MODE=acctgate|direct
#   TARGET_PORT          clients connect here (acctgate, upstream TLS)
#   TARGET_PORT_PLAINUP  the same with a plaintext upstream
#   DB_DIR DB_PORT AG_DIR AG_PORT AG_PLAINUP_DIR CERTS ACCTGATE_BIN
# In direct mode both target ports are MariaDB's.
# Ports: first free from ACCTGATE_TEST_PORT_BASE (default 25306) for
# MariaDB and from base-273 (25033) for acctgate.
set -euo pipefail
lab=${1:?usage: lab_setup.sh LABDIR ACCTGATE_BIN}
export ACCTGATE_BIN=${2:?usage: lab_setup.sh LABDIR ACCTGATE_BIN}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"

bash "$here/lab_cleanup.sh" "$lab" >/dev/null 2>&1 || true
mkdir -p "$lab"
lab=$(cd "$lab" && pwd)
rm -f "$lab/env"

base=${ACCTGATE_TEST_PORT_BASE:-25306}
mode=acctgate
[[ ${ACCTGATE_TEST_DIRECT:-0} == 1 ]] && mode=direct

t0=$(lab_now_ms)
lab_certs "$lab/certs"
db_port=$(lab_free_port "$base")
lab_mariadb_start "$lab/db" "$db_port" "$lab/certs" server
t_db=$(($(lab_now_ms) - t0))

ag_port=""
target=$db_port
target_plainup=$db_port
if [[ $mode == acctgate ]]; then
	ag_port=$(lab_free_port $((base - 273)))
	lab_acctgate_conf "$lab/ag/acctgate.conf" "$ag_port" "127.0.0.1:$db_port" "$lab/certs" \
		client_tls=optional tls=verify_identity log_level="${ACCTGATE_TEST_LOG_LEVEL:-info}"
	if ! lab_acctgate_start "$lab/ag" "$lab/ag/acctgate.conf"; then
		lab_mariadb_stop "$lab/db"
		exit 1
	fi
	target=$ag_port
	target_plainup=$(lab_free_port $((ag_port + 1)))
	lab_acctgate_conf "$lab/ag-plainup/acctgate.conf" "$target_plainup" "127.0.0.1:$db_port" "$lab/certs" \
		client_tls=optional tls=disabled log_level="${ACCTGATE_TEST_LOG_LEVEL:-info}"
	if ! lab_acctgate_start "$lab/ag-plainup" "$lab/ag-plainup/acctgate.conf"; then
		lab_acctgate_stop "$lab/ag"
		lab_mariadb_stop "$lab/db"
		exit 1
	fi
fi

cat >"$lab/env" <<ENV
MODE=$mode
TARGET_PORT=$target
TARGET_PORT_PLAINUP=$target_plainup
AG_PLAINUP_DIR=$lab/ag-plainup
DB_DIR=$lab/db
DB_PORT=$db_port
AG_DIR=$lab/ag
AG_PORT=$ag_port
CERTS=$lab/certs
ACCTGATE_BIN=$ACCTGATE_BIN
ENV
echo "lab ready in $(($(lab_now_ms) - t0)) ms (MariaDB $t_db ms): mode $mode, clients connect to 127.0.0.1:$target (upstream TLS) and :$target_plainup (upstream plaintext), MariaDB 127.0.0.1:$db_port"
