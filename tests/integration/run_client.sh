#!/usr/bin/env bash
# run_client.sh LABDIR CLIENT_BIN SCENARIO... - run client_test scenarios
# against the fixture's target (acctgate, or MariaDB in direct mode); on a
# failure show acctgate's and MariaDB's log lines written meanwhile.
set -uo pipefail
. "$(dirname "$0")/common.sh"
shift 2
logs=("$DB_DIR/error.log")
[[ $MODE == acctgate ]] && logs+=("$AG_DIR/acctgate.log")
for f in "${logs[@]}"; do log_mark "$f"; done
echo "target 127.0.0.1:$TARGET_PORT ($MODE)"
"$client" "${client_args[@]}" "$@"
rc=$?
if ((rc != 0)); then
	for f in "${logs[@]}"; do log_since "$f"; done
	if [[ $MODE == acctgate ]] && ! lab_pid_alive "$AG_DIR/acctgate.pid"; then
		echo "acctgate (pid file $AG_DIR/acctgate.pid) is no longer running"
	fi
fi
exit $rc
