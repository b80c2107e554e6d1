#!/usr/bin/env bash
# contention_harness.sh LABDIR CLIENT_BIN CONTENTION_BIN - the contention
# harness (tests/contention, issue 11) checked on its own, straight against
# the fixture's MariaDB (never through acctgate: this proves the harness,
# bench/contention.sh compares it with acctgate):
#   4 clusters of one slurmdbd-like session for CONTENTION_SECONDS (default
#   4) s: deadlocks reach the sessions and acknowledged transactions lose
#   effects (the workload really contends), the ledger check finds exactly
#   the losses the sessions' own errors predict (lost = lost_expected,
#   mismatch 0), no phantom, and the self-check (one marker deleted, one
#   forged) moves the verdict by exactly one lost and one phantom;
#   the same with --database-per-cluster over verified TLS;
#   a harness that cannot log in exits 1, bad usage exits 2.
set -uo pipefail
. "$(dirname "$0")/common.sh"
bin=${3:?usage: $0 LABDIR CLIENT_BIN CONTENTION_BIN}
secs=${CONTENTION_SECONDS:-4} seed=${CONTENTION_SEED:-$RANDOM}
out=$lab/contention
mkdir -p "$out"
base=(--host 127.0.0.1 --port "$DB_PORT" --user "$LAB_DB_USER" --password "$LAB_DB_PASS"
	--database acct_contention_test --seed "$seed")

# kv LINE KEY: the value of KEY=... in the summary line
kv() { sed -nE "s/.* $2=([^ ]*).*/\1/p" <<<"$1"; }

# harness NAME ARGS...: run it, keep its output, set $line and $st
harness() {
	local name=$1
	shift
	"$bin" "${base[@]}" "$@" >"$out/$name.out" 2>"$out/$name.err"
	st=$?
	line=$(grep '^contention:' "$out/$name.out")
	echo "$name (seed $seed): ${line:-no summary line}"
	sed 's/^/    /' "$out/$name.err" | head -n 8
}

harness shared --seconds "$secs" --self-check
check "shared: the harness ran" "$([[ $st == 0 && -n $line ]] && echo 1 || echo 0)" "exit $st"
check "shared: deadlocks reached the sessions" "$(($(kv "$line" err_1213) > 0))" "err_1213=$(kv "$line" err_1213)"
check "shared: acknowledged transactions lost effects" "$(($(kv "$line" lost) > 0))" \
	"lost=$(kv "$line" lost) of acked=$(kv "$line" acked), lost_statements=$(kv "$line" lost_statements)"
check "shared: the ledger finds exactly the predicted losses" \
	"$([[ $(kv "$line" lost) == "$(kv "$line" lost_expected)" && $(kv "$line" mismatch) == 0 ]] && echo 1 || echo 0)" \
	"lost=$(kv "$line" lost) lost_expected=$(kv "$line" lost_expected) mismatch=$(kv "$line" mismatch)"
check "shared: no phantom effects" "$([[ $(kv "$line" phantom) == 0 ]] && echo 1 || echo 0)" \
	"phantom=$(kv "$line" phantom)"
check "shared: self-check (1 marker deleted, 1 forged) seen exactly" \
	"$([[ $(kv "$line" self_check) == ok ]] && echo 1 || echo 0)" "self_check=$(kv "$line" self_check)"

harness per-cluster --seconds 2 --database-per-cluster --ssl-ca "$CERTS/ca.pem" --self-check
check "per-cluster over TLS: the harness ran" "$([[ $st == 0 && -n $line ]] && echo 1 || echo 0)" "exit $st"
check "per-cluster: exact, no phantom, self-check ok" \
	"$([[ $(kv "$line" lost) == "$(kv "$line" lost_expected)" && $(kv "$line" mismatch) == 0 &&
		$(kv "$line" phantom) == 0 && $(kv "$line" self_check) == ok ]] && echo 1 || echo 0)" \
	"lost=$(kv "$line" lost) lost_expected=$(kv "$line" lost_expected) mismatch=$(kv "$line" mismatch) phantom=$(kv "$line" phantom) self_check=$(kv "$line" self_check)"
check "per-cluster: clusters still contend on the shared tables" "$(($(kv "$line" err_1213) > 0))" \
	"err_1213=$(kv "$line" err_1213)"

"$bin" "${base[@]}" --password wrong --seconds 1 >"$out/badpw.out" 2>&1
st=$?
check "a harness that cannot log in exits 1" "$([[ $st == 1 ]] && ! grep -q '^contention:' "$out/badpw.out" && echo 1 || echo 0)" \
	"exit $st: $(head -c 160 "$out/badpw.out")"
"$bin" --clusters 0 >"$out/usage.out" 2>&1
st=$?
check "bad usage exits 2" "$([[ $st == 2 ]] && echo 1 || echo 0)" "exit $st: $(head -c 160 "$out/usage.out")"

((failures == 0))
