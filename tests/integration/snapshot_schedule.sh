#!/usr/bin/env bash
# snapshot_schedule.sh LABDIR CLIENT_BIN - snapshots acctgate takes by
# itself, and what it keeps:
#   [snapshot] schedule = every 3s: scheduled snapshots appear in SHOW
#     SNAPSHOTS and the log, while rows are written through acctgate;
#   keep = 2 trims them to the newest two, oldest first, after each one
#     (scheduled or the admin's SNAPSHOT), and the log names each;
#   the journal (1 MiB segments): with [journal] retention = 7d every
#     segment stays (the longer rule wins); with retention = 0 the
#     segments wholly before the oldest kept snapshot's cut go, and the
#     one holding it stays, at start and again when keep moves the floor;
#     the oldest kept snapshot still restores and rolls forward (RESTORE
#     SNAPSHOT ... INTO DATABASE: equal to the original, 0 divergences);
#   stale: scheduled snapshots that fail (databases = a database that does
#     not exist) make the newest older than twice the schedule: one log
#     warning, SHOW STATUS snapshot_stale yes and snapshot_last_error; the
#     next one taken ends it (one log line, snapshot_stale no);
#   SIGTERM while a snapshot runs (its SELECT held by a LOCK TABLES of
#     another session): with drain_timeout = 60 it is waited for and is
#     whole (VERIFY SNAPSHOT ok after a restart); with drain_timeout = 1
#     it is cancelled and its directory removed, and the log says so; no
#     directory without a MANIFEST is ever left behind.
# acctgate only (77 = skipped in direct mode).
set -uo pipefail
. "$(dirname "$0")/common.sh"
. "$here/journal_common.sh"
[[ $MODE == direct ]] && { echo "SKIP: snapshots are acctgate's"; exit 77; }
jl_init sched 100
trap jl_cleanup EXIT
sdir=$lab/$jname/snapshots
rm -rf "$jdir" "$jag/acctgate.log" "$sdir"
mkdir -p "$jdir" "$sdir"
adm_port=$(lab_free_port $((jap + 1)))
log=$jag/acctgate.log

# conf SCHEDULE KEEP RETENTION DRAIN_TIMEOUT [DATABASES]
conf() {
	lab_acctgate_conf "$jag/acctgate.conf" "$jap" "127.0.0.1:$DB_PORT" "$CERTS" threads=2 drain_timeout="$4"
	cat >>"$jag/acctgate.conf" <<EOF
[journal]
dir = $jdir
fsync = always
segment_size = 1M
retention = $3
[snapshot]
user = $LAB_DB_USER
password_file = $jpw
dir = $sdir
threads = 1
databases = ${5:-$jdb}
schedule = $1
keep = $2
[admin]
listen = 127.0.0.1:$adm_port
user = admin
password_file = $jpw
client_tls = disabled
EOF
}
direct() { lab_mariadb_sql "$DB_DIR" -B -N -e "$1" 2>&1; }
status_of() { admin "SHOW STATUS" | awk -F'\t' -v k="$1" '$1 == k { print $2 }'; }
# The snapshots SHOW SNAPSHOTS lists as done: "id seq" lines, oldest first.
done_snaps() { admin "SHOW SNAPSHOTS" | awk -F'\t' '$7 == "done" { print $1, $2 }'; }
# The journal's segments: each one's first sequence number, in order.
segments() {
	local f
	for f in "$jdir"/*.agj; do
		f=${f##*/}
		echo $((10#${f%.agj}))
	done | sort -n
}
# rows N: N autocommit INSERTs through acctgate, 45 KB of text each (the
# journal records the statement: about 20 make a 1 MiB segment).
rows() {
	local i
	for ((i = 0; i < $1; i++)); do
		printf "INSERT INTO t (pad) VALUES ('%s');\n" "$(head -c 34000 /dev/urandom | base64 -w0)"
	done | jl_sql "$jap" "$jdb"
}
# count_log PATTERN: lines of the log since the mark matching PATTERN;
# logged PATTERN [N]: at least N (1) of them.
count_log() { log_after "$log" | grep -cE "$1"; }
logged() { (($(count_log "$1") >= ${2:-1})); }
no_running() { [[ $(admin "SHOW SNAPSHOTS") != *running* ]]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds (true) or time is up.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.3
	done
}
# floor_ok S: the journal's segments as a floor at S leaves them: the first
# holds S (it starts at or before it, the next after it).
floor_ok() {
	local -a seg
	mapfile -t seg < <(segments)
	((${#seg[@]} > 0 && seg[0] <= $1)) && { ((${#seg[@]} == 1)) || ((seg[1] > $1)); }
}
# half_dirs: snapshot directories without a MANIFEST.
half_dirs() {
	local d out=""
	for d in "$sdir"/*/; do
		[[ -d $d && ! -e $d/MANIFEST ]] && out+=" ${d%/}"
	done
	echo "$out"
}

# ---- schedule and keep --------------------------------------------------------
conf off 2 7d 60
lab_acctgate_start "$jag" "$jag/acctgate.conf" || exit 1
log_mark "$log"
direct "DROP DATABASE IF EXISTS \`$jdb\`" >/dev/null
jl_sql "$jap" -e "CREATE DATABASE \`$jdb\`; CREATE TABLE \`$jdb\`.t (id INT AUTO_INCREMENT PRIMARY KEY, pad MEDIUMTEXT)" ||
	{ echo "FAIL: cannot create the table through acctgate"; exit 1; }
rows 30
conf "every 3s" 2 7d 60
out=$(lab_acctgate_reload "$jag")
check "a reload sets the schedule" "$([[ $out == *"reload done"* && $(count_log 'snapshot schedule: every 3s \(next ') == 1 ]] && echo 1 || echo 0)" \
	"$out"
# Rows between the snapshots, so that each has its own cut and the journal
# grows segments between them.
for _ in $(seq 60); do
	rows 4
	logged 'taken \(by schedule\)' 4 && break
	sleep 0.3
done
conf off 2 7d 60
lab_acctgate_reload "$jag" >/dev/null
wait_for 10 no_running
taken=$(log_after "$log" | grep -oE 'snapshot [0-9TZ-]+ taken \(by schedule\)' | awk '{ print $2 }')
ntaken=$(wc -w <<<"$taken")
check "scheduled snapshots are taken, one per 3 s (the log's result lines)" "$((ntaken >= 4))" "$ntaken: $(tr '\n' ' ' <<<"$taken")"
list=$(done_snaps)
ids=$(awk '{ print $1 }' <<<"$list" | tr '\n' ' ')
want=$(tail -n 2 <<<"$taken" | tr '\n' ' ')
check "SHOW SNAPSHOTS: keep = 2 left the newest two scheduled ones" "$([[ $ids == "$want" ]] && echo 1 || echo 0)" \
	"listed: $ids; taken last: $want"
first=$(head -n 1 <<<"$taken")
check "keep deleted the oldest first, and the log names each one" \
	"$([[ $(count_log "snapshot $first deleted \(keep = 2\)") == 1 && ! -e $sdir/$first &&
		$(count_log 'deleted \(keep = 2\)') == $((ntaken - 2)) ]] && echo 1 || echo 0)" \
	"$(log_after "$log" | grep -c 'deleted (keep' ) deletions"
oldest=$(head -n 1 <<<"$list")
oldest_seq=${oldest#* }
mapfile -t seg < <(segments)
check "retention = 7d and keep: every segment stays (the longer rule wins)" \
	"$([[ ${seg[0]} == 1 && ${#seg[@]} -ge 5 ]] && echo 1 || echo 0)" \
	"${#seg[@]} segments from ${seg[0]}; the oldest kept snapshot's cut is $oldest_seq"
check "the log names the floor: the oldest kept snapshot's cut" \
	"$(($(count_log "segments from sequence $oldest_seq on stay for snapshot ${oldest% *}") >= 1))" \
	"$(log_after "$log" | grep 'segments from sequence' | tail -n 1)"

# ---- the journal trimmed to the kept snapshots ----------------------------------
lab_acctgate_stop "$jag"
conf off 2 0 60
lab_acctgate_start "$jag" "$jag/acctgate.conf" || exit 1
wait_for 10 floor_ok "$oldest_seq"
mapfile -t seg < <(segments)
check "retention = 0: at start the segments wholly before the oldest kept cut ($oldest_seq) go, its own stays" \
	"$(floor_ok "$oldest_seq" && ((seg[0] > 1)) && echo 1 || echo 0)" "segments start at: ${seg[*]}"
rows 30
out=$(admin "SNAPSHOT")
manual=$(cut -f1 <<<"$out")
list=$(done_snaps)
oldest=$(head -n 1 <<<"$list")
oldest_seq=${oldest#* }
check "the admin's SNAPSHOT is kept too, and keep = 2 drops the oldest after it" \
	"$([[ $(wc -l <<<"$list") == 2 && $(tail -n 1 <<<"$list") == "$manual "* && ${oldest% *} == "$(tail -n 1 <<<"$taken")" ]] && echo 1 || echo 0)" \
	"$(tr '\n' ' ' <<<"$list")"
wait_for 10 floor_ok "$oldest_seq"
mapfile -t seg < <(segments)
check "the floor followed: segments before the new oldest cut ($oldest_seq) went" \
	"$(floor_ok "$oldest_seq" && echo 1 || echo 0)" "segments start at: ${seg[*]}"
rows 10
copy=${jdb}_copy
direct "DROP DATABASE IF EXISTS \`$copy\`" >/dev/null
out=$(admin "RESTORE SNAPSHOT '${oldest% *}' INTO DATABASE '$copy'")
check "the oldest kept snapshot restores and rolls forward over what is left of the journal" \
	"$([[ $out == *"restored snapshot ${oldest% *}"* && $out == *" 0 divergences"* ]] && echo 1 || echo 0)" \
	"$(tr '\n' ' ' <<<"$out" | cut -c1-300)"
a=$(direct "CHECKSUM TABLE \`$jdb\`.t EXTENDED" | cut -f2)
b=$(direct "CHECKSUM TABLE \`$copy\`.t EXTENDED" | cut -f2)
check "the restored copy == the original (CHECKSUM TABLE EXTENDED)" "$([[ -n $a && $a == "$b" ]] && echo 1 || echo 0)" "$a vs $b"
direct "DROP DATABASE \`$copy\`" >/dev/null

# ---- stale -----------------------------------------------------------------------
# A fresh snapshot, then the schedule's fail: stale once the newest is
# older than 2 x 2 s.
log_mark "$log"
manual=$(admin "SNAPSHOT" | cut -f1)
conf "every 2s" 2 0 60 no_such_db
lab_acctgate_reload "$jag" >/dev/null
wait_for 20 logged 'snapshots are stale'
line=$(log_after "$log" | grep 'snapshots are stale' | head -n 1)
check "failing scheduled snapshots: the log warns that the newest is older than twice the schedule" \
	"$([[ $line == *warning*"the newest, $manual, is "*"more than twice the schedule (every 2s); the last one failed: "*"no database to snapshot among no_such_db"* ]] && echo 1 || echo 0)" \
	"${line:-no warning}"
check "SHOW STATUS: snapshot_stale yes, the schedule, the last error" \
	"$([[ $(status_of snapshot_stale) == yes && $(status_of snapshot_schedule) == "every 2s" &&
		$(status_of snapshot_last_error) == *"no database to snapshot"* && -n $(status_of snapshot_next) ]] && echo 1 || echo 0)" \
	"$(admin "SHOW STATUS" | grep snapshot | tr '\t\n' '= ')"
sleep 5
check "the warning is logged once, not at every failed snapshot" \
	"$([[ $(count_log 'snapshots are stale') == 1 && $(count_log 'failed: no database to snapshot') -ge 3 ]] && echo 1 || echo 0)" \
	"$(count_log 'snapshots are stale') warnings, $(count_log 'failed: no database') failures"
conf "every 2s" 2 0 60
lab_acctgate_reload "$jag" >/dev/null
wait_for 15 logged 'snapshots are current again'
check "the next snapshot taken ends it: one log line, snapshot_stale no" \
	"$([[ $(count_log 'snapshots are current again') == 1 && $(status_of snapshot_stale) == no && -z $(status_of snapshot_last_error) ]] && echo 1 || echo 0)" \
	"$(log_after "$log" | grep 'current again')"
conf off 2 0 60
lab_acctgate_reload "$jag" >/dev/null

# ---- a snapshot running at shutdown ----------------------------------------------
# hold_table SECONDS: another session holds t locked, so a snapshot's
# SELECT of it waits that long on the server.
holding() { [[ -n $(direct "SELECT 1 FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP%'") ]]; }
hold_table() {
	lab_mariadb_sql "$DB_DIR" -e "LOCK TABLES \`$jdb\`.t WRITE; SELECT SLEEP($1); UNLOCK TABLES" >/dev/null 2>&1 &
	holder=$!
	wait_for 5 holding
}
# snapshot_then_term: SNAPSHOT on the admin port, SIGTERM once it runs;
# the snapshot's id in $sid; true once acctgate is gone (60 s at most).
snapshot_then_term() {
	admin "SNAPSHOT" >"$lab/$jname/term-snapshot.out" 2>&1 &
	wait_for 10 logged 'started by admin'
	sid=$(log_after "$log" | grep -oE 'snapshot [0-9TZ-]+ started by admin' | tail -n 1 | awk '{ print $2 }')
	sleep 1
	local pid
	pid=$(<"$jag/acctgate.pid")
	kill -TERM "$pid"
	wait_for 60 gone "$pid"
	local stopped=$?
	rm -f "$jag/acctgate.pid"
	return $stopped
}
log_mark "$log"
hold_table 4
snapshot_then_term
stopped=$?
wait "$holder"
check "SIGTERM with a snapshot running: acctgate waits for it, then stops" \
	"$([[ $stopped == 0 && $(count_log "stopping: snapshot $sid \(by admin [0-9]+\) is running: waiting for it, [0-9]+ s at most") == 1 &&
		$(count_log "snapshot $sid taken") == 1 && $(count_log "stopping: snapshot $sid was waited for and is whole") == 1 &&
		$(count_log 'acctgate stopped') == 1 ]] && echo 1 || echo 0)" \
	"$(log_after "$log" | grep -E 'stopping|taken|stopped' | cut -c25- | tr '\n' '|')"
check "... and its directory is whole" "$([[ -e $sdir/$sid/MANIFEST && -z $(half_dirs) ]] && echo 1 || echo 0)" "$(half_dirs)"

conf off 2 0 1
lab_acctgate_start "$jag" "$jag/acctgate.conf" || exit 1
out=$(admin "VERIFY SNAPSHOT '$sid'")
check "the snapshot acctgate waited for verifies" "$([[ $out == "$sid"$'\t'*$'\t'ok ]] && echo 1 || echo 0)" "$out"
log_mark "$log"
hold_table 10
snapshot_then_term
stopped=$?
wait "$holder"
check "SIGTERM past drain_timeout: the snapshot is cancelled, its directory removed, the log says so" \
	"$([[ $stopped == 0 && $(count_log "stopping: snapshot $sid still running at drain_timeout: cancelling it") == 1 &&
		$(count_log "snapshot $sid \(by admin [0-9]+\) failed: cancelled \(acctgate is stopping\)") == 1 &&
		$(count_log "stopping: snapshot $sid was cancelled; its partial directory $sdir/$sid was removed") == 1 &&
		! -e $sdir/$sid ]] && echo 1 || echo 0)" \
	"$(log_after "$log" | grep -E 'stopping|cancel|failed' | cut -c25- | tr '\n' '|')"
check "no snapshot directory without a MANIFEST is left" "$([[ -z $(half_dirs) ]] && echo 1 || echo 0)" "$(half_dirs)"
exit $((failures > 0))
