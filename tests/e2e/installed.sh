# installed.sh - sourced by slurm_e2e.sh --installed: acctgate as an admin
# gets it, not as the build tree has it. On THIS machine (the test must be
# root on a machine that is its to change: CI's):
#   - `apt-get install ./acctgate_*.deb` (the package.deb test's), offline;
#   - a ParallelCluster head node's files where the cookbook puts them
#     (/opt/slurm/etc/slurmdbd.conf including
#     slurm_parallelcluster_slurmdbd.conf, /etc/parallelcluster/cfnconfig),
#     naming the lab's MariaDB as StorageHost=localhost;
#   - the packaged bootstrap (/usr/share/acctgate/pcluster/...) run on them,
#     with the lab CA as the RDS bundle and a systemctl that does what the
#     installed unit says (ExecStart as its User and Group, its UMask, no
#     new privileges): systemd itself does not run here;
#   - slurmdbd then pointed where the bootstrap's file says (acctgate on
#     loopback), and the whole e2e run through that acctgate;
#   - at the end, --undo restores the head node's files byte for byte, and
#     `apt-get purge` leaves nothing of the package.
# Sets ag_pid_file, agport and storage_host/storage_port for slurm_e2e.sh.

inst_unit=/lib/systemd/system/acctgate.service
inst_bootstrap=/usr/share/acctgate/pcluster/acctgate-onnodeconfigured.sh
inst_pc=/opt/slurm/etc/slurm_parallelcluster_slurmdbd.conf
inst_created=()

# unit_value KEY: the installed unit's setting.
unit_value() { sed -n "s/^$1=//p" "$inst_unit" | tail -n 1; }

# The systemctl the bootstrap calls: enable is recorded, restart/stop of
# acctgate start and stop it as the unit would, slurmdbd's are recorded
# (the e2e starts slurmdbd itself, after the bootstrap).
inst_write_systemctl() {
	local bin=$1 log=$2
	cat >"$bin/systemctl" <<-STUB
		#!/usr/bin/env bash
		echo "\$*" >>"$lab/systemctl.log"
		[[ \$2 == acctgate ]] || exit 0
		if [[ -f $lab/ag/acctgate.pid ]]; then
			kill "\$(<$lab/ag/acctgate.pid)" 2>/dev/null
			for i in \$(seq 100); do kill -0 "\$(<$lab/ag/acctgate.pid)" 2>/dev/null || break; sleep 0.1; done
			rm -f $lab/ag/acctgate.pid
		fi
		[[ \$1 == restart || \$1 == start ]] || exit 0
		(umask $(unit_value UMask); exec setpriv --reuid="$(unit_value User)" --regid="$(unit_value Group)" \\
			--init-groups --no-new-privs -- $(unit_value ExecStart) >>"$log" 2>&1 </dev/null) &
		echo \$! >$lab/ag/acctgate.pid
		# Type=notify: systemctl returns once the service is ready; here,
		# once it listens.
		for i in \$(seq 100); do
			(exec 3<>/dev/tcp/127.0.0.1/$agport) 2>/dev/null && exit 0
			kill -0 "\$(<$lab/ag/acctgate.pid)" 2>/dev/null || exit 1
			sleep 0.1
		done
		exit 1
	STUB
	chmod +x "$bin/systemctl"
}

# installed_setup DEB DBPORT: install, lay out the head node, bootstrap.
installed_setup() {
	local deb=$1 dbport=$2 p
	[[ $(id -u) == 0 ]] || { fail "--installed needs root (it installs the package)"; return 1; }
	[[ -f $deb ]] || { fail "no package at $deb (the package.deb test builds it)"; return 1; }
	if dpkg -s acctgate >/dev/null 2>&1; then
		fail "acctgate is installed on this machine already: this test installs and purges it"
		return 1
	fi
	for p in /opt/slurm /etc/parallelcluster /etc/acctgate; do
		[[ -e $p ]] && { fail "$p exists: this test writes and removes it"; return 1; }
	done
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" >"$lab/apt-install.log" 2>&1; then
		fail "apt-get install $deb: $(tail -n 5 "$lab/apt-install.log")"
		return 1
	fi
	inst_created=(/opt/slurm /etc/parallelcluster)
	local st
	st=$(stat -c '%U:%G %a' /etc/acctgate /var/lib/acctgate 2>&1 | tr '\n' ' ')
	check "apt-get install: the acctgate user, /etc/acctgate and /var/lib/acctgate" \
		"root:acctgate 750 acctgate:acctgate 750 " "$st"

	mkdir -p /opt/slurm/etc /etc/parallelcluster
	printf 'stack_name=e2e\ncfn_node_type=HeadNode\n' >/etc/parallelcluster/cfnconfig
	cat >/opt/slurm/etc/slurmdbd.conf <<-CONF
		AuthType=auth/munge
		DbdPort=6819
		SlurmUser=slurm
		StorageType=accounting_storage/mysql
		include slurm_parallelcluster_slurmdbd.conf
	CONF
	cat >"$inst_pc" <<-CONF
		# slurm_parallelcluster_slurmdbd.conf is managed by the pcluster processes.
		DbdHost=localhost
		StorageHost=localhost
		StoragePort=$dbport
		StorageLoc=slurm_acct_db
		StorageUser=$LAB_DB_USER
		StoragePass=$LAB_DB_PASS
	CONF
	chmod 0600 "$inst_pc" /opt/slurm/etc/slurmdbd.conf
	cp -p "$inst_pc" "$lab/pc.original"

	mkdir -p "$lab/bin" "$ag"
	rm -f "$lab/systemctl.log"
	inst_write_systemctl "$lab/bin" "$ag/acctgate.log"
	if ! SYSTEMCTL=$lab/bin/systemctl bash "$inst_bootstrap" --ca-bundle "$lab/certs/ca.pem" --port "$agport" \
		>"$lab/bootstrap.log" 2>&1; then
		fail "the packaged bootstrap: $(tail -n 5 "$lab/bootstrap.log")"
		show_logs
		return 1
	fi
	pass "the packaged bootstrap ran ($(tr '\n' ';' <"$lab/systemctl.log"))"
	check "slurmdbd's file points at acctgate on loopback" "StorageHost=127.0.0.1 StoragePort=$agport " \
		"$(grep -E '^Storage(Host|Port)=' "$inst_pc" | tr '\n' ' ')"
	check "acctgate's [upstream]: the old StorageHost, verify_identity, the bundle" \
		"servers = localhost:$dbport tls = verify_identity tls_ca = /etc/acctgate/rds-global-bundle.pem " \
		"$(sed -n '/^\[upstream\]/,$p' /etc/acctgate/acctgate.conf | grep -E '^(servers|tls|tls_ca) ' | tr '\n' ' ')"
	local pid user
	pid=$(cat "$ag/acctgate.pid" 2>/dev/null)
	user=$(ps -o user= -p "$pid" 2>/dev/null | tr -d ' ')
	check "acctgate runs as the unit's user, from the installed binary" "acctgate /usr/sbin/acctgate" \
		"$user $(readlink "/proc/$pid/exe" 2>/dev/null)"
	rm -f "$lab/systemctl.log"
	local before
	before=$(sha256sum "$inst_pc" /etc/acctgate/acctgate.conf)
	SYSTEMCTL=$lab/bin/systemctl bash "$inst_bootstrap" --ca-bundle "$lab/certs/ca.pem" --port "$agport" \
		>"$lab/bootstrap2.log" 2>&1
	check "a second bootstrap changes nothing and restarts nothing" "1" \
		"$([[ $(sha256sum "$inst_pc" /etc/acctgate/acctgate.conf) == "$before" && ! -f $lab/systemctl.log ]] && echo 1 || echo "$(cat "$lab/systemctl.log" 2>/dev/null)")"
	storage_host=$(sed -n 's/^StorageHost=//p' "$inst_pc")
	storage_port=$(sed -n 's/^StoragePort=//p' "$inst_pc")
}

# installed_teardown: --undo, then purge; each checked.
installed_teardown() {
	((${#inst_created[@]})) || return 0
	if [[ -x $inst_bootstrap || -f $inst_bootstrap ]]; then
		SYSTEMCTL=$lab/bin/systemctl bash "$inst_bootstrap" --undo >"$lab/undo.log" 2>&1
		check "--undo: slurmdbd's file back byte for byte, acctgate stopped" "1" \
			"$(cmp -s "$lab/pc.original" "$inst_pc" && ! kill -0 "$(cat "$ag/acctgate.pid" 2>/dev/null)" 2>/dev/null &&
				echo 1 || echo "$(cmp "$lab/pc.original" "$inst_pc" 2>&1) $(tail -n 2 "$lab/undo.log")")"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get purge -y acctgate >"$lab/apt-purge.log" 2>&1
	rm -rf "${inst_created[@]}"
	inst_created=()
	local left
	left=$(ls -d /etc/acctgate /var/lib/acctgate /usr/sbin/acctgate 2>/dev/null)
	check "apt-get purge leaves nothing of the package" "" "$left"
}
