#!/usr/bin/env bash
# run_client.sh LABDIR CLIENT_BIN LEGS SCENARIO... - run client_test
# scenarios against the fixture. LEGS is CLIENT-UPSTREAM TLS use:
#   plain-tls   client plaintext, acctgate -> MariaDB TLS (slurmdbd's default)
#   tls-tls     both legs TLS, the client verifying acctgate's certificate
#   plain-plain / tls-plain   the same with a plaintext upstream
# On a failure show the log lines acctgate and MariaDB wrote meanwhile.
set -uo pipefail
. "$(dirname "$0")/common.sh"
legs=${3:?usage: run_client.sh LABDIR CLIENT_BIN LEGS SCENARIO...}
shift 3
case $legs in
*-tls) port=$TARGET_PORT ag_dir=$AG_DIR ;;
*-plain) port=$TARGET_PORT_PLAINUP ag_dir=$AG_PLAINUP_DIR ;;
*) echo "bad LEGS $legs" >&2; exit 2 ;;
esac
ctls=off
[[ $legs == tls-* ]] && ctls=on
logs=("$DB_DIR/error.log")
[[ $MODE == acctgate ]] && logs+=("$ag_dir/acctgate.log")
for f in "${logs[@]}"; do log_mark "$f"; done
echo "target 127.0.0.1:$port ($MODE, legs client-upstream $legs)"
# Scenarios that watch acctgate itself (large_result: its memory) find it here.
if [[ $MODE == acctgate ]]; then
	ACCTGATE_PID=$(<"$ag_dir/acctgate.pid")
	export ACCTGATE_PID
fi
# A later --port overrides the one in client_args.
"$client" "${client_args[@]}" --port "$port" --client-tls "$ctls" "$@"
rc=$?
if ((rc != 0)); then
	for f in "${logs[@]}"; do log_since "$f"; done
	if [[ $MODE == acctgate ]] && ! lab_pid_alive "$ag_dir/acctgate.pid"; then
		echo "acctgate (pid file $ag_dir/acctgate.pid) is no longer running"
	fi
fi
exit $rc
