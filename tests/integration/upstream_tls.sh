#!/usr/bin/env bash
# upstream_tls.sh LABDIR CLIENT_BIN - acctgate's server-leg verification.
# A MariaDB of its own serves, in turn, the lab server certificate and the
# three bad ones (impostor CA, wrong name, expired; FLUSH SSL swaps them).
# With tls = verify_identity only the good one may be used, and for the bad
# ones the server's general log must show no login attempt (acctgate stops
# before sending credentials). verify_ca accepts the wrong name but not the
# impostor; tls_server_name = wrong.example accepts the wrong-name cert.
# Direct mode: the mariadb client with --ssl-verify-server-cert against the
# same four certificates, which proves the certificate sets themselves.
set -uo pipefail
. "$(dirname "$0")/common.sh"
db=$lab/db-tlsneg
ags=("$lab/ag-vid" "$lab/ag-vca" "$lab/ag-vname")
cleanup() {
	local a
	for a in "${ags[@]}"; do lab_acctgate_stop "$a"; done
	lab_mariadb_stop "$db"
}
trap cleanup EXIT
dbport=$(lab_free_port $((DB_PORT + 10)))
lab_mariadb_start "$db" "$dbport" "$CERTS" server || exit 1

failures=0
declare -A port=()
if [[ $MODE == acctgate ]]; then
	ap=$(lab_free_port $((TARGET_PORT + 10)))
	lab_acctgate_conf "${ags[0]}/acctgate.conf" "$ap" "127.0.0.1:$dbport" "$CERTS" tls=verify_identity
	lab_acctgate_start "${ags[0]}" "${ags[0]}/acctgate.conf" || exit 1
	port[verify_identity]=$ap
	ap=$(lab_free_port $((ap + 1)))
	lab_acctgate_conf "${ags[1]}/acctgate.conf" "$ap" "127.0.0.1:$dbport" "$CERTS" tls=verify_ca
	lab_acctgate_start "${ags[1]}" "${ags[1]}/acctgate.conf" || exit 1
	port[verify_ca]=$ap
	ap=$(lab_free_port $((ap + 1)))
	lab_acctgate_conf "${ags[2]}/acctgate.conf" "$ap" "127.0.0.1:$dbport" "$CERTS" tls=verify_identity \
		tls_server_name=wrong.example
	lab_acctgate_start "${ags[2]}" "${ags[2]}/acctgate.conf" || exit 1
	port[server_name]=$ap
fi

# attempt EXPECT(ok|refused) SET MODE-KEY
attempt() {
	local expect=$1 set=$2 how=$3 out rc before after logins
	before=$(grep -c "slurm@" "$db/general.log" 2>/dev/null)
	if [[ $MODE == direct ]]; then
		out=$(mariadb -h 127.0.0.1 -P "$dbport" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" --connect-timeout=10 \
			--ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -B -N -e "SELECT CURRENT_USER()" 2>&1)
		rc=$?
	else
		local a
		case $how in
		verify_identity) a=${ags[0]} ;;
		verify_ca) a=${ags[1]} ;;
		server_name) a=${ags[2]} ;;
		esac
		log_mark "$a/acctgate.log"
		out=$(timeout 30 mariadb -h 127.0.0.1 -P "${port[$how]}" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" \
			--connect-timeout=10 -B -N -e "SELECT CURRENT_USER()" 2>&1)
		rc=$?
	fi
	after=$(grep -c "slurm@" "$db/general.log" 2>/dev/null)
	logins=$((after - before))
	if [[ $expect == ok ]]; then
		if ((rc == 0)) && [[ $out == "slurm@%" ]] && ((logins > 0)); then
			echo "PASS $how + $set cert: logged in"
			return
		fi
	elif ((rc != 0)) && ((logins == 0)); then
		echo "PASS $how + $set cert: refused, no login reached the server: $out"
		return
	fi
	echo "FAIL $how + $set cert: expected $expect; rc $rc, server saw $logins login(s), client saw: $out"
	[[ $MODE == acctgate ]] && log_since "$a/acctgate.log"
	failures=$((failures + 1))
}

for set in server impostor wrongname expired; do
	lab_mariadb_tls_swap "$db" "$CERTS" "$set" || exit 1
	if [[ $set == server ]]; then attempt ok "$set" verify_identity; else attempt refused "$set" verify_identity; fi
	[[ $MODE == direct ]] && continue
	case $set in
	server | wrongname) attempt ok "$set" verify_ca ;;
	*) attempt refused "$set" verify_ca ;;
	esac
	if [[ $set == wrongname ]]; then attempt ok "$set" server_name; fi
	if [[ $set == server ]]; then attempt refused "$set" server_name; fi
done
((failures == 0))
