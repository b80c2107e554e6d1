#!/usr/bin/env bash
# lab_cleanup.sh LABDIR - ctest fixture cleanup: stop every daemon the
# integration tests started under LABDIR (by pid file); keep the logs.
set -uo pipefail
lab=${1:?usage: lab_cleanup.sh LABDIR}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lab.sh
. "$here/../../scripts/lab.sh"
[[ -d $lab ]] || exit 0
for d in "$lab"/ag*; do
	[[ -d $d ]] && lab_acctgate_stop "$d"
done
for d in "$lab"/db*; do
	[[ -d $d ]] && lab_mariadb_stop "$d"
done
# acctgate has exited now, so a sanitizer build has written its reports
# (leaks come at exit) into its log: any report fails the fixture, as does
# a lab password anywhere in a log.
status=0
for f in "$lab"/ag*/acctgate.log; do
	[[ -f $f ]] || continue
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$f"; then
		echo "FAIL sanitizer report in $f:"
		grep -E -A 30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" | head -n 80
		status=1
	fi
	if ! secrets=$(lab_log_secrets "$f"); then
		echo "FAIL a password in $f:"
		echo "$secrets"
		status=1
	fi
	n=$(grep -cE '^[0-9T:.-]+Z (error|warning) ' "$f" || true)
	if ((n)); then
		echo "note: $n error/warning lines in $f; the last ones:"
		grep -E '^[0-9T:.-]+Z (error|warning) ' "$f" | tail -n 10
	fi
done
exit $status
