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

# ---- sessions held open: a mariadb client reading a fifo --------------------
# sess_open NAME PORT [mariadb options...]: start a session; statements go in
# with sess_send, answers come out in $sess_dir/NAME.out (one line each, -n:
# flushed per statement). --skip-reconnect: a closed session stays closed.
sess_dir=$lab/sessions-$(basename "$0" .sh)
declare -A sess_fd=()
sess_open() {
	local name=$1 port=$2 fd
	shift 2
	mkdir -p "$sess_dir"
	rm -f "$sess_dir/$name.in" "$sess_dir/$name.out" "$sess_dir/$name.pid" # an earlier run's
	mkfifo "$sess_dir/$name.in"
	# Made here, not by the client's redirection in the background: a
	# sess_wait right after would otherwise find no file, and not wait.
	: >"$sess_dir/$name.out"
	mariadb -h 127.0.0.1 -P "$port" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=5 --skip-reconnect \
		"$@" -B -N -n acctgate_test <"$sess_dir/$name.in" >"$sess_dir/$name.out" 2>&1 &
	echo $! >"$sess_dir/$name.pid"
	exec {fd}>"$sess_dir/$name.in"
	sess_fd[$name]=$fd
}
# sess_send NAME SQL: send one statement (the client runs it at its ";").
sess_send() { { printf '%s;\n' "$2" >&"${sess_fd[$1]}"; } 2>/dev/null; }
# sess_wait NAME LINES: wait (10 s at most) until NAME has printed LINES
# lines or its client has exited; print its last line.
sess_wait() {
	local name=$1 n=$2 deadline=$((SECONDS + 10))
	while (($(wc -l <"$sess_dir/$name.out") < n)) && kill -0 "$(<"$sess_dir/$name.pid")" 2>/dev/null &&
		((SECONDS < deadline)); do
		sleep 0.05
	done
	tail -n 1 "$sess_dir/$name.out"
}
# sess_gone NAME: true once NAME's client has exited (5 s at most).
sess_gone() {
	local deadline=$((SECONDS + 5))
	while kill -0 "$(<"$sess_dir/$1.pid")" 2>/dev/null; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}
# sess_close_all: end every session (in a cleanup trap too).
sess_close_all() {
	local name fd
	for name in "${!sess_fd[@]}"; do
		fd=${sess_fd[$name]}
		exec {fd}>&-
		kill "$(<"$sess_dir/$name.pid")" 2>/dev/null
	done
	sess_fd=()
}
