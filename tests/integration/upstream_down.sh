#!/usr/bin/env bash
# upstream_down.sh LABDIR CLIENT_BIN - acctgate configured with a closed
# upstream port must answer the client with an error at once, naming the
# upstream address, not hang. Direct mode: the same client check against the
# closed port itself (proves the measurement, not acctgate).
set -uo pipefail
. "$(dirname "$0")/common.sh"
closed=$(lab_free_port $((DB_PORT + 93)))
if [[ $MODE == direct ]]; then
	"$client" --host 127.0.0.1 --port "$closed" --expect-error "127.0.0.1" --max-ms 3000 connect_refused
	exit $?
fi
d=$lab/ag-down
port=$(lab_free_port $((TARGET_PORT + 100)))
lab_acctgate_conf "$d/acctgate.conf" "$port" "127.0.0.1:$closed" "$CERTS" connect_timeout=5
lab_acctgate_start "$d" "$d/acctgate.conf" || exit 1
trap 'lab_acctgate_stop "$d"' EXIT
rc=0
for i in 1 2 3; do
	# Repeated: the second and third attempts meet an upstream in backoff.
	"$client" --host 127.0.0.1 --port "$port" --expect-error "127.0.0.1:$closed" --max-ms 2000 \
		connect_refused || rc=1
done
echo "---- acctgate log ----"
tail -n 20 "$d/acctgate.log"
exit $rc
