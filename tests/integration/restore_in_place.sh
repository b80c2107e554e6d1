#!/usr/bin/env bash
# restore_in_place.sh LABDIR CLIENT_BIN - RESTORE SNAPSHOT without INTO
# DATABASE, while clients keep working through acctgate:
#   a transaction left open makes it give up after its bounded wait, with
#     nothing changed;
#   then, with a client writing (elsewhere) all along, the live database
#     goes back to a journal sequence: it equals the journal replayed to
#     that sequence onto an empty server; the client's commands were held,
#     none failed or was lost; the tables before the restore are kept in
#     <db>_before_<time>; no AUTO_INCREMENT went back;
#   the journal's UNDO list makes a later roll forward from the same
#     snapshot skip what the restore undid (it equals the live database
#     after more writes), and a restore that stops before the cut still
#     sees the old branch as it was.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$here/journal_common.sh"
[[ $MODE == direct ]] && { echo "SKIP: restores are acctgate's"; exit 77; }
jl_init inplace 97
trap 'sess_close_all; jl_cleanup' EXIT
jl_start_with_admin 2 fsync=always || exit 1
direct() { lab_mariadb_sql "$DB_DIR" -B -N -e "$1" 2>&1; }
status_of() { admin "SHOW STATUS" | awk -v k="$1" '$1 == k { print $2 }'; }
# auto_increment DB: "table counter" lines.
auto_increment() {
	direct "SELECT table_name, auto_increment FROM information_schema.tables WHERE table_schema = '$1'
		AND auto_increment IS NOT NULL ORDER BY 1"
}

jl_workload 3 --seed 51 --threads 4 >"$lab/$jname/workload1.out" 2>&1
for try in 1 2 3 4 5; do
	snap=$(admin "SNAPSHOT")
	[[ $snap == *"take it again"* ]] || break
done
read -r id seq _ <<<"$snap"
check "a snapshot to restore" "$([[ $seq =~ ^[0-9]+$ && $seq -gt 0 ]] && echo 1 || echo 0)" "$snap"
jl_workload 3 --seed 52 --threads 4 >"$lab/$jname/workload2.out" 2>&1
point=$(status_of journal_last_sequence)
jl_workload 3 --seed 53 --threads 4 >"$lab/$jname/workload3.out" 2>&1
echo "snapshot $id at seq $seq; restoring to seq $point of $(status_of journal_last_sequence)"

# The reference: the journal from nothing up to the point.
jl_server reference || exit 1
ref_port=$jport
jl_replay "$ref_port" --until-seq "$point"
check "the journal replayed to seq $point (the reference)" "$(($? == 0))" "$(tail -n 1 "$lab/$jname/replay.out")"

# An open transaction: the restore waits for it, gives up, changes nothing.
tls=(--ssl-ca="$CERTS/ca.pem" --ssl-verify-server-cert)
sess_open open "$jap" "${tls[@]}"
sess_send open "USE $jdb"
sess_send open "BEGIN"
sess_send open "INSERT INTO events (item_id, note) VALUES (0, 'open during the restore')"
sess_send open "SELECT 'inserted'"
sess_wait open 1 >/dev/null
jl_state "$DB_PORT" >"$lab/$jname/state-before-refused"
out=$(admin "RESTORE SNAPSHOT '$id' UNTIL SEQUENCE $point")
check "an open transaction: the restore gives up after its wait, nothing changed" \
	"$([[ $out == *ERROR*"transaction open"*"nothing was changed"* ]] && echo 1 || echo 0)" "$out"
jl_state "$DB_PORT" >"$lab/$jname/state-after-refused"
check "... the live database is as it was, nothing left beside it" \
	"$(cmp -s "$lab/$jname/state-before-refused" "$lab/$jname/state-after-refused" &&
		[[ -z $(direct "SHOW DATABASES LIKE '${jdb}\_restoring\_%'") ]] && echo 1 || echo 0)" \
	"$(direct "SHOW DATABASES LIKE '${jdb}%'" | tr '\n' ' ')"
sess_send open "COMMIT"
sess_send open "SELECT 'committed'"
check "... and the open transaction commits afterwards" \
	"$([[ $(sess_wait open 2) == committed ]] && echo 1 || echo 0)" "$(tail -n 2 "$sess_dir/open.out" | tr '\n' ' ')"
sess_close_all

# What the restore must keep: the live state, the counters.
jl_state "$DB_PORT" >"$lab/$jname/state-pre"
auto_increment "$jdb" >"$lab/$jname/ai-pre"

# A client writing through acctgate all along, in another database: its
# commands are held during the swap and must all succeed.
direct "DROP DATABASE IF EXISTS inplace_writer; CREATE DATABASE inplace_writer;
	CREATE TABLE inplace_writer.w (i INT PRIMARY KEY, at DATETIME(6))" >/dev/null
writes=300
(for i in $(seq 1 $writes); do
	echo "INSERT INTO w VALUES ($i, NOW(6));"
	sleep 0.02
done | jl_sql "$jap" inplace_writer) >"$lab/$jname/writer.out" 2>&1 &
writer=$!
sleep 1
log_mark "$jag/acctgate.log"
out=$(admin "RESTORE SNAPSHOT '$id' UNTIL SEQUENCE $point")
echo "$out" | sed 's/^/  | /'
wait "$writer"
wstatus=$?
check "RESTORE SNAPSHOT in place: done, the old tables kept aside, slurmdbd's restart asked for" \
	"$([[ $out == *"restored snapshot $id"* && $out == *" 0 divergences"* && $out == *"in place: database $jdb now holds"* &&
		$out == *"restart slurmdbd, then slurmctld"* ]] && echo 1 || echo 0)" "$(tr '\n' ' ' <<<"$out" | cut -c1-400)"
old=$(grep -oE "${jdb}_before_[0-9]+" <<<"$out" | head -n 1)
check "the writing client: every command answered, none lost" \
	"$([[ $wstatus == 0 && $(direct "SELECT COUNT(*) FROM inplace_writer.w") == "$writes" ]] && echo 1 || echo 0)" \
	"status $wstatus, $(direct "SELECT COUNT(*) FROM inplace_writer.w") rows, $(head -c 300 "$lab/$jname/writer.out")"
held=$(log_after "$jag/acctgate.log" | grep -oE 'held for [0-9.]+ ms \([0-9]+ sessions' | head -n 1)
echo "client commands ${held:-?}"
check "the restore held the clients' commands (the log says for how long, and how many)" \
	"$([[ $held =~ \(([0-9]+)\ sessions && ${BASH_REMATCH[1]} -ge 1 ]] && echo 1 || echo 0)" "${held:-no log line}"
if jl_compare "$DB_PORT" "$ref_port" in-place; then eq=1; else eq=0; fi
check "the live database == the journal replayed to seq $point" "$eq" "$jl_ntables tables, $jl_nprocs procedure(s)"
jl_state_of() { local jdb=$1; jl_state "$DB_PORT" | sed "s/$1/$2/g"; }
jl_state_of "$old" "$jdb" >"$lab/$jname/state-old"
check "the tables before the restore are kept, unchanged, in $old" \
	"$(cmp -s "$lab/$jname/state-pre" "$lab/$jname/state-old" && echo 1 || echo 0)" \
	"$(diff "$lab/$jname/state-pre" "$lab/$jname/state-old" | head -n 4 | cut -c1-200)"
went_back=$(join "$lab/$jname/ai-pre" <(auto_increment "$jdb") | awk '$3 < $2 { print $1 " " $2 " -> " $3 }')
check "no AUTO_INCREMENT went back (ids handed out are not handed out again)" \
	"$([[ -z $went_back && -s $lab/$jname/ai-pre ]] && echo 1 || echo 0)" "${went_back:-$(wc -l <"$lab/$jname/ai-pre") counters}"
cut_seq=$(awk '{ print $7 }' "$jdir/UNDO" 2>/dev/null | tail -n 1)
check "the journal's UNDO list has the restore" \
	"$([[ $(cat "$jdir/UNDO" 2>/dev/null) == "undo until_seq $point until_time 0 cut_seq "* && $cut_seq -gt $point ]] && echo 1 || echo 0)" \
	"$(cat "$jdir/UNDO" 2>/dev/null)"

# Life goes on on the restored database; later the same snapshot rolled
# forward to the end must skip what the restore undid.
jl_workload 3 --seed 54 --threads 4 >"$lab/$jname/workload4.out" 2>&1
grep '^workload:' "$lab/$jname/workload4.out"
lab_acctgate_stop "$jag"
rs() { "$ACCTGATE_BIN" restore --target "127.0.0.1:$1" --user "$LAB_DB_USER" --password-file "$jpw" \
	--tls-ca "$CERTS/ca.pem" --no-progress --snapshot "$lab/$jname/snapshots/$id" --journal "$jdir" "${@:2}" 2>&1; }
jl_server pitr || exit 1
pitr_port=$jport
out=$(rs "$pitr_port")
check "the snapshot rolled forward past the restore: the undone commits skipped, no divergence" \
	"$([[ $out == *"skipped "*" transactions an in-place restore undid"* && $out == *" 0 divergences"* ]] && echo 1 || echo 0)" \
	"$(tail -n 3 <<<"$out" | tr '\n' ' ')"
if jl_compare "$DB_PORT" "$pitr_port" after; then eq=1; else eq=0; fi
check "... and equals the live database" "$eq" "$jl_ntables tables"
jl_server branch || exit 1
branch_port=$jport
out=$(rs "$branch_port" --until-seq $((cut_seq - 1)))
check "a roll forward that stops before the cut: the old branch, nothing skipped" \
	"$([[ $out != *"in-place restore undid"* && $out == *" 0 divergences"* ]] && echo 1 || echo 0)" \
	"$(grep -E 'replayed|skipped' <<<"$out" | tr '\n' ' ')"
jl_state "$branch_port" >"$lab/$jname/state-branch"
branch_diff=""
if ! cmp -s "$lab/$jname/state-pre" "$lab/$jname/state-branch"; then
	# The rows of the tables that differ: the set-aside copy against the branch.
	branch_diff=$(diff "$lab/$jname/state-pre" "$lab/$jname/state-branch" | head -n 4 | cut -c1-200)
	for t in $(diff "$lab/$jname/state-pre" "$lab/$jname/state-branch" | awk '/^[<>] checksum / { sub(/.*\./, "", $3); print $3 }' | sort -u); do
		branch_diff+=$'\n'"rows of $t, set aside (<) vs branch (>):"$'\n'
		branch_diff+=$(diff <(direct "SELECT * FROM \`$old\`.\`$t\` ORDER BY 1, 2") \
			<(jl_sql "$branch_port" -B -N -e "SELECT * FROM \`$jdb\`.\`$t\` ORDER BY 1, 2") | head -n 12 | cut -c1-200)
	done
fi
check "... equal to the tables the restore set aside" "$([[ -z $branch_diff ]] && echo 1 || echo 0)" "${branch_diff:-equal}"
direct "DROP DATABASE IF EXISTS inplace_writer; DROP DATABASE IF EXISTS \`$old\`" >/dev/null
exit $((failures > 0))
