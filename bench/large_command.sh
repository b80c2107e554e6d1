#!/usr/bin/env bash
#
# large_command.sh - acctgate frames a large command in linear time and
# memory: one COM_QUERY of 64, 256 and 1023 MiB (the largest under max_command_size = 1G) through acctgate (TLS on
# both legs) to MariaDB, each timed beside the same command sent directly,
# with acctgate's CPU time per MiB and its peak memory.
#
#   bash bench/large_command.sh
#
# Linear framing shows as the same CPU per MiB at every size (the ratio
# column near 1.0). The relay engine before issue 8 rescanned the buffered
# command on every read: 2.9 s of worker CPU for 256 MiB, 165 s for 1 GiB.
# Needs a built build/acctgate and the lab's packages; runs in .lab/large.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lab.sh
. "$REPO/scripts/lab.sh"
B=$LAB_ROOT/large
rm -rf "$B"
mkdir -p "$B"
CERTS=$B/certs
DB=$B/mariadb
lab_certs "$CERTS"
DB_PORT=$(lab_free_port 24600)
lab_mariadb_start "$DB" "$DB_PORT" "$CERTS" server
AG_PORT=$(lab_free_port $((DB_PORT + 1)))
lab_acctgate_conf "$B/ag/acctgate.conf" "$AG_PORT" "localhost:$DB_PORT" "$CERTS" tls=verify_identity \
	log_level=warning max_command_size=1G
lab_acctgate_start "$B/ag" "$B/ag/acctgate.conf"
trap 'lab_acctgate_stop "$B/ag" || true; lab_mariadb_stop "$DB" || true' EXIT
lab_mariadb_sql "$DB" -e "SET GLOBAL max_allowed_packet = 1073741824"
CLIENT=$B/big_command
cc -O2 -o "$CLIENT" "$REPO/bench/big_command.c" $(pkg-config --cflags --libs libmariadb)
PID=$(<"$B/ag/acctgate.pid")
TICK_MS=$((1000 / $(getconf CLK_TCK)))
cpu_ms() { awk -v t="$TICK_MS" '{print ($14 + $15) * t}' "/proc/$1/stat"; }
hwm_mib() { awk '/VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }

printf '%8s %12s %14s %16s %14s %10s\n' MiB "direct s" "acctgate s" "acctgate CPU ms" "CPU ms/MiB" ratio
base=""
for mib in 64 256 1023; do
	d=$("$CLIENT" 127.0.0.1 "$DB_PORT" "$LAB_DB_USER" "$LAB_DB_PASS" "$mib")
	c0=$(cpu_ms "$PID")
	a=$("$CLIENT" 127.0.0.1 "$AG_PORT" "$LAB_DB_USER" "$LAB_DB_PASS" "$mib")
	cpu=$(($(cpu_ms "$PID") - c0))
	per=$(awk -v c="$cpu" -v m="$mib" 'BEGIN { printf "%.2f", c / m }')
	[[ -z $base ]] && base=$per
	printf '%8s %12s %14s %16s %14s %10s\n' "$mib" "$d" "$a" "$cpu" "$per" \
		"$(awk -v p="$per" -v b="$base" 'BEGIN { printf "%.2f", (b > 0 ? p / b : 0) }')"
done
echo "acctgate peak memory (VmHWM): $(hwm_mib "$PID") MiB (a 1 GiB command is held whole before it is forwarded)"
