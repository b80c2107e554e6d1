#!/usr/bin/env bash
# journal_replay.sh LABDIR CLIENT_BIN - the journal replays to the exact
# state: an acctgate of its own with [journal] fsync = always in front of
# the fixture's MariaDB, a fresh database whose schema (tables, a
# procedure) is made through it, the randomised concurrent workload
# (journal_workload.c) for JOURNAL_SECONDS (default 15) s, then:
#   journal verify: OK, nothing in doubt;
#   some writes went without SET timestamp (tables known not to read the
#   clock), the others with it;
#   every acknowledged transaction's token is in `journal cat`, and none of
#   a rolled-back one;
#   acctgate replay onto a second, empty MariaDB: 0 divergences, and every
#   table's CHECKSUM TABLE ... EXTENDED, SHOW CREATE TABLE and the
#   procedure's SHOW CREATE PROCEDURE equal to the original's;
#   `journal cat | mariadb` onto a third empty MariaDB: the same.
# Prints the workload's totals and the replay's time against the
# workload's wall time. The workload includes prepared statements
# (JOURNAL_PREPARED=0 leaves them out).
# The journal is kept in LABDIR/jreplay/journal for journal_corrupt.sh.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$here/journal_common.sh"
[[ $MODE == direct ]] && { echo "SKIP: the journal is acctgate's"; exit 77; }
jl_init jreplay 70
trap jl_cleanup EXIT
secs=${JOURNAL_SECONDS:-15} seed=${JOURNAL_SEED:-$RANDOM} prepared=${JOURNAL_PREPARED:-1}
rm -rf "$jdir" "$jag/acctgate.log"
mkdir -p "$jdir"
jl_conf fsync=always
lab_acctgate_start "$jag" "$jag/acctgate.conf" || exit 1
if ! jl_fresh_db; then
	echo "FAIL: cannot create the schema through acctgate"
	log_since "$jag/acctgate.log"
	exit 1
fi
# A trigger that reads the clock, on a table the workload's statements
# name without a time function: acctgate must fix their time.
jl_sql "$jap" "$jdb" -e "CREATE TRIGGER audited_in AFTER INSERT ON audited FOR EACH ROW
	INSERT INTO audit_log (src, tok, at) VALUES (NEW.id, NEW.tok, NOW(6))" ||
	check "the trigger is created through acctgate" 0

acks=$lab/$jname/acks
rm -f "$acks"
t0=$(lab_now_ms)
jl_workload "$secs" --seed "$seed" --threads 8 --prepared "$prepared" --ack-log "$acks" \
	>"$lab/$jname/workload.out" 2>&1
wl_status=$?
wl_ms=$(($(lab_now_ms) - t0))
cat "$lab/$jname/workload.out"
totals=$(grep '^workload:' "$lab/$jname/workload.out")
commits=$(sed -nE 's/.* commits ([0-9]+).*/\1/p' <<<"$totals")
check "the workload ran (seed $seed)" "$([[ $wl_status == 0 ]] && ((${commits:-0} > 100)) && echo 1 || echo 0)" \
	"status $wl_status, ${commits:-no} commits in $wl_ms ms"
# A definition changed through acctgate is seen at once: plain (known not
# to read the clock) gets a time default, and the writes right after it
# must have their time fixed (the checksums below tell).
jl_sql "$jap" "$jdb" -e "INSERT INTO plain (th, n, tok) VALUES (99, 1, 'before-alter');
	ALTER TABLE plain ADD COLUMN added DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6);
	INSERT INTO plain (th, n, tok) VALUES (99, 2, 'after-alter'); DO SLEEP(0.3);
	INSERT INTO plain (th, n, tok) VALUES (99, 3, 'after-alter')" ||
	check "writes around an ALTER through acctgate" 0
lab_acctgate_stop "$jag"
# Writes to tables with constant defaults and no trigger went without SET
# timestamp; the checksums below show the others (a default, ON UPDATE, a
# trigger reading NOW(6)) still got the server's time fixed.
unfixed=$(grep -o 'time_fixed=[0-9]* time_unfixed=[0-9]*' "$jag/acctgate.log" | tail -n 1)
check "some writes needed no fixed time" "$([[ $unfixed =~ time_unfixed=[1-9] ]] && echo 1 || echo 0)" "$unfixed"

out=$("$ACCTGATE_BIN" journal verify "$jdir" 2>&1)
st=$?
echo "$out" | head -n 12
check "journal verify: OK" "$([[ $st == 0 && $out == *$'\nOK'* ]] && echo 1 || echo 0)" "exit $st"
check "nothing in doubt" "$(grep -qE ', 0 in doubt' <<<"$out" && ! grep -q 'in doubt:' <<<"$out" && echo 1 || echo 0)" \
	"$(grep -c 'in doubt:' <<<"$out") in-doubt line(s)"

jl_cat_tokens >"$lab/$jname/cat-tokens"
jl_tokens "$acks" A >"$lab/$jname/acked"
jl_tokens "$acks" R >"$lab/$jname/rolled-back"
missing=$(comm -23 "$lab/$jname/acked" "$lab/$jname/cat-tokens" | wc -l)
extra=$(comm -12 "$lab/$jname/rolled-back" "$lab/$jname/cat-tokens" | wc -l)
check "every acknowledged transaction is in the journal" "$((missing == 0))" \
	"$(wc -l <"$lab/$jname/acked") acknowledged, $missing missing: $(comm -23 "$lab/$jname/acked" "$lab/$jname/cat-tokens" | head -n 5 | tr '\n' ' ')"
check "no rolled-back transaction is in the journal" "$((extra == 0))" \
	"$(wc -l <"$lab/$jname/rolled-back") rolled back, $extra journaled: $(comm -12 "$lab/$jname/rolled-back" "$lab/$jname/cat-tokens" | head -n 5 | tr '\n' ' ')"

# ---- replay onto an empty server ---------------------------------------------
jl_server replay || exit 1
rport=$jport
t0=$(lab_now_ms)
jl_replay "$rport"
st=$?
rp_ms=$(($(lab_now_ms) - t0))
summary=$(grep '^replayed' "$lab/$jname/replay.out")
check "replay onto an empty server: no divergence" "$((st == 0))" \
	"exit $st: ${summary:-no summary}; $(grep -m 5 '^seq' "$lab/$jname/replay.out" | cut -c1-240 | tr '\n' '|')"
if jl_compare "$DB_PORT" "$rport" replay; then eq=1; else eq=0; fi
check "replayed server == original: CHECKSUM TABLE EXTENDED of every table, SHOW CREATE TABLE/PROCEDURE" "$eq" \
	"$jl_ntables tables, $jl_nprocs procedure(s)"
echo "timing: workload ${wl_ms} ms wall, replay ${rp_ms} ms ($(awk -v a="$wl_ms" -v b="$rp_ms" 'BEGIN { printf "%.1fx", (b ? a / b : 0) }') faster)"

# ---- journal cat | mariadb onto a third server ----------------------------------
jl_server cat || exit 1
cport=$jport
"$ACCTGATE_BIN" journal cat "$jdir" >"$lab/$jname/cat.sql" 2>"$lab/$jname/cat.err"
st=$?
t0=$(lab_now_ms)
jl_sql "$cport" <"$lab/$jname/cat.sql" >"$lab/$jname/cat-apply.out" 2>&1
ast=$?
cat_ms=$(($(lab_now_ms) - t0))
check "journal cat | mariadb runs" "$((st == 0 && ast == 0))" \
	"cat exit $st, mariadb exit $ast in $cat_ms ms: $(head -c 300 "$lab/$jname/cat-apply.out")"
if jl_compare "$DB_PORT" "$cport" cat; then eq=1; else eq=0; fi
check "journal cat | mariadb == original, table for table" "$eq" "$jl_ntables tables, $jl_nprocs procedure(s)"

grep -E 'journal|UNRECORDED|unrecorded' "$jag/acctgate.log" | grep -v 'journal: .*segments, sequence' | head -n 5
if ((failures)); then
	log_since "$jag/acctgate.log"
	echo "seed $seed (JOURNAL_SEED=$seed reruns this workload)"
fi
echo "$failures check(s) failed"
((failures == 0))
