#!/usr/bin/env bash
# snapshot_pitr.sh LABDIR CLIENT_BIN - a snapshot taken through the admin
# port while eight sessions write through acctgate, then restored:
#   the snapshot alone (acctgate restore, no journal) equals the database
#     as it was at the snapshot's journal sequence (replaying the journal
#     from nothing up to that sequence onto another empty server);
#   the snapshot rolled forward with the journal to its end equals the
#     original database, table by table;
#   the SNAPSHOT answer's row, SHOW SNAPSHOTS, the longest commit hold;
#   with [snapshot] chunk_rows = 100 the workload's larger tables are
#     dumped in chunks (by the threads together, in their views opened in
#     the cut) and restored with their secondary indexes built after the
#     rows, so both comparisons above check chunks too;
#   a restore into a database that exists is refused;
#   the admin port's VERIFY SNAPSHOT, RESTORE SNAPSHOT ... INTO DATABASE
#     (the copy, rolled forward, equals the original; bad input refused;
#     in place: restore_in_place.sh)
#     and DROP SNAPSHOT.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$here/journal_common.sh"
[[ $MODE == direct ]] && { echo "SKIP: snapshots are acctgate's"; exit 77; }
jl_init snap 95
trap jl_cleanup EXIT
jl_snapshot_keys="chunk_rows = 100" jl_start_with_admin 2 fsync=always || exit 1

jl_workload 8 --seed 41 --threads 8 >"$lab/$jname/workload.out" 2>&1 &
wl=$!
sleep 3
# DDL during the dump fails a snapshot (it says "take it again"): as an
# admin would, take it again; the workload's ALTERs make that happen.
for try in 1 2 3 4 5; do
	# Fresh row estimates, which decide the chunks (InnoDB updates its
	# own in the background, a few seconds late).
	lab_mariadb_sql "$DB_DIR" -e "ANALYZE TABLE \`$jdb\`.acked, \`$jdb\`.events, \`$jdb\`.items" >/dev/null 2>&1
	snap=$(admin "SNAPSHOT")
	[[ $snap == *"take it again"* ]] || break
	echo "snapshot try $try: ${snap//$'\n'/ }"
done
wait "$wl"
grep '^workload:' "$lab/$jname/workload.out"
read -r id seq when_d when_t when_z tables rows bytes secs held <<<"$snap"
check "SNAPSHOT answers one row while the workload writes" "$([[ $seq =~ ^[0-9]+$ && $seq -gt 0 && $tables -gt 0 ]] && echo 1 || echo 0)" \
	"$snap"
# The hold is measured and printed (bench/, not a timed assertion, says
# how long); what must hold is that commits were not held for the dump.
echo "commits held ${held:-?} ms of a ${secs:-?} s snapshot"
check "the SNAPSHOT answer reports the commit hold" "$([[ $held =~ ^[0-9.]+$ ]] && echo 1 || echo 0)" "${held:-none}"
chunked=$(awk '$1 == "table" && $9 > 1 { printf "%s:%s ", $3, $9 }' "$lab/$jname/snapshots/$id/MANIFEST")
check "chunk_rows = 100: the larger tables are dumped in chunks" "$([[ -n $chunked ]] && echo 1 || echo 0)" \
	"${chunked:-none: $(grep '^table' "$lab/$jname/snapshots/$id/MANIFEST" | tr '\n' ' ')}"
list=$(admin "SHOW SNAPSHOTS")
check "SHOW SNAPSHOTS lists it" "$([[ $list == *"$id"*done* ]] && echo 1 || echo 0)" "$list"
status=$(admin "SHOW STATUS")
check "SHOW STATUS names it as the last snapshot, with its age" \
	"$([[ $(awk '$1 == "last_snapshot" { print $2 }' <<<"$status") == "$id" &&
		$(awk '$1 == "last_snapshot_age_seconds" { print $2 }' <<<"$status") =~ ^[0-9]+$ ]] && echo 1 || echo 0)" \
	"$(grep last_snapshot <<<"$status" | tr '\n' ' ')"

# The admin port's VERIFY, RESTORE ... INTO DATABASE (beside the live
# database, rolled forward to the journal's end) and DROP.
out=$(admin "VERIFY SNAPSHOT '$id'")
check "VERIFY SNAPSHOT: ok, the SNAPSHOT answer's sequence and rows" \
	"$([[ $out == "$id"$'\t'"$seq"$'\t'"$tables"$'\t'"$rows"$'\t'*$'\t'ok ]] && echo 1 || echo 0)" "$out"
out=$(admin "VERIFY SNAPSHOT 'no_such_snapshot'")
check "VERIFY SNAPSHOT of an unknown id: ERR" "$([[ $out == *"unknown snapshot 'no_such_snapshot'"* ]] && echo 1 || echo 0)" "$out"
copy=${jdb}_copy
direct() { lab_mariadb_sql "$DB_DIR" -B -N -e "$1" 2>&1; }
direct "DROP DATABASE IF EXISTS \`$copy\`" >/dev/null
out=$(admin "RESTORE SNAPSHOT '$id' INTO DATABASE '$copy'")
echo "$out" | sed 's/^/  | /' | head -n 8
check "RESTORE SNAPSHOT ... INTO DATABASE: loaded and rolled forward, 0 divergences" \
	"$([[ $out == *"restored snapshot $id"* && $out == *" 0 divergences"* && $out == *"last transaction applied: seq"* ]] && echo 1 || echo 0)" \
	"$(tr '\n' ' ' <<<"$out" | cut -c1-300)"
# Every table of the copy against the original, on the same server.
differ=""
ntab=0
for t in $(direct "SELECT table_name FROM information_schema.tables WHERE table_schema = '$jdb' AND table_type = 'BASE TABLE'"); do
	ntab=$((ntab + 1))
	a=$(direct "CHECKSUM TABLE \`$jdb\`.\`$t\` EXTENDED" | cut -f2)
	b=$(direct "CHECKSUM TABLE \`$copy\`.\`$t\` EXTENDED" | cut -f2)
	[[ $a == "$b" && -n $a ]] || differ+=" $t ($a vs $b)"
done
check "the restored copy == the original database ($ntab tables, CHECKSUM TABLE EXTENDED)" \
	"$([[ -z $differ && $ntab -gt 0 ]] && echo 1 || echo 0)" "${differ:-equal}"
out=$(admin "RESTORE SNAPSHOT '$id' INTO DATABASE '$copy'")
check "RESTORE SNAPSHOT into a database that exists: ERR, nothing changed" \
	"$([[ $out == *"ERROR"*"exists on the target"* ]] && echo 1 || echo 0)" "$out"
out=$(admin "RESTORE SNAPSHOT '$id' UNTIL '2001-01-01 00:00:00' INTO DATABASE '${copy}2'")
check "RESTORE SNAPSHOT UNTIL a time before the snapshot: ERR" \
	"$([[ $out == *"ERROR"*"before the snapshot"* && -z $(direct "SHOW DATABASES LIKE '${copy}2'") ]] && echo 1 || echo 0)" "$out"
out=$(admin "RESTORE SNAPSHOT '$id' INTO '$copy'")
check "RESTORE SNAPSHOT ... INTO without DATABASE: ERR naming what was expected" \
	"$([[ $out == *"expected UNTIL, INTO DATABASE 'name'"*"got '$copy'"* ]] && echo 1 || echo 0)" "$out"
direct "DROP DATABASE \`$copy\`" >/dev/null
cp -a "$lab/$jname/snapshots/$id" "$lab/$jname/snapshots/$id-copy"
out=$(admin "DROP SNAPSHOT '$id-copy'")
check "DROP SNAPSHOT: gone from the directory and from SHOW SNAPSHOTS" \
	"$([[ -z $out && ! -e $lab/$jname/snapshots/$id-copy && $(admin "SHOW SNAPSHOTS") != *"$id-copy"* ]] && echo 1 || echo 0)" \
	"${out:-OK}"
out=$(admin "DROP SNAPSHOT '$id-copy'")
check "DROP SNAPSHOT of an unknown id: ERR" "$([[ $out == *"unknown snapshot"* ]] && echo 1 || echo 0)" "$out"
lab_acctgate_stop "$jag"
"$ACCTGATE_BIN" journal verify "$jdir" | grep -E 'transactions|OK' | head -n 2

rs() { "$ACCTGATE_BIN" restore --target "127.0.0.1:$1" --user "$LAB_DB_USER" --password-file "$jpw" \
	--tls-ca "$CERTS/ca.pem" --no-progress --snapshot "$lab/$jname/snapshots/$id" "${@:2}" 2>&1; }

# The snapshot alone, against the journal replayed to its sequence.
jl_server at_cut || exit 1
cut_port=$jport
out=$(rs "$cut_port")
check "restore of the snapshot alone" "$([[ $out == *"restored snapshot $id"* ]] && echo 1 || echo 0)" "$out"
jl_server reference || exit 1
ref_port=$jport
jl_replay "$ref_port" --until-seq "$seq"
check "the journal replayed to the snapshot's sequence" "$(($? == 0))" "$(tail -n 1 "$lab/$jname/replay.out")"
# (Stop 8 saw this differ about one run in five, by the workload's
# mid-query COMMIT of items.qty + 2: a clockless commit replayed out of
# order against DELETE ... WHERE qty > 3. The workload's mid-query commit
# now writes only what commutes; the check decides again.)
if jl_compare "$ref_port" "$cut_port" at-cut; then eq=1; else eq=0; fi
check "snapshot == the database at its journal sequence $seq" "$eq" "$jl_ntables tables, $jl_nprocs procedure(s)"

# The snapshot rolled forward to the journal's end, against the original.
jl_server pitr || exit 1
pitr_port=$jport
out=$(rs "$pitr_port" --journal "$jdir")
check "restore with the journal: no divergence" "$([[ $out == *" 0 divergences"* ]] && echo 1 || echo 0)" \
	"$(tail -n 2 <<<"$out" | tr '\n' ' ')"
if jl_compare "$DB_PORT" "$pitr_port" pitr; then ok=1; else ok=0; fi
check "snapshot + journal == the original" "$ok" "$jl_ntables tables, $jl_nprocs procedure(s)"

out=$(rs "$pitr_port")
check "a restore into a database that exists is refused" "$([[ $out == *"exists on the target"* ]] && echo 1 || echo 0)" \
	"$out"
exit $((failures > 0))
