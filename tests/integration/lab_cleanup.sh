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
if [[ -f $lab/env ]]; then
	# Leftover acctgate logs are worth a look when a test failed.
	grep -hiE 'error|warn|assert|sanitizer' "$lab"/ag*/acctgate.log 2>/dev/null | tail -n 20 || true
fi
exit 0
