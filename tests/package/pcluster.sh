#!/usr/bin/env bash
# pcluster.sh WORK_DIR ACCTGATE_BIN - scripts/pcluster/acctgate-onnodeconfigured.sh
# against a scratch copy of a ParallelCluster head node's files, laid out
# and worded as aws-parallelcluster-cookbook writes them (slurmdbd.conf.erb
# for a head node; slurm_parallelcluster_slurmdbd.conf from its template,
# StoragePass last as update_slurm_database_password.sh leaves it), with a
# stub systemctl that records its calls and the real acctgate for --check:
#   - --dry-run prints both diffs and changes nothing;
#   - a run points slurmdbd at 127.0.0.1:6033 (every other byte kept, mode
#     kept), writes acctgate's [upstream] with the old StorageHost:StoragePort,
#     verify_identity and the CA bundle, installs the bundle, and restarts
#     acctgate before slurmdbd;
#   - the written configuration passes acctgate --check;
#   - a second run (and a second --dry-run) changes nothing, restarts nothing;
#   - a cluster update regenerating the file is followed again;
#   - --undo restores both files byte for byte and removes the bundle it
#     installed;
#   - a CA bundle acctgate cannot load stops the run before slurmdbd's file
#     or slurmdbd is touched;
#   - on a compute node it does nothing.
set -uo pipefail
work=${1:?usage: pcluster.sh WORK_DIR ACCTGATE_BIN}
bin=${2:?usage: pcluster.sh WORK_DIR ACCTGATE_BIN}
here=$(cd "$(dirname "$0")" && pwd)
script=$here/../../scripts/pcluster/acctgate-onnodeconfigured.sh
rm -rf "$work" && mkdir -p "$work"
work=$(cd "$work" && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
failures=0
check() {
	if (($2)); then echo "PASS $1: $3"; else echo "FAIL $1: $3"; failures=$((failures + 1)); fi
}

root=$work/root
etc=$root/opt/slurm/etc
pc=$etc/slurm_parallelcluster_slurmdbd.conf
ag=$root/etc/acctgate/acctgate.conf
mkdir -p "$etc" "$root/etc/parallelcluster" "$root/etc/acctgate" "$work/bin"
# slurmdbd.conf as slurmdbd.conf.erb renders it on a head node.
cat >"$etc/slurmdbd.conf" <<'CONF'
AuthType=auth/munge
LogFile=/var/log/slurmdbd.log
DbdPort=6819
SlurmUser=slurm
StorageType=accounting_storage/mysql

# Conditional inclusion based on 'node['cluster']['node_type']' attribute
# WARNING!!! The slurm_parallelcluster_slurmdbd.conf file included below can be updated by the pcluster process.
# Please do not edit it.
include slurm_parallelcluster_slurmdbd.conf
CONF
# gen HOST: the pcluster-generated file for a database at HOST:3306, with
# the password update_slurm_database_password.sh appends.
gen() {
	cat <<-CONF
		# slurm_parallelcluster_slurmdbd.conf is managed by the pcluster processes.
		# Do not modify.
		# Please add user-specific slurmdbd configuration options in slurmdbd.conf
		DbdHost=ip-10-0-0-12
		StorageHost=$1
		StoragePort=3306
		StorageLoc=mycluster
		StorageUser=clusteradmin
		StoragePass=s3cret-from-secrets-manager
	CONF
}
gen mydb.cluster-abc.eu-west-1.rds.amazonaws.com >"$pc"
chmod 0600 "$pc" "$etc/slurmdbd.conf"
printf 'stack_name=mycluster\ncfn_node_type=HeadNode\n' >"$root/etc/parallelcluster/cfnconfig"
cp "$pc" "$work/original.pc"
# The RDS bundle stands in as one CA made here.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Amazon RDS test CA" -keyout "$work/ca-key.pem" \
	-out "$work/rds-ca.pem" 2>/dev/null || exit 1
cat >"$work/bin/systemctl" <<STUB
#!/bin/sh
echo "\$*" >>"$work/systemctl.log"
STUB
chmod +x "$work/bin/systemctl"
export ACCTGATE_PCLUSTER_ROOT=$root SYSTEMCTL=$work/bin/systemctl ACCTGATE_BIN=$bin
run() { bash "$script" --ca-bundle "$work/rds-ca.pem" "$@"; }
tree() { (cd "$root" && find . -type f -print0 | sort -z | xargs -0 sha256sum; find . -printf '%m %p\n' | sort); }
calls() { [[ -f $work/systemctl.log ]] && tr '\n' ';' <"$work/systemctl.log"; }

# ---- --dry-run ----------------------------------------------------------------------
before=$(tree)
out=$(run --dry-run 2>&1)
check "--dry-run shows slurmdbd's change" \
	"$([[ $out == *"-StorageHost=mydb.cluster-abc.eu-west-1.rds.amazonaws.com"*"+StorageHost=127.0.0.1"*"+StoragePort=6033"* ]] && echo 1 || echo 0)" \
	"$(grep -E '^[-+]Storage' <<<"$out" | tr '\n' ' ')"
check "--dry-run shows acctgate's new configuration" \
	"$([[ $out == *"+servers = mydb.cluster-abc.eu-west-1.rds.amazonaws.com:3306"* ]] && echo 1 || echo 0)" \
	"$(grep -E '^\+servers' <<<"$out")"
check "--dry-run changes nothing and calls no systemctl" \
	"$([[ $(tree) == "$before" && ! -f $work/systemctl.log ]] && echo 1 || echo 0)" "$(calls)"

# ---- the run ------------------------------------------------------------------------
run >"$work/run1.log" 2>&1
rc=$?
check "the run succeeds" "$((rc == 0))" "exit $rc: $(tail -n 3 "$work/run1.log" | tr '\n' ' ')"
check "slurmdbd points at acctgate on loopback" \
	"$([[ $(grep -E '^Storage(Host|Port)=' "$pc" | tr '\n' ' ') == "StorageHost=127.0.0.1 StoragePort=6033 " ]] && echo 1 || echo 0)" \
	"$(grep -E '^Storage(Host|Port)=' "$pc" | tr '\n' ' ')"
others=$(diff <(grep -vE '^Storage(Host|Port)=' "$work/original.pc") <(grep -vE '^Storage(Host|Port)=' "$pc"))
check "every other line of it is kept, and its mode" \
	"$([[ -z $others && $(stat -c %a "$pc") == 600 ]] && echo 1 || echo 0)" "${others:-same lines}, mode $(stat -c %a "$pc")"
want="servers = mydb.cluster-abc.eu-west-1.rds.amazonaws.com:3306
tls = verify_identity
tls_ca = /etc/acctgate/rds-global-bundle.pem"
check "acctgate's [upstream] is the old StorageHost, verify_identity, the bundle" \
	"$([[ $(sed -n '/^\[upstream\]/,$p' "$ag" | grep -E '^(servers|tls|tls_ca) ') == "$want" ]] && echo 1 || echo 0)" \
	"$(sed -n '/^\[upstream\]/,$p' "$ag" | grep -E '^(servers|tls|tls_ca) ' | tr '\n' ' ')"
check "no password in acctgate's configuration" "$(grep -q s3cret "$ag" && echo 0 || echo 1)" "$ag"
check "the CA bundle is installed" "$(cmp -s "$work/rds-ca.pem" "$root/etc/acctgate/rds-global-bundle.pem" && echo 1 || echo 0)" \
	"$(ls -l "$root/etc/acctgate/rds-global-bundle.pem" 2>&1)"
check "acctgate is (re)started before slurmdbd" \
	"$([[ $(calls) == "enable acctgate;restart acctgate;restart slurmdbd;" ]] && echo 1 || echo 0)" "$(calls)"
sed "s|^tls_ca = /|tls_ca = $root/|" "$ag" >"$work/check.conf"
out=$("$bin" -c "$work/check.conf" --check 2>&1)
check "acctgate --check passes on what was written" "$([[ $out == *"is valid"* ]] && echo 1 || echo 0)" "$out"

# ---- idempotent ----------------------------------------------------------------------
rm -f "$work/systemctl.log"
before=$(tree)
run >"$work/run2.log" 2>&1
rc=$?
check "a second run changes nothing and restarts nothing" \
	"$([[ $rc == 0 && $(tree) == "$before" && ! -f $work/systemctl.log ]] && echo 1 || echo 0)" \
	"exit $rc, $(tail -n 1 "$work/run2.log"); systemctl: $(calls)"
out=$(run --dry-run 2>&1)
check "and a --dry-run then says nothing would change" "$([[ $out == *"nothing to change"* ]] && echo 1 || echo 0)" \
	"$(tr '\n' ' ' <<<"$out")"

# ---- a cluster update regenerates slurmdbd's file ----------------------------------------
gen mydb2.cluster-abc.eu-west-1.rds.amazonaws.com >"$pc"
cp "$pc" "$work/updated.pc"
rm -f "$work/systemctl.log"
run >"$work/run3.log" 2>&1
check "after a cluster update, a run follows the new database" \
	"$([[ $(grep -c '^servers = mydb2.cluster-abc.eu-west-1.rds.amazonaws.com:3306$' "$ag") == 1 &&
		$(grep '^StorageHost=' "$pc") == StorageHost=127.0.0.1 ]] && echo 1 || echo 0)" \
	"$(grep '^servers' "$ag"); $(grep '^StorageHost=' "$pc"); systemctl: $(calls)"

# ---- --undo -------------------------------------------------------------------------
rm -f "$work/systemctl.log"
run --undo >"$work/undo.log" 2>&1
rc=$?
check "--undo restores slurmdbd's file byte for byte" \
	"$([[ $rc == 0 ]] && cmp -s "$work/updated.pc" "$pc" && echo 1 || echo 0)" \
	"exit $rc; $(cmp "$work/updated.pc" "$pc" 2>&1 || true)"
check "--undo removes acctgate.conf, which did not exist, restarts slurmdbd, stops acctgate" \
	"$([[ ! -e $ag && $(calls) == "restart slurmdbd;stop acctgate;" ]] && echo 1 || echo 0)" \
	"$(ls "$ag" 2>&1); systemctl: $(calls)"
check "--undo removes the CA bundle the first run installed" \
	"$([[ ! -e $root/etc/acctgate/rds-global-bundle.pem ]] && echo 1 || echo 0)" \
	"$(ls "$root/etc/acctgate/" 2>&1 | tr '\n' ' ')"

# An acctgate.conf of the admin's own comes back as it was.
printf '# mine\n[proxy]\nclient_tls = disabled\n' >"$ag"
cp "$ag" "$work/mine.conf"
run >/dev/null 2>&1 && run --undo >/dev/null 2>&1
check "--undo restores an earlier acctgate.conf byte for byte" \
	"$(cmp -s "$work/mine.conf" "$ag" && cmp -s "$work/updated.pc" "$pc" && echo 1 || echo 0)" \
	"$(cmp "$work/mine.conf" "$ag" 2>&1) $(cmp "$work/updated.pc" "$pc" 2>&1)"
rm -f "$ag"

# ---- a configuration acctgate refuses ---------------------------------------------------
rm -f "$work/systemctl.log" "$root/etc/acctgate/rds-global-bundle.pem"
echo "not a certificate" >"$work/bad-ca.pem"
before=$(cat "$pc")
bash "$script" --ca-bundle "$work/bad-ca.pem" >"$work/bad.log" 2>&1
rc=$?
check "a bundle acctgate cannot load: exit 1, slurmdbd untouched, the bundle not kept" \
	"$([[ $rc == 1 && $(cat "$pc") == "$before" && $(calls) != *slurmdbd* && ! -e $root/etc/acctgate/rds-global-bundle.pem ]] && echo 1 || echo 0)" \
	"exit $rc: $(grep -E 'error|acctgate:' "$work/bad.log" | tr '\n' ' '); systemctl: $(calls)"
rm -f "$root/etc/acctgate/rds-global-bundle.pem"

# ---- not the head node ---------------------------------------------------------------
printf 'cfn_node_type=ComputeFleet\n' >"$root/etc/parallelcluster/cfnconfig"
before=$(tree)
out=$(run 2>&1)
check "on a compute node it does nothing" "$([[ $? == 0 && $(tree) == "$before" ]] && echo 1 || echo 0)" "$out"

echo "$failures check(s) failed"
((failures == 0))
