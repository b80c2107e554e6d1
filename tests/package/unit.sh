#!/usr/bin/env bash
# unit.sh BUILD_DIR [MAX_EXPOSURE] - the systemd unit as `cmake --install`
# writes it: `systemd-analyze verify` passes (its ExecStart names the
# installed binary, its Documentation= the installed man pages), and
# `systemd-analyze security --offline=yes` rates it no worse than
# MAX_EXPOSURE (default 1.2, the score measured when the unit was written:
# "OK"; what is left is the network itself, which a proxy cannot give up).
set -uo pipefail
build=${1:?usage: unit.sh BUILD_DIR [MAX_EXPOSURE]}
max=${2:-1.2}
command -v systemd-analyze >/dev/null || { echo "FAIL: no systemd-analyze (apt-get install systemd)"; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
cmake --install "$build" --prefix "$root" >/dev/null || { echo "FAIL: cmake --install"; exit 1; }
unit=$root/lib/systemd/system/acctgate.service
fail=0
if out=$(MANPATH=$root/share/man systemd-analyze verify "$unit" 2>&1); then
	echo "PASS systemd-analyze verify: ${out:-no complaint}"
else
	echo "FAIL systemd-analyze verify: $out"
	fail=1
fi
report=$(systemd-analyze security --offline=yes "$unit" 2>&1)
score=$(sed -n 's/.*Overall exposure level for acctgate.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' <<<"$report")
# --threshold counts tenths: 1.2 is 12.
if systemd-analyze security --offline=yes --threshold="$(awk -v m="$max" 'BEGIN { printf "%d", m * 10 + 0.5 }')" \
	"$unit" >/dev/null 2>&1; then
	echo "PASS systemd-analyze security: ${score:-?} (at most $max allowed)"
else
	echo "FAIL systemd-analyze security: ${score:-?}, more than $max; exposed:"
	grep '✗' <<<"$report"
	fail=1
fi
exit $fail
