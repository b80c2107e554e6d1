# shellcheck shell=bash
#
# lab.sh - throwaway components for tests and demos: certificates, a MariaDB
# server, acctgate, and a whole Slurm accounting stack, all on loopback.
#
# Source it:   . scripts/lab.sh
#
# Every component lives in a directory of its own (by default
# $REPO/.lab/<name>, which .gitignore keeps out of git) holding its
# configuration, data, logs and pid files, so several stacks can run side by
# side as long as their ports differ. Nothing is installed system-wide and no
# system daemon is touched: even munge runs on a socket of its own.
#
# Contracts shared by every function below:
#   - a start function returns only once the component answers (port open,
#     server pingable); otherwise it stops what it started, prints the
#     daemon's log tail on stderr and returns non-zero;
#   - a stop function kills by the pid file the start function wrote (TERM,
#     then KILL after a grace period) and succeeds when nothing is running;
#   - ports are the caller's choice; lab_free_port finds a free one.
#
# Layout made by lab_certs DIR (all PEM):
#   ca.pem ca-key.pem                      the lab CA
#   server-cert.pem server-key.pem         SAN DNS:localhost,IP:127.0.0.1
#   impostor-ca.pem impostor-cert.pem impostor-key.pem
#                                          same SAN, signed by an unrelated CA
#   wrongname-cert.pem wrongname-key.pem   lab CA, SAN DNS:wrong.example only
#   dnsonly-cert.pem dnsonly-key.pem       lab CA, SAN DNS:localhost only: right
#                                          for the name, wrong for 127.0.0.1
#   expired-cert.pem expired-key.pem       lab CA, right SAN, expired in 2020
#   client-cert.pem client-key.pem         lab CA, clientAuth, CN=acctgate-client
# A "cert set" is one of: server impostor wrongname dnsonly expired (and, for
# lab_mariadb_start, none: no TLS at all).

LAB_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAB_ROOT="${LAB_ROOT:-$LAB_REPO/.lab}"
ACCTGATE_BIN="${ACCTGATE_BIN:-$LAB_REPO/build/acctgate}"

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

lab_say() { printf '[lab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# lab_fail MSG [LOGFILE...]: print MSG and the tail of each log, return 1.
lab_fail() {
	local msg=$1
	shift
	printf '[lab] ERROR: %s\n' "$msg" >&2
	local f
	for f in "$@"; do
		if [[ -f $f ]]; then
			printf '[lab] ---- last lines of %s ----\n' "$f" >&2
			tail -n 40 "$f" >&2
			printf '[lab] ---- end of %s ----\n' "$f" >&2
		else
			printf '[lab] (no log file %s)\n' "$f" >&2
		fi
	done
	return 1
}

# lab_dir NAME: the default directory of a component.
lab_dir() { printf '%s/%s\n' "$LAB_ROOT" "$1"; }

# lab_now_ms: milliseconds since the epoch, for timings.
lab_now_ms() { date +%s%3N; }

# lab_port_in_use PORT [ADDR]: true when something listens on PORT (on any
# address; with ADDR, on ADDR itself or on a wildcard address).
lab_port_in_use() {
	if [[ -z ${2:-} ]]; then
		ss -Htln "sport = :$1" 2>/dev/null | grep -q .
		return
	fi
	ss -Htln "sport = :$1" 2>/dev/null |
		awk -v a="$2:$1" '$4 == a || $4 ~ /^(0\.0\.0\.0|\*|\[::\]):/ { f = 1 } END { exit !f }'
}

# lab_free_port BASE: print the first port >= BASE that no TCP socket uses.
# Not only listeners: Linux hands out 32768-60999 as clients' source ports,
# and a connection from one of them (ours or anyone's on the machine) makes
# a listener's bind there fail with "Address already in use".
lab_free_port() {
	local p=$1
	while ss -Htan "sport = :$p" 2>/dev/null | grep -q .; do
		p=$((p + 1))
	done
	printf '%s\n' "$p"
}

# lab_wait_port PORT SECONDS PID LOG...: wait until 127.0.0.1:PORT accepts
# connections; fail early (with the logs) if PID dies.
lab_wait_port() {
	local port=$1 secs=$2 pid=$3
	shift 3
	local deadline=$((SECONDS + secs))
	while ((SECONDS < deadline)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
			lab_fail "process $pid exited before port $port opened" "$@"
			return 1
		fi
		sleep 0.05
	done
	lab_fail "port $port not open after ${secs}s" "$@"
}

# lab_pid_alive PIDFILE: true when the pid file names a live process.
lab_pid_alive() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# lab_kill_pidfile PIDFILE NAME [GRACE_SECONDS]: TERM the process named by
# the pid file, wait for it, KILL it after the grace period; remove the file.
lab_kill_pidfile() {
	lab_kill_pidfiles "${3:-20}" "$2:$1"
}

# lab_kill_pidfiles GRACE NAME:PIDFILE...: the same for several processes
# at once (TERM to all, then wait), since daemons take a second or two each.
lab_kill_pidfiles() {
	local grace=$1 spec file name pid i alive
	shift
	local -a pids=() names=()
	for spec in "$@"; do
		name=${spec%%:*} file=${spec#*:}
		[[ -s $file ]] || continue
		pid=$(<"$file")
		rm -f "$file"
		if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid") names+=("$name")
		fi
	done
	for ((i = 0; i < grace * 20; i++)); do
		alive=0
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1 && break
		done
		((alive)) || return 0
		sleep 0.05
	done
	for i in "${!pids[@]}"; do
		if kill -0 "${pids[$i]}" 2>/dev/null; then
			lab_say "${names[$i]} (pid ${pids[$i]}) ignored SIGTERM for ${grace}s: SIGKILL"
			kill -KILL "${pids[$i]}" 2>/dev/null || true
		fi
	done
	sleep 0.1
}

# ---------------------------------------------------------------------------
# Packages
# ---------------------------------------------------------------------------

# Everything the build, the tests and the demo use, from Debian 12's archive.
LAB_PACKAGES=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	libevent-dev libssl-dev libmariadb-dev libjemalloc-dev libcmocka-dev libzstd-dev
	mariadb-server mariadb-client slurmdbd slurmctld slurmd slurm-client munge
	openssl tcpdump tshark iproute2 procps util-linux ca-certificates sysbench
	python3 # tests/integration/fake_dns.py
	python3-cryptography # fake_mysql8.py's RSA key (caching_sha2_password), not in the stdlib
	systemd lintian # tests/package: systemd-analyze on the unit, lintian on the .deb
	gdb # journal_in_doubt: stops acctgate between a commit and its answer
)

# lab_install_deps: apt-get install whatever of LAB_PACKAGES is missing
# (nothing, and no network, when all are there). Needs root.
lab_install_deps() {
	local missing=() p
	for p in "${LAB_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		lab_say "all ${#LAB_PACKAGES[@]} packages present"
		return 0
	fi
	if ((EUID != 0)); then
		lab_fail "missing packages (${missing[*]}) and not root: run as root or install them"
		return 1
	fi
	lab_say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; the answer is no.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
	if ! apt-get update -q || ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		lab_fail "apt-get install failed"
		return 1
	fi
}

# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------

# lab_certs DIR: make the lab PKI described at the top (idempotent: an
# existing complete set is kept).
lab_certs() {
	local d=${1:?lab_certs DIR}
	# Every set is looked for, so that a directory made before a set was
	# added is made again whole rather than used without it.
	local certset incomplete=0
	for certset in server impostor wrongname dnsonly expired client; do
		[[ -s $d/$certset-cert.pem && -s $d/$certset-key.pem ]] || incomplete=1
	done
	[[ -s $d/ca.pem && -s $d/impostor-ca.pem ]] || incomplete=1
	((incomplete)) || return 0
	mkdir -p "$d"
	d=$(cd "$d" && pwd)
	# The body runs as a job of its own so that `set -e` holds in it even
	# when the caller tests lab_certs' status.
	(
		set -e
		cd "$d"
		local quiet=(-batch)
		# Lab CA and the impostor CA: same subject shape, unrelated keys.
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
			-keyout ca-key.pem -out ca.pem -subj "/CN=acctgate lab CA" \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
			-keyout impostor-ca-key.pem -out impostor-ca.pem -subj "/CN=acctgate lab CA" \
			-addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null

		# sign NAME CA SUBJECT EXTFILE-CONTENT [x509 options...]
		sign() {
			local name=$1 ca=$2 subj=$3 ext=$4
			shift 4
			openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$name-key.pem" \
				-out "$name.csr" -subj "$subj" 2>/dev/null
			printf '%s\n' "$ext" >"$name.ext"
			openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca-key.pem" \
				-CAcreateserial -days 3650 -sha256 -extfile "$name.ext" \
				-out "$name-cert.pem" "$@" 2>/dev/null
			rm -f "$name.csr" "$name.ext"
		}
		local srv_ext='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1'
		sign server ca "/CN=localhost" "$srv_ext"
		sign impostor impostor-ca "/CN=localhost" "$srv_ext"
		sign wrongname ca "/CN=wrong.example" 'basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:wrong.example'
		# The name a client would connect by, but no IP entry: a check that
		# let an address literal match a DNS name (or skipped the check for
		# addresses) would accept it for 127.0.0.1.
		sign dnsonly ca "/CN=localhost" 'basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost'
		sign client ca "/CN=acctgate-client" 'basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'

		# Expired: `openssl ca` accepts explicit start and end dates in the
		# past, which `openssl x509` (3.0) cannot do without faking the clock.
		mkdir -p ca-db
		: >ca-db/index.txt
		printf '1000\n' >ca-db/serial
		cat >ca-db/ca.cnf <<-EOF
			[ca]
			default_ca = lab
			[lab]
			dir = $d/ca-db
			database = \$dir/index.txt
			serial = \$dir/serial
			new_certs_dir = \$dir
			certificate = $d/ca.pem
			private_key = $d/ca-key.pem
			default_md = sha256
			policy = any
			copy_extensions = none
			unique_subject = no
			[any]
			commonName = supplied
			[ext]
			basicConstraints = CA:FALSE
			keyUsage = critical,digitalSignature,keyEncipherment
			extendedKeyUsage = serverAuth
			subjectAltName = DNS:localhost,IP:127.0.0.1
		EOF
		openssl req -newkey rsa:2048 -nodes -sha256 -keyout expired-key.pem \
			-out expired.csr -subj "/CN=localhost" 2>/dev/null
		openssl ca "${quiet[@]}" -config ca-db/ca.cnf -extensions ext -notext \
			-startdate 20200101000000Z -enddate 20200201000000Z \
			-in expired.csr -out expired-cert.pem 2>/dev/null
		rm -f expired.csr
		chmod 0644 ./*.pem
		chmod 0600 ./*-key.pem
		# Everything must still verify the way the tests assume.
		openssl verify -CAfile ca.pem server-cert.pem client-cert.pem wrongname-cert.pem >/dev/null
		openssl verify -CAfile ca.pem -verify_ip 127.0.0.1 server-cert.pem >/dev/null
		openssl verify -CAfile ca.pem -verify_hostname localhost dnsonly-cert.pem >/dev/null
		if openssl verify -CAfile ca.pem -verify_ip 127.0.0.1 dnsonly-cert.pem >/dev/null 2>&1; then
			echo "dnsonly certificate verifies for 127.0.0.1" >&2
			exit 1
		fi
		if openssl verify -CAfile ca.pem impostor-cert.pem >/dev/null 2>&1 ||
			openssl verify -CAfile ca.pem expired-cert.pem >/dev/null 2>&1; then
			echo "impostor or expired certificate verifies against the lab CA" >&2
			exit 1
		fi
	) 2>"$d/openssl.log" &
	if ! wait $!; then
		lab_fail "lab_certs: openssl failed in $d" "$d/openssl.log"
		return 1
	fi
}

# ---------------------------------------------------------------------------
# MariaDB
# ---------------------------------------------------------------------------
#
# DIR/my.cnf          [mysqld] + [client] (root over the socket, no password)
# DIR/data/           datadir, recreated on every start
# DIR/tmp/            its tmpdir, likewise
# DIR/tls/            the cert set in use (server-cert.pem server-key.pem ca.pem)
# DIR/error.log DIR/general.log DIR/mariadbd.pid DIR/mysql.sock DIR/port
#
# Users: root@localhost (socket, no password); slurm@% 'slurmpw' (native,
# ALL); ed@% via ed25519 'edpw' (ALL); native@% via mysql_native_password
# 'nativepw' (ALL). Anonymous users are dropped.

LAB_DB_USER="slurm"
LAB_DB_PASS="slurmpw"
LAB_DB_ED_USER="ed"
LAB_DB_ED_PASS="edpw"
LAB_DB_NATIVE_USER="native"
LAB_DB_NATIVE_PASS="nativepw"
LAB_HEALTH_PASS="healthpw" # health-check user of the tests that make one

# lab_log_secrets LOG: print LOG's lines that contain a lab password, and
# succeed only if there are none (acctgate must never log a password).
lab_log_secrets() {
	! grep -nF -e "$LAB_DB_PASS" -e "$LAB_DB_ED_PASS" -e "$LAB_DB_NATIVE_PASS" -e "$LAB_HEALTH_PASS" "$1"
}

# lab_mariadb_sql DIR [mariadb options...]: the mariadb client as root over
# the socket (reads SQL from stdin or -e).
lab_mariadb_sql() {
	local d=$1
	shift
	mariadb --defaults-file="$d/my.cnf" "$@"
}

# lab_mariadb_start DIR PORT [CERTDIR [SET [BIND]]]: a fresh server on
# BIND:PORT (default 127.0.0.1; any 127.x.y.z works on Linux, so two servers
# may share a port); with CERTDIR it serves TLS with SET's cert (default
# "server"; "none" = no TLS) and trusts CERTDIR/ca.pem for client
# certificates. LAB_MARIADB_EXTRA: more [mysqld] lines (a test's own
# server settings, e.g. innodb_rollback_on_timeout=ON).
lab_mariadb_start() {
	local d=${1:?lab_mariadb_start DIR PORT [CERTDIR [SET [BIND]]]} port=${2:?port} certs=${3:-} set=${4:-server}
	local bind=${5:-127.0.0.1} t0
	t0=$(lab_now_ms)
	[[ $set == none ]] && certs=""
	if lab_pid_alive "$d/mariadbd.pid"; then
		lab_fail "lab_mariadb_start: a server already runs from $d (pid $(<"$d/mariadbd.pid"))"
		return 1
	fi
	if lab_port_in_use "$port" "$bind"; then
		lab_fail "lab_mariadb_start: port $bind:$port is already in use"
		return 1
	fi
	mkdir -p "$d"
	d=$(cd "$d" && pwd)
	rm -rf "$d/data" "$d/tls" "$d/tmp"
	rm -f "$d/error.log" "$d/general.log" "$d/mysql.sock" "$d/mariadbd.pid"
	# A tmpdir of its own: servers (and installs) running side by side
	# must not meet in /tmp, where their temporary tables' names collide.
	mkdir -p "$d/data" "$d/tmp"
	local tls_lines=""
	if [[ -n $certs ]]; then
		mkdir -p "$d/tls"
		cp "$certs/$set-cert.pem" "$d/tls/server-cert.pem" || return 1
		cp "$certs/$set-key.pem" "$d/tls/server-key.pem" || return 1
		cp "$certs/ca.pem" "$d/tls/ca.pem" || return 1
		tls_lines="ssl-ca=$d/tls/ca.pem
ssl-cert=$d/tls/server-cert.pem
ssl-key=$d/tls/server-key.pem"
	fi
	cat >"$d/my.cnf" <<-EOF
		[mysqld]
		datadir=$d/data
		tmpdir=$d/tmp
		port=$port
		socket=$d/mysql.sock
		pid-file=$d/mariadbd.pid
		bind-address=$bind
		user=root
		log-error=$d/error.log
		general-log=1
		general-log-file=$d/general.log
		max_allowed_packet=256M
		max_connections=300
		innodb_lock_wait_timeout=900
		innodb_buffer_pool_size=256M
		innodb_log_file_size=64M
		innodb_flush_log_at_trx_commit=2
		performance_schema=OFF
		skip-log-bin
		$tls_lines
		${LAB_MARIADB_EXTRA:-}

		[client]
		socket=$d/mysql.sock
		user=root

		[mysql]
		max_allowed_packet=256M
	EOF
	printf '%s\n' "$port" >"$d/port"
	if ! mariadb-install-db --defaults-file="$d/my.cnf" --user=root \
		--auth-root-authentication-method=normal --skip-test-db \
		>"$d/install.log" 2>&1; then
		lab_fail "mariadb-install-db failed in $d" "$d/install.log" "$d/error.log"
		return 1
	fi
	lab_mariadb_launch "$d" || return 1
	if ! lab_mariadb_sql "$d" <<-EOF >"$d/setup.log" 2>&1; then
		DELETE FROM mysql.global_priv WHERE User = '';
		FLUSH PRIVILEGES;
		INSTALL SONAME 'auth_ed25519';
		CREATE USER '$LAB_DB_USER'@'%' IDENTIFIED BY '$LAB_DB_PASS';
		GRANT ALL PRIVILEGES ON *.* TO '$LAB_DB_USER'@'%';
		CREATE USER '$LAB_DB_ED_USER'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('$LAB_DB_ED_PASS');
		GRANT ALL PRIVILEGES ON *.* TO '$LAB_DB_ED_USER'@'%';
		CREATE USER '$LAB_DB_NATIVE_USER'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('$LAB_DB_NATIVE_PASS');
		GRANT ALL PRIVILEGES ON *.* TO '$LAB_DB_NATIVE_USER'@'%';
		CREATE DATABASE acctgate_test;
	EOF
		lab_mariadb_stop "$d"
		lab_fail "user setup failed ($d)" "$d/setup.log" "$d/error.log"
		return 1
	fi
	lab_say "mariadb up on $bind:$port (${certs:+TLS cert set $set, }$d) in $(($(lab_now_ms) - t0)) ms"
}

# lab_mariadb_launch DIR: run mariadbd on DIR/my.cnf and wait until it
# answers (the part of a start that a restart repeats).
lab_mariadb_launch() {
	local d=$1
	mariadbd --defaults-file="$d/my.cnf" >>"$d/error.log" 2>&1 </dev/null &
	local pid=$! i
	# mariadbd writes its pid file itself once it is up; until then we
	# know the pid from the shell.
	printf '%s\n' "$pid" >"$d/mariadbd.pid"
	disown "$pid" 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		if mariadb-admin --defaults-file="$d/my.cnf" --connect-timeout=1 ping >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			lab_fail "mariadbd exited during start-up ($d)" "$d/error.log"
			return 1
		fi
		sleep 0.05
	done
	lab_mariadb_stop "$d"
	lab_fail "mariadbd not answering after 30s ($d)" "$d/error.log"
}

# lab_mariadb_restart DIR: start a server stopped by lab_mariadb_stop again,
# with its data, users and certificates as they were (a server that "comes
# back", not a new one).
lab_mariadb_restart() {
	local d=${1:?lab_mariadb_restart DIR} t0
	t0=$(lab_now_ms)
	if [[ ! -s $d/my.cnf || ! -d $d/data ]]; then
		lab_fail "lab_mariadb_restart: no server was started from $d"
		return 1
	fi
	if lab_pid_alive "$d/mariadbd.pid"; then
		lab_fail "lab_mariadb_restart: a server already runs from $d (pid $(<"$d/mariadbd.pid"))"
		return 1
	fi
	lab_mariadb_launch "$d" || return 1
	lab_say "mariadb back on port $(<"$d/port") ($d) in $(($(lab_now_ms) - t0)) ms"
}

# lab_mariadb_tls_swap DIR CERTDIR SET: serve SET's certificate from now on
# (FLUSH SSL re-reads the files; established sessions keep theirs).
lab_mariadb_tls_swap() {
	local d=$1 certs=$2 set=$3
	if ! cp "$certs/$set-cert.pem" "$d/tls/server-cert.pem" ||
		! cp "$certs/$set-key.pem" "$d/tls/server-key.pem" ||
		! lab_mariadb_sql "$d" -e 'FLUSH SSL'; then
		lab_fail "cannot switch $d to cert set $set" "$d/error.log"
		return 1
	fi
}

# lab_mariadb_stop DIR
lab_mariadb_stop() {
	local d=${1:?lab_mariadb_stop DIR}
	lab_kill_pidfile "$d/mariadbd.pid" mariadbd 30
}

# ---------------------------------------------------------------------------
# acctgate
# ---------------------------------------------------------------------------
#
# DIR/acctgate.conf (when made by lab_acctgate_conf) DIR/acctgate.log
# DIR/acctgate.pid

# lab_acctgate_conf FILE LISTEN_PORT UPSTREAMS CERTDIR [key=value...]:
# write a complete configuration: listen on 127.0.0.1:LISTEN_PORT,
# upstream UPSTREAMS ("host:port[,host:port]"), the lab server cert on the
# client leg, and the lab CA for the upstream leg. key=value pairs
# override (client_tls=, tls=, log_level=, threads=, tls_client_ca=, ...);
# other keys are added, to [upstream] when they are among LAB_UPSTREAM_KEYS
# (tls_cert and tls_key always mean [proxy]'s; upstream_tls_cert= and
# upstream_tls_key= are [upstream]'s tls_cert and tls_key), else to [proxy].
LAB_UPSTREAM_KEYS=" resolver handshake_timeout tls_pin_sha256 health_backoff_max health_user health_password_file health_interval "
lab_acctgate_conf() {
	local f=$1 lport=$2 ups=$3 certs=$4
	shift 4
	local -A p=(
		[threads]=2 [max_connections]=512 [client_tls]=optional
		[tls_cert]="$certs/server-cert.pem" [tls_key]="$certs/server-key.pem"
		[tls_client_ca]="" [local_infile]=off [log_level]=info
		[connect_timeout]=5 [tls]=verify_identity [tls_ca]="$certs/ca.pem"
		[tls_server_name]=""
	)
	local kv k extra_proxy="" extra_upstream=""
	for kv in "$@"; do
		k=${kv%%=*}
		if [[ -n ${p[$k]+set} ]]; then
			p[$k]=${kv#*=}
		elif [[ $LAB_UPSTREAM_KEYS == *" $k "* ]]; then
			extra_upstream+="$k = ${kv#*=}"$'\n'
		elif [[ $k == upstream_tls_cert || $k == upstream_tls_key ]]; then
			extra_upstream+="${k#upstream_} = ${kv#*=}"$'\n'
		else
			extra_proxy+="$k = ${kv#*=}"$'\n'
		fi
	done
	mkdir -p "$(dirname "$f")"
	cat >"$f" <<-EOF
		# written by scripts/lab.sh
		[proxy]
		listen = 127.0.0.1:$lport
		threads = ${p[threads]}
		max_connections = ${p[max_connections]}
		client_tls = ${p[client_tls]}
		tls_cert = ${p[tls_cert]}
		tls_key = ${p[tls_key]}
		tls_client_ca = ${p[tls_client_ca]}
		local_infile = ${p[local_infile]}
		log_level = ${p[log_level]}
		$extra_proxy
		[upstream]
		servers = $ups
		connect_timeout = ${p[connect_timeout]}
		tls = ${p[tls]}
		tls_ca = ${p[tls_ca]}
		tls_server_name = ${p[tls_server_name]}
		$extra_upstream
	EOF
}

# lab_acctgate_start DIR CONF: run $ACCTGATE_BIN -c CONF in the background
# (log in DIR/acctgate.log) and wait for its listen port.
lab_acctgate_start() {
	local d=${1:?lab_acctgate_start DIR CONF} conf=${2:?conf}
	local t0 port
	t0=$(lab_now_ms)
	mkdir -p "$d"
	d=$(cd "$d" && pwd)
	if [[ ! -x $ACCTGATE_BIN ]]; then
		lab_fail "no acctgate binary at $ACCTGATE_BIN (build it, or set ACCTGATE_BIN)"
		return 1
	fi
	if lab_pid_alive "$d/acctgate.pid"; then
		lab_fail "acctgate already runs from $d (pid $(<"$d/acctgate.pid"))"
		return 1
	fi
	port=$(sed -n 's/^[[:space:]]*listen[[:space:]]*=[[:space:]]*[^;#]*:\([0-9][0-9]*\).*/\1/p' "$conf" | head -n1)
	if [[ -z $port ]]; then
		lab_fail "cannot read the listen port from $conf"
		return 1
	fi
	if lab_port_in_use "$port"; then
		lab_fail "lab_acctgate_start: port $port is already in use"
		return 1
	fi
	if ! "$ACCTGATE_BIN" -c "$conf" --check >"$d/check.log" 2>&1; then
		lab_fail "acctgate --check refused $conf" "$d/check.log"
		return 1
	fi
	"$ACCTGATE_BIN" -c "$conf" >>"$d/acctgate.log" 2>&1 </dev/null &
	local pid=$!
	printf '%s\n' "$pid" >"$d/acctgate.pid"
	printf '%s\n' "$port" >"$d/port"
	disown "$pid" 2>/dev/null || true
	if ! lab_wait_port "$port" 20 "$pid" "$d/acctgate.log"; then
		lab_acctgate_stop "$d"
		return 1
	fi
	lab_say "acctgate up on 127.0.0.1:$port (pid $pid, $d) in $(($(lab_now_ms) - t0)) ms"
}

# lab_acctgate_reload DIR: SIGHUP the acctgate started from DIR and wait
# (10 s at most) for the reload's verdict; print that log line ("reload
# done" or "reload refused ..."), nothing if none came.
lab_acctgate_reload() {
	local d=${1:?lab_acctgate_reload DIR} from line="" deadline=$((SECONDS + 10))
	from=$(stat -c %s "$d/acctgate.log" 2>/dev/null || echo 0)
	kill -HUP "$(<"$d/acctgate.pid")" || return 1
	while ((SECONDS < deadline)); do
		line=$(tail -c +$((from + 1)) "$d/acctgate.log" | grep -E 'reload (done|refused)' | head -n1)
		[[ -n $line ]] && break
		sleep 0.05
	done
	printf '%s\n' "$line"
}

# lab_acctgate_stop DIR
lab_acctgate_stop() {
	local d=${1:?lab_acctgate_stop DIR}
	lab_kill_pidfile "$d/acctgate.pid" acctgate 40
}

# ---------------------------------------------------------------------------
# Slurm: munge + slurmdbd + slurmctld + slurmd, one node, own ports
# ---------------------------------------------------------------------------
#
# lab_slurm_start DIR key=value...
#   cluster=NAME           (default lab)
#   storage_host=H storage_port=P   where slurmdbd's MySQL is (required port)
#   storage_user= storage_pass= storage_loc=   (slurm slurmpw slurm_acct_db)
#   ssl_ca=FILE            adds StorageParameters=SSL_CA=FILE
#   dbd_port= ctld_port= slurmd_port=   (required, distinct per stack)
#   with_ctld=0            only munge + slurmdbd (sacctmgr works)
#
# DIR/munge/   munged with its own key and socket (AuthInfo=socket=...)
# DIR/etc/     slurm.conf, slurmdbd.conf (0600, owned by slurm)
# DIR/log/ DIR/run/ DIR/state/ DIR/spool/ DIR/jobs/
# Clients: `lab_slurm DIR sacctmgr ...` (sets SLURM_CONF).

lab_slurm() {
	local d=$1
	shift
	SLURM_CONF="$d/etc/slurm.conf" "$@"
}

lab_slurm_start() {
	local d=${1:?lab_slurm_start DIR key=value...}
	shift
	local -A o=(
		[cluster]=lab [storage_host]=127.0.0.1 [storage_port]=""
		[storage_user]=$LAB_DB_USER [storage_pass]=$LAB_DB_PASS
		[storage_loc]=slurm_acct_db [ssl_ca]="" [dbd_port]="" [ctld_port]=""
		[slurmd_port]="" [with_ctld]=1
	)
	local kv k
	for kv in "$@"; do
		k=${kv%%=*}
		if [[ -z ${o[$k]+set} ]]; then
			lab_fail "lab_slurm_start: unknown option $k"
			return 1
		fi
		o[$k]=${kv#*=}
	done
	for k in storage_port dbd_port ctld_port slurmd_port; do
		if [[ -z ${o[$k]} ]]; then
			lab_fail "lab_slurm_start: $k= is required"
			return 1
		fi
	done
	for k in dbd_port ctld_port slurmd_port; do
		if lab_port_in_use "${o[$k]}"; then
			lab_fail "lab_slurm_start: $k ${o[$k]} is already in use"
			return 1
		fi
	done
	local t0
	t0=$(lab_now_ms)
	mkdir -p "$d"
	d=$(cd "$d" && pwd)
	lab_slurm_stop "$d" 2>/dev/null || true
	rm -rf "${d:?}/munge" "${d:?}/etc" "${d:?}/log" "${d:?}/run" "${d:?}/state" "${d:?}/spool" "${d:?}/jobs"
	mkdir -p "$d/munge" "$d/etc" "$d/log" "$d/run" "$d/state" "$d/spool" "$d/jobs"

	# munge, on a socket of its own so a system munged (or another lab) is
	# never disturbed.
	dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
	chown -R munge:munge "$d/munge"
	chmod 0755 "$d/munge"
	chmod 0400 "$d/munge/munge.key"
	local sock="$d/munge/munge.socket"
	if ! runuser -u munge -- /usr/sbin/munged --socket="$sock" \
		--key-file="$d/munge/munge.key" --pid-file="$d/munge/munged.pid" \
		--log-file="$d/munge/munged.log" --seed-file="$d/munge/munged.seed" \
		>"$d/munge/start.log" 2>&1; then
		lab_fail "munged did not start" "$d/munge/start.log" "$d/munge/munged.log"
		return 1
	fi
	if ! munge -n --socket="$sock" | unmunge --socket="$sock" >/dev/null 2>&1; then
		lab_slurm_stop "$d"
		lab_fail "munge round trip failed on $sock" "$d/munge/munged.log"
		return 1
	fi

	local sslp=""
	[[ -n ${o[ssl_ca]} ]] && sslp="StorageParameters=SSL_CA=${o[ssl_ca]}"
	cat >"$d/etc/slurmdbd.conf" <<-EOF
		# written by scripts/lab.sh
		AuthType=auth/munge
		AuthInfo=socket=$sock
		DbdHost=localhost
		DbdPort=${o[dbd_port]}
		SlurmUser=slurm
		LogFile=$d/log/slurmdbd.log
		PidFile=$d/run/slurmdbd.pid
		DebugLevel=info
		StorageType=accounting_storage/mysql
		StorageHost=${o[storage_host]}
		StoragePort=${o[storage_port]}
		StorageUser=${o[storage_user]}
		StoragePass=${o[storage_pass]}
		StorageLoc=${o[storage_loc]}
		$sslp
	EOF
	cat >"$d/etc/slurm.conf" <<-EOF
		# written by scripts/lab.sh
		ClusterName=${o[cluster]}
		SlurmctldHost=localhost
		SlurmctldPort=${o[ctld_port]}
		SlurmdPort=${o[slurmd_port]}
		SlurmUser=slurm
		AuthType=auth/munge
		AuthInfo=socket=$sock
		CredType=cred/munge
		AccountingStorageType=accounting_storage/slurmdbd
		AccountingStorageHost=localhost
		AccountingStoragePort=${o[dbd_port]}
		# Clients authenticate to slurmdbd with AccountingStoragePass as the
		# munge socket (Slurm's "global munge" option), not AuthInfo.
		AccountingStoragePass=$sock
		JobAcctGatherType=jobacct_gather/none
		ProctrackType=proctrack/linuxproc
		TaskPlugin=task/none
		SelectType=select/cons_tres
		SelectTypeParameters=CR_Core
		MpiDefault=none
		ReturnToService=2
		StateSaveLocation=$d/state
		SlurmdSpoolDir=$d/spool
		SlurmctldLogFile=$d/log/slurmctld.log
		SlurmdLogFile=$d/log/slurmd.log
		SlurmctldPidFile=$d/run/slurmctld.pid
		SlurmdPidFile=$d/run/slurmd.pid
		SlurmctldDebug=info
		SlurmdDebug=info
		NodeName=localhost CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
		PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
	EOF
	chown -R slurm:slurm "$d/etc" "$d/log" "$d/run" "$d/state" "$d/jobs"
	chmod 0600 "$d/etc/slurmdbd.conf"
	chmod 0644 "$d/etc/slurm.conf"

	if ! SLURM_CONF="$d/etc/slurm.conf" slurmdbd >"$d/log/slurmdbd.start" 2>&1; then
		lab_slurm_stop "$d"
		lab_fail "slurmdbd did not start" "$d/log/slurmdbd.start" "$d/log/slurmdbd.log"
		return 1
	fi
	# slurmdbd creates the database and its tables before it listens.
	if ! lab_wait_port "${o[dbd_port]}" 120 "" "$d/log/slurmdbd.log" ||
		! lab_pid_alive "$d/run/slurmdbd.pid"; then
		lab_slurm_stop "$d"
		lab_fail "slurmdbd is not serving on ${o[dbd_port]}" "$d/log/slurmdbd.log"
		return 1
	fi
	local t_dbd
	t_dbd=$(($(lab_now_ms) - t0))
	if ! lab_slurm "$d" sacctmgr -i add cluster "${o[cluster]}" >"$d/log/add-cluster.log" 2>&1; then
		lab_slurm_stop "$d"
		lab_fail "sacctmgr add cluster ${o[cluster]} failed" "$d/log/add-cluster.log" "$d/log/slurmdbd.log"
		return 1
	fi
	if [[ ${o[with_ctld]} == 1 ]]; then
		if ! lab_slurm "$d" slurmctld -i >"$d/log/slurmctld.start" 2>&1 ||
			! lab_wait_port "${o[ctld_port]}" 60 "" "$d/log/slurmctld.log"; then
			lab_slurm_stop "$d"
			lab_fail "slurmctld did not start" "$d/log/slurmctld.start" "$d/log/slurmctld.log"
			return 1
		fi
		if ! lab_slurm "$d" slurmd >"$d/log/slurmd.start" 2>&1; then
			lab_slurm_stop "$d"
			lab_fail "slurmd did not start" "$d/log/slurmd.start" "$d/log/slurmd.log"
			return 1
		fi
		local i state=""
		for ((i = 0; i < 600; i++)); do
			state=$(lab_slurm "$d" sinfo -h -n localhost -o %t 2>/dev/null | head -n1)
			[[ $state == idle ]] && break
			sleep 0.1
		done
		if [[ $state != idle ]]; then
			lab_slurm_stop "$d"
			lab_fail "node localhost not idle after 60s (state '$state')" \
				"$d/log/slurmctld.log" "$d/log/slurmd.log"
			return 1
		fi
	fi
	printf '%s\n' "${o[cluster]}" >"$d/cluster"
	lab_say "slurm '${o[cluster]}' up (slurmdbd :${o[dbd_port]} -> ${o[storage_host]}:${o[storage_port]}${o[ssl_ca]:+ TLS}; slurmdbd ready in $t_dbd ms, whole stack in $(($(lab_now_ms) - t0)) ms)"
}

# lab_slurm_stop DIR: slurmd, slurmctld, slurmdbd and munged, together.
lab_slurm_stop() {
	local d=${1:?lab_slurm_stop DIR}
	lab_kill_pidfiles 30 "slurmd:$d/run/slurmd.pid" "slurmctld:$d/run/slurmctld.pid" \
		"slurmdbd:$d/run/slurmdbd.pid" "munged:$d/munge/munged.pid"
}

# lab_slurmdbd_stop DIR: slurmdbd alone (slurmctld queues its messages and
# reconnects when slurmdbd is back).
lab_slurmdbd_stop() {
	local d=${1:?lab_slurmdbd_stop DIR}
	lab_kill_pidfiles 30 "slurmdbd:$d/run/slurmdbd.pid"
}

# lab_slurmdbd_start DIR: start the slurmdbd of a stack made by
# lab_slurm_start again, on its etc/slurmdbd.conf as it is now (a test may
# have edited it), and wait until it serves on its DbdPort.
lab_slurmdbd_start() {
	local d=${1:?lab_slurmdbd_start DIR} port
	port=$(sed -n 's/^DbdPort=//p' "$d/etc/slurmdbd.conf" | head -n1)
	if lab_pid_alive "$d/run/slurmdbd.pid"; then
		lab_fail "lab_slurmdbd_start: slurmdbd already runs from $d"
		return 1
	fi
	if ! SLURM_CONF="$d/etc/slurm.conf" slurmdbd >>"$d/log/slurmdbd.start" 2>&1; then
		lab_fail "slurmdbd did not start" "$d/log/slurmdbd.start" "$d/log/slurmdbd.log"
		return 1
	fi
	if ! lab_wait_port "$port" 120 "" "$d/log/slurmdbd.log" || ! lab_pid_alive "$d/run/slurmdbd.pid"; then
		lab_fail "slurmdbd is not serving on $port" "$d/log/slurmdbd.log"
		return 1
	fi
}
