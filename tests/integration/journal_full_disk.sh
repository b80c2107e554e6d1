#!/usr/bin/env bash
# journal_full_disk.sh LABDIR CLIENT_BIN - the journal on a full disk: a
# 3 MiB tmpfs (mounted by the test; it must be root: a failed mount FAILS
# the test) with segment_size = 1M, write traffic until no segment can be
# made:
#   on_error = refuse: COMMITs get ERR 1180 "acctgate: the journal cannot
#   record this transaction ...", the transaction is rolled back on the
#   server (its rows absent), reads keep working; the tmpfs grown (mount -o
#   remount,size=64m): commits succeed again, same acctgate; journal
#   verify OK and replay onto an empty server == the original.
#   on_error = continue: commits succeed while the disk is full and the log
#   says UNRECORDED.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$here/journal_common.sh"
[[ $MODE == direct ]] && { echo "SKIP: the journal is acctgate's"; exit 77; }
jl_init jfull 80
mnt=$lab/$jname/mnt
cleanup() {
	jl_cleanup
	mountpoint -q "$mnt" && umount "$mnt"
}
trap cleanup EXIT
mountpoint -q "$mnt" && umount "$mnt"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=3m tmpfs "$mnt"; then
	echo "FAIL: cannot mount a 3 MiB tmpfs on $mnt (the test needs root and mount(8))"
	exit 1
fi
jdir=$mnt/journal
mkdir -p "$jdir"
jl_conf fsync=always segment_size=1M on_error=refuse
lab_acctgate_start "$jag" "$jag/acctgate.conf" || exit 1
jl_fresh_db || { echo "FAIL: schema"; exit 1; }
# q SQL: one session through acctgate, answer or error.
q() { jl_sql "$jap" "$jdb" -B -N -e "$1" 2>&1; }
direct() { lab_mariadb_sql "$DB_DIR" -B -N -e "$1" 2>&1; }

# Until the disk is full: how many rounds that takes depends on the
# build's speed (the sanitizers' is a few times slower).
for round in 1 2 3 4 5 6; do
	jl_workload 8 --seed $((10 + round)) --threads 4 --pad 200 >"$lab/$jname/workload.out" 2>&1
	cat "$lab/$jname/workload.out"
	refused=$(sed -nE 's/.* refused ([0-9]+).*/\1/p' "$lab/$jname/workload.out")
	((${refused:-0} > 0)) && break
done
check "the journal filled the tmpfs; the workload's commits were refused" "$((${refused:-0} > 0))" \
	"${refused:-?} refused; $(df -k "$mnt" | tail -n 1 | awk '{ print $3 " of " $2 " KiB used" }')"
# The last segment may still have room the workload's reservations held
# (a PREPARE keeps room for its COMMIT): small writes succeed, durably,
# until it is gone; the first refused one names the journal.
for n in $(seq 200); do
	out=$(q "INSERT INTO acked (th, n, tok, ts, t6) VALUES (99, $n, 'full1', UNIX_TIMESTAMP(), NOW(6))")
	[[ -n $out ]] && break
done
check "an autocommit write gets ERR 1180 from the journal" \
	"$([[ $out == *1180* && $out == *"acctgate: the journal cannot record this transaction"* ]] && echo 1 || echo 0)" "$out"
refused_n=$n
out=$(q "BEGIN; INSERT INTO acked (th, n, tok, ts, t6) VALUES (99, 1000, 'full2', UNIX_TIMESTAMP(), NOW(6)); COMMIT")
check "an explicit COMMIT gets ERR 1180" "$([[ $out == *1180* ]] && echo 1 || echo 0)" "$out"
rows=$(direct "SELECT COUNT(*) FROM \`$jdb\`.acked WHERE th = 99 AND n IN ($refused_n, 1000)")
check "the refused transactions are rolled back on the server" "$([[ $rows == 0 ]] && echo 1 || echo 0)" "$rows rows"
out=$(q "SELECT COUNT(*) > 0 FROM acked")
check "reads keep working" "$([[ $out == 1 ]] && echo 1 || echo 0)" "$out"
grep -m 1 'cannot record' "$jag/acctgate.log" | cut -c1-200

mount -o remount,size=64m "$mnt" || echo "FAIL: remount"
pid=$(<"$jag/acctgate.pid")
ok=0
for i in $(seq 50); do
	out=$(q "INSERT INTO acked (th, n, tok, ts, t6) VALUES (99, 3, 'full3', UNIX_TIMESTAMP(), NOW(6))")
	[[ -z $out ]] && ok=1 && break
	sleep 0.2
done
check "once space returns commits succeed again, same acctgate" \
	"$((ok && $(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0)))" "${out:-committed} after $i tries"
out=$(q "BEGIN; INSERT INTO acked (th, n, tok, ts, t6) VALUES (99, 4, 'full4', UNIX_TIMESTAMP(), NOW(6)); COMMIT")
check "an explicit COMMIT too" "$([[ -z $out ]] && echo 1 || echo 0)" "${out:-committed}"
lab_acctgate_stop "$jag"
out=$("$ACCTGATE_BIN" journal verify "$jdir" 2>&1)
st=$?
echo "$out" | head -n 6
check "journal verify: OK" "$((st == 0))" "exit $st"
jl_server replay || exit 1
jl_replay "$jport"
st=$?
check "replay: no divergence" "$((st == 0))" "$(grep '^replayed' "$lab/$jname/replay.out")"
if jl_compare "$DB_PORT" "$jport" full; then eq=1; else eq=0; fi
check "replayed server == original (nothing committed unrecorded)" "$eq" "$jl_ntables tables"

# ---- on_error = continue ---------------------------------------------------------
umount "$mnt" && mount -t tmpfs -o size=3m tmpfs "$mnt" || { echo "FAIL: second tmpfs"; exit 1; }
mkdir -p "$jdir"
rm -f "$jag/acctgate.log"
jl_conf fsync=always segment_size=1M on_error=continue
lab_acctgate_start "$jag" "$jag/acctgate.conf" || exit 1
jl_fresh_db || { echo "FAIL: schema"; exit 1; }
refused=0
for round in 1 2 3 4 5 6; do
	jl_workload 8 --seed $((20 + round)) --threads 4 --pad 200 >"$lab/$jname/workload2.out" 2>&1
	cat "$lab/$jname/workload2.out"
	r=$(sed -nE 's/.* refused ([0-9]+).*/\1/p' "$lab/$jname/workload2.out")
	refused=$((refused + ${r:-1}))
	grep -q UNRECORDED "$jag/acctgate.log" && break
done
out=$(q "INSERT INTO acked (th, n, tok, ts, t6) VALUES (98, 1, 'cont1', UNIX_TIMESTAMP(), NOW(6))")
rows=$(direct "SELECT COUNT(*) FROM \`$jdb\`.acked WHERE th = 98")
check "on_error = continue: commits succeed on the full disk" \
	"$([[ ${refused:-1} == 0 && -z $out && $rows == 1 ]] && echo 1 || echo 0)" "refused ${refused:-?}, '$out', $rows row"
n=$(grep -c 'UNRECORDED' "$jag/acctgate.log")
check "and the log says UNRECORDED" "$((n > 0))" "$n line(s): $(grep -m 1 UNRECORDED "$jag/acctgate.log" | cut -c1-200)"

((failures)) && log_since "$jag/acctgate.log"
echo "$failures check(s) failed"
((failures == 0))
