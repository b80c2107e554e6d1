#!/usr/bin/env bash
# upstream_tls.sh LABDIR CLIENT_BIN - acctgate's server-leg verification.
# A MariaDB of its own serves, in turn, the lab server certificate and the
# four bad ones (impostor CA, wrong name, expired, and dnsonly: named for
# localhost but with no IP entry; FLUSH SSL swaps them); a second one offers
# no TLS at all. With tls = verify_identity and servers = 127.0.0.1:PORT
# only the good one may be used; every refusal must reach the client with its
# own reason (untrusted CA, name mismatch, expired, no TLS offered: an
# operator has to tell them apart from the client's error alone), and the
# server's general log must show no login attempt (acctgate stops before
# sending credentials). The dnsonly refusal is the address checked as an
# address: a certificate valid for the host's name is not valid for its IP.
# verify_ca accepts the wrong name and dnsonly but not the impostor;
# tls_server_name = wrong.example accepts the wrong-name cert, and
# tls_server_name = localhost the dnsonly one. tls_ca may be
# a directory: one without c_rehash names (an unpacked bundle, and a README
# beside it) trusts the lab CA and still refuses the impostor.
# Direct mode: the mariadb client with --ssl-verify-server-cert against the
# same servers (by 127.0.0.1, and by localhost for dnsonly), with
# libmariadb's own reasons, which proves the certificate sets and the
# plaintext server themselves.
set -uo pipefail
. "$(dirname "$0")/common.sh"
db=$lab/db-tlsneg
dbplain=$lab/db-tlsplain
ags=("$lab/ag-vid" "$lab/ag-vca" "$lab/ag-vname" "$lab/ag-vplain" "$lab/ag-vdir" "$lab/ag-vlocal")
cleanup() {
	local a
	for a in "${ags[@]}"; do lab_acctgate_stop "$a"; done
	lab_mariadb_stop "$db"
	lab_mariadb_stop "$dbplain"
}
trap cleanup EXIT
dbport=$(lab_free_port $((DB_PORT + 10)))
lab_mariadb_start "$db" "$dbport" "$CERTS" server || exit 1
plainport=$(lab_free_port $((dbport + 1)))
lab_mariadb_start "$dbplain" "$plainport" "$CERTS" none || exit 1

# What the client must read for each refusal, by cert set ("none": the
# server offers no TLS): acctgate's words, or libmariadb's in direct mode.
declare -A reason
if [[ $MODE == direct ]]; then
	reason=([impostor]="unable to get local issuer certificate"
		[wrongname]="Validation of SSL server certificate failed"
		[dnsonly]="Validation of SSL server certificate failed"
		[expired]="certificate has expired" [none]="server does not support it")
else
	reason=([impostor]="server certificate is not signed by a trusted CA"
		[wrongname]="server certificate name mismatch: it is not valid for '127.0.0.1'"
		[dnsonly]="server certificate name mismatch: it is not valid for '127.0.0.1'"
		[expired]="server certificate has expired"
		[none]="database server 127.0.0.1:$plainport does not offer TLS")
fi

failures=0
declare -A port=()
if [[ $MODE == acctgate ]]; then
	# start_ag INDEX KEY UPSTREAM key=value...
	start_ag() {
		local a=${ags[$1]} key=$2 ups=$3 ap
		ap=$(lab_free_port $((TARGET_PORT + 10 + $1)))
		shift 3
		lab_acctgate_conf "$a/acctgate.conf" "$ap" "$ups" "$CERTS" "$@"
		lab_acctgate_start "$a" "$a/acctgate.conf" || exit 1
		port[$key]=$ap
	}
	start_ag 0 verify_identity "127.0.0.1:$dbport" tls=verify_identity
	start_ag 1 verify_ca "127.0.0.1:$dbport" tls=verify_ca
	start_ag 2 server_name "127.0.0.1:$dbport" tls=verify_identity tls_server_name=wrong.example
	start_ag 3 plain "127.0.0.1:$plainport" tls=verify_identity
	cadir=$lab/ca-dir
	mkdir -p "$cadir"
	cp "$CERTS/ca.pem" "$cadir/lab-root.pem"
	echo "Certificates of the lab's database CA." >"$cadir/README"
	start_ag 4 ca_dir "127.0.0.1:$dbport" tls=verify_identity tls_ca="$cadir"
	start_ag 5 localname "127.0.0.1:$dbport" tls=verify_identity tls_server_name=localhost
fi

# attempt EXPECT(ok|refused) SET MODE-KEY [REASON]: one login; a refusal must
# carry REASON (default: the set's) and leave no login in the general log.
attempt() {
	local expect=$1 set=$2 how=$3 out rc before after logins d=$db dport=$dbport a=""
	local want=${4:-${reason[$set]:-}} what="$how + $set cert"
	if [[ $set == none ]]; then d=$dbplain dport=$plainport what="$how + server without TLS"; fi
	before=$(grep -c "slurm@" "$d/general.log" 2>/dev/null)
	if [[ $MODE == direct ]]; then
		# localname: what the certificate must be valid for is the name.
		local host=127.0.0.1
		[[ $how == localname ]] && host=localhost
		out=$(mariadb --protocol=tcp -h "$host" -P "$dport" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" \
			--connect-timeout=10 --ssl-verify-server-cert --ssl-ca="$CERTS/ca.pem" -B -N \
			-e "SELECT CURRENT_USER()" 2>&1)
		rc=$?
	else
		case $how in
		verify_identity) a=${ags[0]} ;;
		verify_ca) a=${ags[1]} ;;
		server_name) a=${ags[2]} ;;
		plain) a=${ags[3]} ;;
		ca_dir) a=${ags[4]} ;;
		localname) a=${ags[5]} ;;
		esac
		log_mark "$a/acctgate.log"
		out=$(timeout 30 mariadb -h 127.0.0.1 -P "${port[$how]}" -u "$LAB_DB_USER" -p"$LAB_DB_PASS" \
			--connect-timeout=10 -B -N -e "SELECT CURRENT_USER()" 2>&1)
		rc=$?
	fi
	after=$(grep -c "slurm@" "$d/general.log" 2>/dev/null)
	logins=$((after - before))
	if [[ $expect == ok ]]; then
		if ((rc == 0)) && [[ $out == "slurm@%" ]] && ((logins > 0)); then
			echo "PASS $what: logged in"
			return
		fi
	elif ((rc != 0)) && ((logins == 0)) && [[ -n $want && $out == *"$want"* ]]; then
		echo "PASS $what: refused with '$want', no login reached the server: $out"
		return
	fi
	echo "FAIL $what: expected $expect${want:+ with '$want'}; rc $rc, server saw $logins login(s), client saw: $out"
	[[ -n $a ]] && log_since "$a/acctgate.log"
	failures=$((failures + 1))
}

for set in server impostor wrongname dnsonly expired; do
	lab_mariadb_tls_swap "$db" "$CERTS" "$set" || exit 1
	if [[ $set == server ]]; then attempt ok "$set" verify_identity; else attempt refused "$set" verify_identity; fi
	# Checked by name, the dnsonly certificate is a good one: its refusal
	# above was the address, not the chain or the key.
	if [[ $set == dnsonly ]]; then attempt ok "$set" localname; fi
	[[ $MODE == direct ]] && continue
	case $set in
	server) attempt ok "$set" ca_dir ;;
	impostor) attempt refused "$set" ca_dir ;;
	esac
	case $set in
	server | wrongname | dnsonly) attempt ok "$set" verify_ca ;;
	*) attempt refused "$set" verify_ca ;;
	esac
	if [[ $set == wrongname ]]; then attempt ok "$set" server_name; fi
	if [[ $set == server ]]; then
		attempt refused "$set" server_name "server certificate name mismatch: it is not valid for 'wrong.example'"
	fi
done
# A server without TLS (or a plaintext impostor on its address) under
# verify_identity: "plain" is acctgate's verify_identity in front of it.
if [[ $MODE == direct ]]; then attempt refused none verify_identity; else attempt refused none plain; fi
((failures == 0))
