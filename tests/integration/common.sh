# shellcheck shell=bash
# common.sh - sourced by the integration test scripts: reads the fixture's
# env, the lab library, and helpers to show acctgate's log lines of a test.
# shellcheck disable=SC2034 # client and client_args are for the sourcing script
lab=${1:?usage: $0 LABDIR CLIENT_BIN ...}
client=${2:?usage: $0 LABDIR CLIENT_BIN ...}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
if [[ ! -f $lab/env ]]; then
	echo "FAIL: no lab at $lab (integration.lab_setup did not run or failed)"
	exit 1
fi
# shellcheck source=/dev/null
. "$lab/env"
export ACCTGATE_BIN

# The client's fixed arguments for the fixture's target.
client_args=(--host 127.0.0.1 --port "$TARGET_PORT" --user "$LAB_DB_USER" --password "$LAB_DB_PASS"
	--ssl-ca "$CERTS/ca.pem" --impostor-ca "$CERTS/impostor-ca.pem"
	--ed-user "$LAB_DB_ED_USER" --ed-password "$LAB_DB_ED_PASS"
	--native-user "$LAB_DB_NATIVE_USER" --native-password "$LAB_DB_NATIVE_PASS")

# check WHAT OK(0|1) DETAIL: one PASS or FAIL line; failures counts the FAILs.
failures=0
check() {
	if (($2)); then echo "PASS $1: $3"; else echo "FAIL $1: $3"; failures=$((failures + 1)); fi
}

# log_mark FILE: remember FILE's size; log_since FILE: show what came after
# (for a failure report); log_after FILE: print all of it (for checks).
declare -A _log_marks=()
log_mark() { _log_marks[$1]=$(stat -c %s "$1" 2>/dev/null || echo 0); }
log_since() {
	local f=$1 from=${_log_marks[$1]:-0}
	[[ -f $f ]] || return 0
	echo "---- $f since the test started ----"
	tail -c +$((from + 1)) "$f" | tail -n 60
	echo "---- end ----"
}
log_after() {
	local from=${_log_marks[$1]:-0}
	[[ -f $1 ]] && tail -c +$((from + 1)) "$1"
}
