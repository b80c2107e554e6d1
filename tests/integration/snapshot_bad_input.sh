#!/usr/bin/env bash
# snapshot_bad_input.sh LABDIR CLIENT_BIN - snapshots and restores given
# what they must refuse, each with a clear ERR and nothing changed:
#   a second SNAPSHOT while one runs;
#   a snapshot with a corrupted data file (VERIFY, RESTORE);
#   a journal with a gap after the snapshot's cut (a segment gone) and one
#     corrupted between the cut and the target;
#   a restoring account without the privileges (CREATE denied).
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$here/journal_common.sh"
[[ $MODE == direct ]] && { echo "SKIP: snapshots are acctgate's"; exit 77; }
jl_init badsnap 99
trap jl_cleanup EXIT
jl_start_with_admin 1 fsync=always segment_size=1M || exit 1
rm -rf "$lab/$jname/copies"
mkdir -p "$lab/$jname/copies"
direct() { lab_mariadb_sql "$DB_DIR" -B -N -e "$1" 2>&1; }
nothing_named() { [[ -z $(direct "SHOW DATABASES LIKE '$1'") ]]; }

# A table big enough that a snapshot takes a while (rows written straight
# to the server: this test restores without the journal where they matter).
direct "CREATE TABLE \`$jdb\`.bulk (id INT PRIMARY KEY, pad VARCHAR(200));
	INSERT INTO \`$jdb\`.bulk SELECT seq, REPEAT(MD5(seq), 6) FROM \`$jdb\`.seq_1_to_400000" >/dev/null
admin "SNAPSHOT" >"$lab/$jname/first.out" &
first=$!
# Once SHOW SNAPSHOTS lists it as running, the second one.
for ((i = 0; i < 500; i++)); do
	[[ $(admin "SHOW SNAPSHOTS") == *running* ]] && break
	sleep 0.01
done
second=$(admin "SNAPSHOT")
wait "$first"
check "a second SNAPSHOT while one runs: ERR naming the running one" \
	"$([[ $second == *ERROR*"is running; SHOW SNAPSHOTS shows it"* ]] && echo 1 || echo 0)" "$second"
read -r id seq _ <"$lab/$jname/first.out"
check "... and the first one completes" "$([[ $seq =~ ^[0-9]+$ ]] && echo 1 || echo 0)" "$(cat "$lab/$jname/first.out")"
direct "DROP TABLE \`$jdb\`.bulk" >/dev/null
# Writes after the snapshot, over several 1 MiB journal segments.
jl_workload 4 --seed 61 --threads 4 >"$lab/$jname/workload.out" 2>&1
nseg=$(find "$jdir" -name '*.agj' | wc -l)
echo "journal: $nseg segments after the snapshot at seq $seq"

# A corrupted data file.
bad=$id-corrupt
cp -a "$lab/$jname/snapshots/$id" "$lab/$jname/snapshots/$bad"
f=$(find "$lab/$jname/snapshots/$bad/data" -name 'bulk*.zst' | head -n 1)
size=$(stat -c %s "$f")
printf '\xff\xff\xff\xff' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
out=$(admin "VERIFY SNAPSHOT '$bad'")
check "VERIFY SNAPSHOT of a corrupted snapshot: ERR naming the file" \
	"$([[ $out == *ERROR*"VERIFY SNAPSHOT '$bad' failed"*bulk* ]] && echo 1 || echo 0)" "$out"
out=$(admin "RESTORE SNAPSHOT '$bad' INTO DATABASE 'bad_copy'")
check "RESTORE SNAPSHOT of a corrupted snapshot: ERR, nothing created" \
	"$([[ $out == *ERROR*"does not verify"* ]] && nothing_named bad_copy && echo 1 || echo 0)" "$out"
admin "DROP SNAPSHOT '$bad'" >/dev/null

rs() { "$ACCTGATE_BIN" restore --target "127.0.0.1:$DB_PORT" --user "$1" --password-file "$jpw" \
	--tls-ca "$CERTS/ca.pem" --no-progress --snapshot "$lab/$jname/snapshots/$id" "${@:2}" 2>&1; }

# A journal with a gap after the cut: its first segment gone.
cp -a "$jdir" "$lab/$jname/copies/gap"
rm "$(find "$lab/$jname/copies/gap" -name '*.agj' | sort | head -n 1)"
out=$(rs "$LAB_DB_USER" --journal "$lab/$jname/copies/gap" --into-database gap_copy)
check "a journal that starts after the snapshot's cut: refused, nothing created" \
	"$([[ $out == *"after the snapshot's cut"*"lost"* ]] && nothing_named gap_copy && echo 1 || echo 0)" "$out"

# A journal corrupted between the cut and the target: a record of the
# second segment damaged.
cp -a "$jdir" "$lab/$jname/copies/corrupt"
seg=$(find "$lab/$jname/copies/corrupt" -name '*.agj' | sort | sed -n 2p)
printf '\x00\x11\x22\x33\x44\x55\x66\x77' | dd of="$seg" bs=1 seek=4096 conv=notrunc status=none
out=$(rs "$LAB_DB_USER" --journal "$lab/$jname/copies/corrupt" --into-database corrupt_copy)
check "a journal corrupted after the cut: refused naming the segment, nothing created" \
	"$([[ $out == *"$(basename "$seg")"* ]] && nothing_named corrupt_copy && echo 1 || echo 0)" "$out"

# An account that may read but not create.
direct "DROP USER IF EXISTS 'reader'@'%'; CREATE USER 'reader'@'%' IDENTIFIED BY '$LAB_DB_PASS';
	GRANT SELECT ON *.* TO 'reader'@'%'" >/dev/null
out=$(rs reader --into-database denied_copy)
check "a restoring account without CREATE: ERR saying so, nothing created" \
	"$([[ $out == *"denied"* ]] && nothing_named denied_copy && echo 1 || echo 0)" "$out"
direct "DROP USER 'reader'@'%'" >/dev/null
exit $((failures > 0))
