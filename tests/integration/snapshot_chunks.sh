#!/usr/bin/env bash
# snapshot_chunks.sh LABDIR CLIENT_BIN - a snapshot whose large tables are
# dumped in chunks of their key ([snapshot] chunk_rows), offline, then
# restored; each restored table equals its source (CHECKSUM TABLE EXTENDED
# and SHOW CREATE TABLE, so the secondary indexes restore builds after the
# rows come back as they were, in their order):
#   tables chunked on a signed BIGINT key with gaps and a 0 (kept as 0:
#     NO_AUTO_VALUE_ON_ZERO), on a BIGINT UNSIGNED key at both ends of its
#     range, on a TINYINT key, on the first column of a composite key;
#     tables not chunked: a VARCHAR key, no key, too few rows; an index
#     on the AUTO_INCREMENT column (kept from the start) and one before it
#     (kept too, for the order); a database with a foreign key (no index
#     deferred); bytes LOAD DATA escapes, NULLs, a 3 MiB field;
#   the manifest lists each chunk; restore refuses a damaged or missing
#   chunk, naming it, before it creates anything;
#   README's way to load a snapshot with the standard tools (mariadb and
#   zstd) gives the same tables;
#   a format 1 snapshot (one file per table, before chunks) restores.
# Offline (acctgate snapshot / restore straight at MariaDB): it runs in
# direct mode too.
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$here/journal_common.sh"
jl_init chunks 97
trap jl_cleanup EXIT
work=$lab/chunks
rm -rf "$work/snap" "$work/snap-v1" "$work/snap-bad"
src=chunks_src
fkdb=chunks_fk
direct() { lab_mariadb_sql "$DB_DIR" -B -N "$@" 2>&1; }
direct -e "DROP DATABASE IF EXISTS $src; DROP DATABASE IF EXISTS $fkdb; CREATE DATABASE $src;
	CREATE DATABASE $fkdb"
if ! direct "$src" <<'SQL'; then
SET NAMES utf8mb4;
SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_AUTO_VALUE_ON_ZERO');
CREATE TABLE big (
	id BIGINT NOT NULL AUTO_INCREMENT,
	grp INT NOT NULL,
	code VARCHAR(20) NOT NULL,
	txt MEDIUMTEXT,
	bin BLOB,
	ts TIMESTAMP(6) NULL,
	d DOUBLE,
	u VARCHAR(20) CHARACTER SET utf8mb4,
	PRIMARY KEY (id),
	UNIQUE KEY code (code),
	KEY grp (grp, ts),
	KEY txt (txt(10))
) ENGINE=InnoDB;
INSERT INTO big SELECT CAST(seq AS SIGNED) * 7 - 20000, seq % 13, CONCAT('c', seq),
	CASE seq % 5 WHEN 0 THEN NULL WHEN 1 THEN CONCAT('tab\there', seq)
		WHEN 2 THEN CONCAT('nl\nback\\slash\r', seq) WHEN 3 THEN CONCAT('nul', CHAR(0), seq)
		ELSE REPEAT('x', seq % 300) END,
	IF(seq % 3 = 0, NULL, UNHEX(SHA2(seq, 256))), FROM_UNIXTIME(1600000000 + seq * 3601.5),
	seq / 7, IF(seq % 2, 'é€😀', NULL)
FROM seq_1_to_6000;
INSERT INTO big (id, grp, code, txt) VALUES (22001, 0, 'large', REPEAT('0123456789abcdef', 196608));
INSERT INTO big (id, grp, code) VALUES (0, 0, 'zero');
CREATE TABLE ubig (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, v INT, KEY v (v)) ENGINE=InnoDB;
INSERT INTO ubig SELECT seq, seq FROM seq_0_to_1499;
INSERT INTO ubig SELECT 18446744073709551615 - seq, seq FROM seq_0_to_1499;
CREATE TABLE tiny_key (id TINYINT NOT NULL PRIMARY KEY, v INT) ENGINE=InnoDB;
INSERT INTO tiny_key SELECT CAST(seq AS SIGNED) - 128, seq FROM seq_0_to_255;
CREATE TABLE composite (job INT UNSIGNED NOT NULL, step INT NOT NULL, v VARCHAR(10),
	PRIMARY KEY (job, step), KEY v (v)) ENGINE=InnoDB;
INSERT INTO composite SELECT (seq + 1) DIV 2, IF(seq % 2, -5, 0), seq FROM seq_1_to_3000;
CREATE TABLE strpk (name VARCHAR(40) NOT NULL PRIMARY KEY, n INT, KEY n (n)) ENGINE=InnoDB;
INSERT INTO strpk SELECT CONCAT('n', seq), seq FROM seq_1_to_2000;
CREATE TABLE nopk (a INT, b TEXT, KEY a (a)) ENGINE=InnoDB;
INSERT INTO nopk SELECT seq % 10, 'dup' FROM seq_1_to_2000;
CREATE TABLE ai (k INT NOT NULL, id INT NOT NULL AUTO_INCREMENT, w INT,
	PRIMARY KEY (k), KEY w (w), KEY id (id), KEY w2 (w, k)) ENGINE=InnoDB;
INSERT INTO ai (k, w) SELECT seq, seq % 7 FROM seq_1_to_1000;
CREATE TABLE few (id INT NOT NULL PRIMARY KEY, v INT, KEY v (v)) ENGINE=InnoDB;
INSERT INTO few VALUES (1, 1), (2, 2), (3, 3);
ANALYZE TABLE big, ubig, tiny_key, composite, strpk, nopk, ai, few;
SQL
	echo "FAIL: cannot create the source tables"
	exit 1
fi
if ! direct "$fkdb" <<'SQL'; then
CREATE TABLE parent (id INT NOT NULL PRIMARY KEY, name VARCHAR(20), KEY name (name)) ENGINE=InnoDB;
CREATE TABLE child (id INT NOT NULL PRIMARY KEY, parent_id INT NOT NULL, KEY parent_id (parent_id),
	CONSTRAINT fk FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB;
INSERT INTO parent SELECT seq, CONCAT('p', seq) FROM seq_1_to_500;
INSERT INTO child SELECT seq, 1 + seq % 500 FROM seq_1_to_500;
ANALYZE TABLE parent, child;
SQL
	echo "FAIL: cannot create the foreign key tables"
	exit 1
fi

ag() { "$ACCTGATE_BIN" "$1" --target "127.0.0.1:$2" --user "$LAB_DB_USER" --password-file "$jpw" \
	--tls-ca "$CERTS/ca.pem" --no-progress "${@:3}" 2>&1; }
out=$(ag snapshot "$DB_PORT" --out "$work/snap" --databases "$src,$fkdb" --threads 3 --chunk-rows 100)
check "offline snapshot with --chunk-rows 100" "$([[ $out == *"snapshot snap:"* ]] && echo 1 || echo 0)" "$out"
man=$work/snap/MANIFEST
files() { awk -v t="$1" '$1 == "table" && $3 == t { print $9 }' "$man"; }
chunked=""
for t in big ubig tiny_key composite ai; do
	n=$(files "$t")
	[[ $n =~ ^[0-9]+$ && $n -gt 1 ]] || chunked+=" $t:${n:-none}"
done
check "tables with an integer first key column and more rows than chunk_rows are chunked" \
	"$([[ -z $chunked ]] && echo 1 || echo 0)" \
	"${chunked:-big $(files big), ubig $(files ubig), tiny_key $(files tiny_key), composite $(files composite), ai $(files ai) files}"
single=""
for t in strpk nopk few; do [[ $(files "$t") == 1 ]] || single+=" $t:$(files "$t")"; done
check "a VARCHAR key, no key, few rows: one file each" "$([[ -z $single ]] && echo 1 || echo 0)" "${single:-one each}"
listed=$(awk '$1 == "file" && $3 == "big" { print $4 }' "$man")
missing=""
for f in $listed; do [[ -s $work/snap/$f ]] || missing+=" $f"; done
check "each chunk of big is listed, as data/$src/big.NNNN.tsv.zst, and exists" \
	"$([[ -z $missing && $(head -n1 <<<"$listed") == "data/$src/big.0001.tsv.zst" ]] && echo 1 || echo 0)" \
	"${missing:-$(wc -l <<<"$listed") files}"
rows=$(awk '$1 == "file" && $3 == "big" { s += $6 } END { print s }' "$man")
check "big's chunks hold its rows, each once" "$([[ $rows == 6002 ]] && echo 1 || echo 0)" "$rows rows"

# state PORT DB: each table's checksum and definition (AUTO_INCREMENT
# counter left out), one line each.
state() {
	local t
	for t in $(jl_sql "$1" -B -N -e "SELECT table_name FROM information_schema.tables WHERE table_schema = '$2'
		ORDER BY table_name"); do
		printf '%s %s %s\n' "$t" "$(jl_sql "$1" -B -N -e "CHECKSUM TABLE \`$2\`.\`$t\` EXTENDED" | cut -f2)" \
			"$(jl_sql "$1" -B -N -e "SHOW CREATE TABLE \`$2\`.\`$t\`" | sed -E 's/ AUTO_INCREMENT=[0-9]+//' |
				tr '\t\n' '  ')"
	done
}
# same NAME PORT DB [SOURCE_DB]: the restored database equals the source.
same() {
	local a b
	a=$(state "$DB_PORT" "${4:-$3}")
	b=$(state "$2" "$3")
	if [[ $a == "$b" && -n $a ]]; then
		check "$1" 1 "$(wc -l <<<"$a") tables equal"
	else
		check "$1" 0 "$(diff <(echo "$a") <(echo "$b") | cut -c1-300 | head -n 6 | tr '\n' ' ')"
	fi
}

# A damaged chunk, then a missing one: refused before anything is created.
jl_server restored || exit 1
rport=$jport
cp -a "$work/snap" "$work/snap-bad"
bad=$(sed -n 3p <<<"$listed")
printf '\xff' | dd of="$work/snap-bad/$bad" bs=1 seek=20 conv=notrunc status=none
out=$(ag restore "$rport" --snapshot "$work/snap-bad")
check "restore refuses a damaged chunk, naming it, and creates nothing" \
	"$([[ $out == *"does not verify"*"$bad"* && -z $(jl_sql "$rport" -B -N -e "SHOW DATABASES LIKE '$src'") ]] &&
		echo 1 || echo 0)" "$out"
rm -f "$work/snap-bad/$bad"
out=$(ag restore "$rport" --snapshot "$work/snap-bad")
check "restore refuses a missing chunk, naming it" \
	"$([[ $out == *"does not verify"*"$bad"*"No such file"* ]] && echo 1 || echo 0)" "$out"

out=$(ag restore "$rport" --snapshot "$work/snap" --threads 3)
check "restore of the chunked snapshot" "$([[ $out == *"restored snapshot snap"* ]] && echo 1 || echo 0)" "$out"
same "restored $src == the source (chunks loaded in parallel, indexes built after the rows)" "$rport" "$src"
same "restored $fkdb == the source (a foreign key: every index from the start)" "$rport" "$fkdb"
zero=$(jl_sql "$rport" -B -N -e "SELECT COUNT(*) FROM $src.big WHERE id = 0")
check "the row with id 0 in an AUTO_INCREMENT column is restored as 0" "$([[ $zero == 1 ]] && echo 1 || echo 0)" \
	"$zero row"

# README "Backup and restore": the standard tools alone, onto another server.
jl_server standard || exit 1
sport=$jport
std() { mariadb -h 127.0.0.1 -P "$sport" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --ssl-ca="$CERTS/ca.pem" "$@"; }
(
	set -e
	cd "$work/snap"
	for db in $src $fkdb; do std <"schema/$db.sql"; done
	awk '$1 == "file" { print $2, $3, $4 }' MANIFEST | while read -r db table file; do
		zstd -dc "$file" | std --local-infile=1 "$db" -e "SET NAMES binary, foreign_key_checks = 0,
			unique_checks = 0, sql_mode = 'NO_AUTO_VALUE_ON_ZERO', time_zone = '+00:00';
			LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE \`$table\` CHARACTER SET binary"
	done
	for db in $src $fkdb; do std <"schema/$db.post.sql"; done
) >"$work/standard.out" 2>&1
check "README's load with mariadb and zstd alone" "$(($? == 0))" "$(tail -n 3 "$work/standard.out" | tr '\n' ' ')"
same "loaded with the standard tools: $src == the source" "$sport" "$src"

# Format 1: one file per table and its CRC on the table line.
out=$(ag snapshot "$DB_PORT" --out "$work/snap-v1" --databases "$src" --chunk-rows 0)
awk '$1 == "acctgate-snapshot" { print "acctgate-snapshot 1"; next }
	$1 == "chunk_rows" { next }
	$1 == "table" { t = $1 " " $2 " " $3 " " $4 " " $5 " " $6 " " $7; next }
	$1 == "file" { print t " crc32c " $10; next }
	{ print }' "$work/snap-v1/MANIFEST" >"$work/snap-v1/MANIFEST.v1" && mv "$work/snap-v1/MANIFEST.v1" "$work/snap-v1/MANIFEST"
out=$(ag restore "$rport" --snapshot "$work/snap-v1" --into-database chunks_v1)
check "a format 1 snapshot restores" \
	"$([[ $(head -n1 "$work/snap-v1/MANIFEST") == "acctgate-snapshot 1" && $out == *"restored snapshot snap-v1"* ]] &&
		echo 1 || echo 0)" "$out"
same "restored from format 1: chunks_v1 == $src" "$rport" chunks_v1 "$src"

direct -e "DROP DATABASE $src; DROP DATABASE $fkdb" >/dev/null
exit $((failures > 0))
