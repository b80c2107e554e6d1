#!/usr/bin/env bash
# demo.sh - acctgate in front of a throwaway MariaDB on this machine, in one
# command (Debian 12, as root):
#
#   sudo bash scripts/demo.sh [--dir DIR] [--background | --stop]
#
# 1. apt-get installs whatever scripts/lab.sh's package list lacks.
# 2. Builds build/acctgate (RelWithDebInfo).
# 3. Makes throwaway certificates (a lab CA and a server certificate for
#    localhost / 127.0.0.1), starts MariaDB on 127.0.0.1 with TLS, and
#    acctgate in front of it: client TLS optional, upstream tls =
#    verify_identity against the lab CA.
# 4. Prints how to connect with `mariadb` and how to point slurmdbd at it.
#
# Then it stays in the foreground showing acctgate's log until Ctrl-C, and
# stops both. --background leaves them running; --stop stops them. Running it
# again stops what an earlier run left and starts afresh: the certificates
# are kept, the database is recreated empty.
#
# Everything lives under DIR (default /tmp/acctgate-demo, or
# $ACCTGATE_DEMO_DIR): certs/, mariadb/ (my.cnf, data/, error.log,
# general.log with every statement the server ran), acctgate/
# (acctgate.conf, acctgate.log). Ports: the first free from 6033 for acctgate
# ($ACCTGATE_DEMO_PORT) and from 3307 for MariaDB ($ACCTGATE_DEMO_DB_PORT).
# $ACCTGATE_DEMO_BUILD builds somewhere else than build/.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=scripts/lab.sh
. scripts/lab.sh

default_dir=/tmp/acctgate-demo
dir=${ACCTGATE_DEMO_DIR:-$default_dir}
build=${ACCTGATE_DEMO_BUILD:-build}
mode=foreground
args=("$@")
while (($#)); do
	case $1 in
	--dir) dir=${2:?--dir DIR}; shift 2 ;;
	--background) mode=background; shift ;;
	--stop) mode=stop; shift ;;
	*) echo "usage: $0 [--dir DIR] [--background | --stop]" >&2; exit 2 ;;
	esac
done
if ((EUID != 0)); then
	echo "run as root: sudo bash $0 ${args[*]}" >&2
	exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
certs=$dir/certs db=$dir/mariadb ag=$dir/acctgate
stop_cmd="sudo bash $repo/scripts/demo.sh --stop"
[[ $dir == "$default_dir" ]] || stop_cmd+=" --dir $dir"

stop_demo() {
	lab_acctgate_stop "$ag"
	lab_mariadb_stop "$db"
}

# Whatever an earlier run left running from this directory goes first.
stop_demo
if [[ $mode == stop ]]; then
	lab_say "demo in $dir stopped (logs and certificates kept there)"
	exit 0
fi

lab_install_deps
lab_say "building $build/acctgate (output in $dir/build.log)"
if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build "$build" -j2; } >"$dir/build.log" 2>&1; then
	lab_fail "build failed" "$dir/build.log"
	exit 1
fi
ACCTGATE_BIN=$(cd "$build" && pwd)/acctgate
export ACCTGATE_BIN # lab_acctgate_start runs it

lab_certs "$certs"
trap 'stop_demo' EXIT # until everything is up: a failed start leaves nothing running
db_port=$(lab_free_port "${ACCTGATE_DEMO_DB_PORT:-3307}")
lab_mariadb_start "$db" "$db_port" "$certs" server
ag_port=$(lab_free_port "${ACCTGATE_DEMO_PORT:-6033}")
lab_acctgate_conf "$ag/acctgate.conf" "$ag_port" "127.0.0.1:$db_port" "$certs" \
	client_tls=optional tls=verify_identity
log_from=$(($(stat -c %s "$ag/acctgate.log" 2>/dev/null || echo 0) + 1)) # the log is appended to
lab_acctgate_start "$ag" "$ag/acctgate.conf"
trap - EXIT

cat <<EOF

acctgate demo running, state in $dir
  MariaDB   127.0.0.1:$db_port  TLS with a throwaway certificate ($db/my.cnf)
  acctgate  127.0.0.1:$ag_port  client TLS optional; to MariaDB: tls = verify_identity
  config    $ag/acctgate.conf
  logs      $ag/acctgate.log
            $db/general.log (every statement MariaDB ran)

Connect through acctgate (user $LAB_DB_USER, password $LAB_DB_PASS, all privileges):
  plaintext to acctgate (acctgate -> MariaDB is still verified TLS):
    mariadb -h 127.0.0.1 -P $ag_port -u $LAB_DB_USER -p$LAB_DB_PASS --skip-ssl
  TLS to acctgate, checking its certificate:
    mariadb -h 127.0.0.1 -P $ag_port -u $LAB_DB_USER -p$LAB_DB_PASS --ssl-verify-server-cert --ssl-ca=$certs/ca.pem
  then, e.g.:  SHOW SESSION STATUS LIKE 'Ssl_version';  (the acctgate -> MariaDB leg)

Point slurmdbd at acctgate, in slurmdbd.conf:
  StorageType=accounting_storage/mysql
  StorageHost=127.0.0.1
  StoragePort=$ag_port
  StorageUser=$LAB_DB_USER
  StoragePass=$LAB_DB_PASS
  StorageLoc=slurm_acct_db
  StorageParameters=SSL_CA=$certs/ca.pem
(without StorageParameters, slurmdbd talks plaintext to acctgate)

EOF

if [[ $mode == background ]]; then
	echo "Left running. Stop with: $stop_cmd"
	exit 0
fi

echo "---- acctgate log (Ctrl-C stops acctgate and MariaDB) ----"
tail -c "+$log_from" -F "$ag/acctgate.log" 2>/dev/null &
tail_pid=$!
finish() {
	trap - INT TERM EXIT
	kill "$tail_pid" 2>/dev/null || true
	echo
	stop_demo
	lab_say "stopped; logs, configuration and certificates stay in $dir"
	exit "${1:-0}"
}
trap 'finish 0' INT TERM
trap 'finish 1' EXIT
while lab_pid_alive "$ag/acctgate.pid" && lab_pid_alive "$db/mariadbd.pid"; do
	sleep 1
done
lab_say "acctgate or MariaDB exited on its own; see $ag/acctgate.log and $db/error.log"
finish 1
