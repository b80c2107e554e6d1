#!/usr/bin/env bash
# journal_crash.sh LABDIR CLIENT_BIN - kill -9 of acctgate under heavy write
# traffic, fsync = always, three times, restarted on the same journal each
# time while the workload's sessions reconnect and go on (a transaction
# whose commit got no answer is "unknown", never "acknowledged"). Then:
#   journal verify OK (a torn tail truncated at a restart is logged, and
#   reported here);
#   every acknowledged transaction's token is in `journal cat`, none of one
#   rolled back before its commit was sent;
#   replay onto an empty MariaDB equals the original table for table,
#   EXCEPT possibly transactions "in doubt" the restart could not resolve
#   (from the server's markers or, for DDL, its catalog): they are
#   counted, and when what they wrote is the only difference (acked rows
#   missing from the copy are all in doubt, every other table that differs
#   is named by an in-doubt statement) that is said explicitly.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$here/journal_common.sh"
[[ $MODE == direct ]] && { echo "SKIP: the journal is acctgate's"; exit 77; }
jl_init jcrash 75
trap jl_cleanup EXIT
seed=${JOURNAL_SEED:-$RANDOM} kills=${JOURNAL_KILLS:-3}
rm -rf "$jdir" "$jag/acctgate.log"
mkdir -p "$jdir"
jl_conf fsync=always
lab_acctgate_start "$jag" "$jag/acctgate.conf" || exit 1
if ! jl_fresh_db; then
	echo "FAIL: cannot create the schema through acctgate"
	log_since "$jag/acctgate.log"
	exit 1
fi
acks=$lab/$jname/acks
rm -f "$acks"
secs=$((kills * 6 + 6))
jl_workload "$secs" --seed "$seed" --threads 8 --reconnect-secs 30 \
	--ack-log "$acks" >"$lab/$jname/workload.out" 2>&1 &
wl=$!
restarted=0
for ((k = 1; k <= kills; k++)); do
	sleep 5
	pid=$(<"$jag/acctgate.pid")
	before=$(grep -c '^A ' "$acks" 2>/dev/null)
	kill -9 "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	echo "kill -9 number $k of acctgate $pid after $before acknowledged commits"
	sleep 0.5
	log_mark "$jag/acctgate.log"
	lab_acctgate_start "$jag" "$jag/acctgate.conf" && restarted=$((restarted + 1))
	log_after "$jag/acctgate.log" | grep -E 'journal: (truncated|.*segments, sequence)' | sed 's/^/  restart: /'
done
wait "$wl"
wl_status=$?
cat "$lab/$jname/workload.out"
totals=$(grep '^workload:' "$lab/$jname/workload.out")
lostc=$(sed -nE 's/.* lost_connections ([0-9]+).*/\1/p' <<<"$totals")
check "$kills kill -9, each restarted on the same journal" "$((restarted == kills))" "$restarted restarts"
check "the workload survived every lost connection (seed $seed)" \
	"$([[ $wl_status == 0 ]] && ((${lostc:-0} >= kills)) && echo 1 || echo 0)" "status $wl_status: $totals"
lab_acctgate_stop "$jag"
grep -F 'journal: truncated' "$jag/acctgate.log" | sed 's/^/torn tail at a restart: /'

out=$("$ACCTGATE_BIN" journal verify "$jdir" 2>&1)
st=$?
echo "$out" | grep -v 'in doubt:' | head -n 12
check "journal verify: OK after $kills crashes" "$([[ $st == 0 && $out == *$'\nOK'* ]] && echo 1 || echo 0)" "exit $st"
grep 'in doubt:' <<<"$out" | cut -c1-260
indoubt=$(grep -c 'in doubt:' <<<"$out")
grep 'in doubt:' <<<"$out" | grep -oE "'t[0-9]+n[0-9]+'" | tr -d "'" | sort -u >"$lab/$jname/in-doubt-tokens"
echo "in doubt: $indoubt PREPARE(s), $(wc -l <"$lab/$jname/in-doubt-tokens") with a workload token"

jl_cat_tokens >"$lab/$jname/cat-tokens"
jl_tokens "$acks" A >"$lab/$jname/acked"
jl_tokens "$acks" R >"$lab/$jname/rolled-back"
jl_tokens "$acks" U >"$lab/$jname/unknown"
missing=$(comm -23 "$lab/$jname/acked" "$lab/$jname/cat-tokens" | wc -l)
extra=$(comm -12 "$lab/$jname/rolled-back" "$lab/$jname/cat-tokens" | wc -l)
check "every acknowledged commit is in the journal" "$((missing == 0))" \
	"$(wc -l <"$lab/$jname/acked") acknowledged, $missing missing: $(comm -23 "$lab/$jname/acked" "$lab/$jname/cat-tokens" | head -n 5 | tr '\n' ' ')"
check "no transaction rolled back before its commit is in the journal" "$((extra == 0))" \
	"$(wc -l <"$lab/$jname/rolled-back") rolled back, $extra journaled: $(comm -12 "$lab/$jname/rolled-back" "$lab/$jname/cat-tokens" | head -n 5 | tr '\n' ' ')"
echo "unknown (commit unanswered): $(wc -l <"$lab/$jname/unknown"): $(comm -12 "$lab/$jname/unknown" "$lab/$jname/cat-tokens" | wc -l) journaled as committed, $(comm -12 "$lab/$jname/unknown" "$lab/$jname/in-doubt-tokens" | wc -l) in doubt"

jl_server replay || exit 1
jl_replay "$jport"
st=$?
summary=$(grep '^replayed' "$lab/$jname/replay.out")
check "replay after the crashes: no divergence" "$((st == 0))" \
	"exit $st: ${summary:-no summary}; $(grep -m 5 '^seq' "$lab/$jname/replay.out" | cut -c1-240 | tr '\n' '|')"
if jl_compare "$DB_PORT" "$jport" crash; then
	check "replayed server == original, table for table" 1 "$jl_ntables tables, $jl_nprocs procedure(s), $indoubt in doubt"
else
	# What differs must be what the transactions left in doubt wrote: the
	# rows of `acked` with their tokens (none only on the copy), and the
	# tables their statements name (journal cat prints those statements).
	"$ACCTGATE_BIN" journal cat "$jdir" | sed -n 's/^-- in doubt:   //p' >"$lab/$jname/in-doubt-stmts"
	differing=$(grep -hE '^[<>] (checksum|create) ' "$lab/$jname/state-crash.diff" |
		awk '{ t = $3; sub(/.*\./, "", t); print t }' | sort -u)
	unexplained_tables=""
	for t in $differing; do
		[[ $t == acked ]] || grep -qw -- "$t" "$lab/$jname/in-doubt-stmts" || unexplained_tables+="$t "
	done
	q_acked() { jl_sql "$1" -B -N -e "SELECT tok FROM \`$jdb\`.acked ORDER BY tok" | sort -u; }
	q_acked "$DB_PORT" >"$lab/$jname/server-acked"
	q_acked "$jport" >"$lab/$jname/replica-acked"
	only_server=$(comm -23 "$lab/$jname/server-acked" "$lab/$jname/replica-acked")
	only_replica=$(comm -13 "$lab/$jname/server-acked" "$lab/$jname/replica-acked")
	unexplained=$(comm -23 <(printf '%s\n' $only_server | sed '/^$/d' | sort -u) "$lab/$jname/in-doubt-tokens")
	n_only=$(printf '%s\n' $only_server | sed '/^$/d' | wc -l)
	# acked differing with the same tokens on both sides is no in-doubt row
	grep -qx acked <<<"$differing" && ((n_only == 0)) && unexplained_tables+="acked(same tokens) "
	if [[ -z $unexplained && -z $only_replica && -z $unexplained_tables ]]; then
		echo "replay != server ONLY BY IN-DOUBT TRANSACTIONS: tables $(tr '\n' ' ' <<<"$differing"); $n_only acked row(s) committed on the server, in doubt in the journal: $(tr '\n' ' ' <<<"$only_server")"
		check "replayed server == original but for what in-doubt transactions wrote" 1 "$indoubt in doubt"
	else
		check "replayed server == original but for what in-doubt transactions wrote" 0 \
			"differing tables no in-doubt statement names: ${unexplained_tables:-none}; acked rows only on the server: $n_only ($(printf '%s\n' $unexplained | sed '/^$/d' | wc -l) not in doubt), only on the copy: $(printf '%s\n' $only_replica | sed '/^$/d' | wc -l); in doubt: $indoubt"
	fi
fi

if ((failures)); then
	log_since "$jag/acctgate.log"
	echo "seed $seed (JOURNAL_SEED=$seed reruns this workload)"
fi
echo "$failures check(s) failed"
((failures == 0))
