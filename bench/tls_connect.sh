#!/usr/bin/env bash
#
# tls_connect.sh - does a large CA bundle slow acctgate's TLS connects?
# Other proxies re-read their CA file for every backend connection, which
# made TLS connects about 4x slower with the RDS global bundle; acctgate
# loads the store once per configuration generation and shares it. Measured
# side by side, in one run, on this machine:
#
#   bash bench/tls_connect.sh [seconds-per-run] [bundle-size]   (default 10, 400)
#
# Sessions per second (connect, TLS on both legs, login, ping, quit; one
# client at a time, so the figure is per-session setup cost) for:
#   direct         straight to MariaDB with TLS (the baseline)
#   ca_single      through acctgate, [upstream] tls_ca = the lab CA alone
#   ca_bundle      the same with tls_ca = a bundle of BUNDLE-SIZE unrelated
#                  CAs plus the lab CA (last, so a linear search walks them all)
# and the ratio ca_bundle / ca_single (1.00 = the bundle costs nothing per
# connection). Also acctgate's start-up time with each, which is where the
# bundle is paid for, once.
#
# Needs a built build/acctgate and the lab's packages. State in .lab/bench-tls.
set -euo pipefail

SECONDS_PER_RUN=${1:-10}
BUNDLE_SIZE=${2:-400}
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lab.sh
. "$REPO/scripts/lab.sh"

BENCH=$LAB_ROOT/bench-tls
rm -rf "$BENCH"
mkdir -p "$BENCH"
CERTS=$BENCH/certs
lab_certs "$CERTS"
DB_PORT=$(lab_free_port 24500)
lab_mariadb_start "$BENCH/mariadb" "$DB_PORT" "$CERTS" server
cleanup() {
	lab_acctgate_stop "$BENCH/single" || true
	lab_acctgate_stop "$BENCH/bundle" || true
	lab_mariadb_stop "$BENCH/mariadb" || true
}
trap cleanup EXIT

# Unrelated CAs with EC keys (quick to make); the lab CA last.
echo "making a bundle of $BUNDLE_SIZE CA certificates..."
mkdir -p "$BENCH/bundle-parts"
for ((i = 0; i < BUNDLE_SIZE; i++)); do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		-keyout /dev/null -out "$BENCH/bundle-parts/$i.pem" -subj "/CN=bench filler CA $i" \
		-addext basicConstraints=critical,CA:TRUE 2>/dev/null
done
cat "$BENCH"/bundle-parts/*.pem "$CERTS/ca.pem" >"$BENCH/bundle.pem"
echo "bundle: $(grep -c 'BEGIN CERTIFICATE' "$BENCH/bundle.pem") certificates, $(stat -c %s "$BENCH/bundle.pem") bytes"

RATE=$BENCH/connect_rate
read -ra MARIADB_FLAGS <<<"$(pkg-config --cflags --libs libmariadb)"
cc -O2 -o "$RATE" "$REPO/bench/connect_rate.c" "${MARIADB_FLAGS[@]}"

declare -A START_MS
start_gate() { # start_gate NAME PORT CA
	lab_acctgate_conf "$BENCH/$1/acctgate.conf" "$2" "localhost:$DB_PORT" "$CERTS" \
		client_tls=required tls=verify_identity tls_ca="$3" log_level=warning
	local t0
	t0=$(lab_now_ms)
	lab_acctgate_start "$BENCH/$1" "$BENCH/$1/acctgate.conf" 2>/dev/null
	START_MS[$1]=$(($(lab_now_ms) - t0))
}
SINGLE_PORT=$(lab_free_port $((DB_PORT + 1)))
start_gate single "$SINGLE_PORT" "$CERTS/ca.pem"
BUNDLE_PORT=$(lab_free_port $((SINGLE_PORT + 1)))
start_gate bundle "$BUNDLE_PORT" "$BENCH/bundle.pem"

declare -A RATE_OF
run() { # run NAME PORT
	local out
	out=$("$RATE" 127.0.0.1 "$2" "$LAB_DB_USER" "$LAB_DB_PASS" "$SECONDS_PER_RUN" "$CERTS/ca.pem")
	RATE_OF[$1]=$(sed -n 's/.*: \([0-9.]*\)\/s$/\1/p' <<<"$out")
	printf '  %-10s %s\n' "$1" "$out"
}
echo
echo "sessions per second, one client, TLS on every leg, ${SECONDS_PER_RUN}s each"
run direct "$DB_PORT"
run ca_single "$SINGLE_PORT"
run ca_bundle "$BUNDLE_PORT"
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
printf 'ratio ca_bundle / ca_single: %s (1.000 = a %d-CA bundle costs nothing per connection)\n' \
	"$(ratio "${RATE_OF[ca_bundle]}" "${RATE_OF[ca_single]}")" "$BUNDLE_SIZE"
printf 'ratio ca_single / direct:    %s (what the second TLS leg and the hop cost)\n' \
	"$(ratio "${RATE_OF[ca_single]}" "${RATE_OF[direct]}")"
printf 'acctgate start-up (until it listens): %s ms with the single CA, %s ms with the bundle\n' \
	"${START_MS[single]}" "${START_MS[bundle]}"
