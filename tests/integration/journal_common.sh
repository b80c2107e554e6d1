# shellcheck shell=bash
# journal_common.sh - sourced (after common.sh) by the journal_*.sh tests:
# an acctgate of the test's own with a [journal] in front of the fixture's
# MariaDB, a fresh database made through it, the workload, empty servers to
# replay onto, and the table-by-table comparison of two servers.
#
# jl_init NAME: $jag (acctgate dir), $jdir (journal), $jdb (database),
#   $jap (acctgate port), $jwork (the workload binary), $jpw (password file).
# shellcheck disable=SC2034 # the variables are the sourcing script's
jl_init() {
	jname=$1
	jag=$lab/ag-$jname
	jdir=$lab/$jname/journal
	jdb=jw_${jname//-/_}
	jwork=$(dirname "$client")/acctgate_journal_workload
	jschema=$here/journal_schema.sql
	mkdir -p "$lab/$jname"
	jpw=$lab/$jname/password
	printf '%s\n' "$LAB_DB_PASS" >"$jpw"
	chmod 0600 "$jpw"
	jap=$(lab_free_port $((TARGET_PORT + ${2:-70})))
	jservers=()
}

# jl_conf [journal key=value...]: acctgate's configuration with a [journal]
# section (dir = $jdir, fsync = always unless given, commit markers and
# clock in the schema acctgate, read back as the lab user: [snapshot]).
jl_conf() {
	lab_acctgate_conf "$jag/acctgate.conf" "$jap" "127.0.0.1:$DB_PORT" "$CERTS" threads=2
	local kv have_fsync=0
	{
		printf '[journal]\ndir = %s\nmarkers = acctgate\n' "$jdir"
		for kv in "$@"; do
			[[ ${kv%%=*} == fsync ]] && have_fsync=1
			printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
		done
		((have_fsync)) || printf 'fsync = always\n'
		printf '[snapshot]\nuser = %s\npassword_file = %s\n' "$LAB_DB_USER" "$jpw"
	} >>"$jag/acctgate.conf"
}

# jl_start_with_admin THREADS [journal key=value...]: jl_conf, then
# [snapshot] dir ($lab/$jname/snapshots, made empty), threads and
# databases ($jdb), and an [admin] port ($adm_port, plaintext, user admin
# with the lab password), and $jl_snapshot_keys (more [snapshot] lines, if
# set); acctgate started and $jdb made fresh through it.
# admin SQL: a statement on the admin port, answer on stdout.
jl_start_with_admin() {
	local threads=$1
	shift
	rm -rf "$jdir" "$jag/acctgate.log" "$lab/$jname/snapshots"
	mkdir -p "$jdir" "$lab/$jname/snapshots"
	adm_port=$(lab_free_port $((jap + 1)))
	jl_conf "$@"
	cat >>"$jag/acctgate.conf" <<EOF
dir = $lab/$jname/snapshots
threads = $threads
databases = $jdb
${jl_snapshot_keys:-}
[admin]
listen = 127.0.0.1:$adm_port
user = admin
password_file = $jpw
client_tls = disabled
EOF
	lab_acctgate_start "$jag" "$jag/acctgate.conf" || return 1
	jl_fresh_db || { echo "FAIL: cannot create the schema through acctgate"; return 1; }
}
admin() { mariadb -h 127.0.0.1 -P "$adm_port" -u admin -p"$LAB_DB_PASS" --skip-ssl -B -N -e "$1" 2>&1; }

# jl_sql PORT [mariadb options...]: the mariadb client as the lab user over
# verified TLS (through acctgate or to a server).
jl_sql() {
	local port=$1
	shift
	timeout 120 mariadb -h 127.0.0.1 -P "$port" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 \
		--ssl-ca="$CERTS/ca.pem" --ssl-verify-server-cert "$@"
}

# jl_fresh_db: drop the test database on the fixture's server directly
# (not journaled), then create it and its schema through acctgate.
jl_fresh_db() {
	lab_mariadb_sql "$DB_DIR" -e "DROP DATABASE IF EXISTS \`$jdb\`" || return 1
	jl_sql "$jap" -e "CREATE DATABASE \`$jdb\`" || return 1
	jl_sql "$jap" "$jdb" <"$jschema"
}

# jl_workload SECONDS [workload options...]: run it against acctgate.
jl_workload() {
	local secs=$1
	shift
	"$jwork" --host 127.0.0.1 --port "$jap" --user "$LAB_DB_USER" --password "$LAB_DB_PASS" \
		--ssl-ca "$CERTS/ca.pem" --db "$jdb" --seconds "$secs" "$@"
}

# jl_server NAME: start an empty MariaDB of the test's own (the fixture's
# certificates); its port in $jport. Stopped by jl_cleanup.
jl_server() {
	local d=$lab/$jname/$1
	jport=$(lab_free_port $((DB_PORT + 80 + ${#jservers[@]})))
	jservers+=("$d")
	lab_mariadb_start "$d" "$jport" "$CERTS" server
}

jl_cleanup() {
	local d
	lab_acctgate_stop "$jag"
	for d in "${jservers[@]}"; do lab_mariadb_stop "$d"; done
}

# jl_replay PORT [replay options...]: replay $jdir onto 127.0.0.1:PORT;
# output in $lab/$jname/replay.out, status returned.
jl_replay() {
	local port=$1
	shift
	"$ACCTGATE_BIN" replay --journal "$jdir" --target "127.0.0.1:$port" --user "$LAB_DB_USER" \
		--password-file "$jpw" --tls-ca "$CERTS/ca.pem" --tls verify_identity --no-progress "$@" \
		>"$lab/$jname/replay.out" 2>&1
}

# jl_tables PORT: the test database's base tables, one a line.
jl_tables() {
	jl_sql "$1" -B -N -e "SELECT table_name FROM information_schema.tables WHERE table_schema = '$jdb'
		AND table_type = 'BASE TABLE' ORDER BY table_name"
}

# jl_state PORT: what must be equal between two servers, one line per item:
# each table's CHECKSUM TABLE ... EXTENDED and its SHOW CREATE TABLE (the
# AUTO_INCREMENT counter left out: a rolled-back insert moves it on the
# original only), each routine's SHOW CREATE PROCEDURE.
jl_state() {
	local port=$1 t list="" p
	while read -r t; do
		list+="${list:+, }\`$jdb\`.\`$t\`"
	done < <(jl_tables "$port")
	if [[ -n $list ]]; then
		jl_sql "$port" -B -N -e "CHECKSUM TABLE $list EXTENDED" | sed 's/^/checksum /'
		while read -r t; do
			printf 'create %s %s\n' "$t" "$(jl_sql "$port" -B -N -e "SHOW CREATE TABLE \`$jdb\`.\`$t\`" |
				sed -E 's/ AUTO_INCREMENT=[0-9]+//' | tr '\t\n' '  ')"
		done < <(jl_tables "$port")
	fi
	while read -r p; do
		printf 'procedure %s %s\n' "$p" "$(jl_sql "$port" -B -N -e "SHOW CREATE PROCEDURE \`$jdb\`.\`$p\`" |
			tr '\t\n' '  ')"
	done < <(jl_sql "$port" -B -N -e "SELECT routine_name FROM information_schema.routines
		WHERE routine_schema = '$jdb' ORDER BY routine_name")
}

# jl_compare PORT_A PORT_B LABEL: state of A and B; prints the differing
# lines; true when equal. Counts in jl_ntables / jl_nprocs.
jl_compare() {
	local a=$lab/$jname/state-$3-a b=$lab/$jname/state-$3-b
	jl_state "$1" >"$a"
	jl_state "$2" >"$b"
	jl_ntables=$(grep -c '^checksum ' "$a")
	jl_nprocs=$(grep -c '^procedure ' "$a")
	if diff "$a" "$b" >"$lab/$jname/state-$3.diff"; then
		return 0
	fi
	head -n 20 "$lab/$jname/state-$3.diff" | cut -c1-300
	# the rows of the tables whose checksums differ, first differences
	local t
	for t in $(grep -h '^[<>] checksum ' "$lab/$jname/state-$3.diff" | awk '{ sub(/.*\./, "", $3); print $3 }' | sort -u); do
		echo "rows of $t, original (<) vs copy (>):"
		diff <(jl_sql "$1" -B -N -e "SELECT * FROM \`$jdb\`.\`$t\` ORDER BY 1, 2") \
			<(jl_sql "$2" -B -N -e "SELECT * FROM \`$jdb\`.\`$t\` ORDER BY 1, 2") | head -n 12 | cut -c1-200
	done
	return 1
}

# jl_acked_tokens FILE: the tokens the ack log says were acknowledged.
jl_tokens() { awk -v k="$2" '$1 == k { print $2 }' "$1" | sort -u; }

# jl_cat_tokens: every workload token in `journal cat` (committed only:
# the statements of a transaction in doubt are comments "-- in doubt:").
jl_cat_tokens() {
	"$ACCTGATE_BIN" journal cat "$jdir" | grep -v '^-- in doubt' | grep -oE "'t[0-9]+n[0-9]+(-2)?'" | tr -d "'" | sed 's/-2$//' | sort -u
}
