#!/usr/bin/env bash
# package.sh SOURCE_DIR WORK_DIR - the Debian package, built and checked:
#   - configure (prefix /usr, Debian's hardening flags from dpkg-buildflags),
#     build and `cpack -G DEB` in WORK_DIR/build, timed;
#   - `dpkg-deb --contents` holds exactly the expected paths; the control
#     file's Depends come from dpkg-shlibdeps (libssl3, libevent, jemalloc)
#     plus adduser; conffiles lists the example configuration; the
#     maintainer scripts parse;
#   - `dpkg -x` into a scratch root: the binary runs -V, and --check
#     passes on the shipped example (its /etc/acctgate paths moved into the
#     scratch root, with a certificate made there), and fails on the
#     example as shipped only because the certificate it names is missing;
#   - lintian reports no error (warnings are printed, not failed).
# ACCTGATE_PACKAGE_INSTALL=1 also installs the package with apt-get on this
# machine, checks the user, directories and unit, then purges it: only on
# a machine that is yours to change.
set -uo pipefail
src=$(cd "${1:?usage: package.sh SOURCE_DIR WORK_DIR}" && pwd)
work=${2:?usage: package.sh SOURCE_DIR WORK_DIR}
mkdir -p "$work"
work=$(cd "$work" && pwd)
failures=0
check() {
	if (($2)); then echo "PASS $1: $3"; else echo "FAIL $1: $3"; failures=$((failures + 1)); fi
}
for tool in cpack dpkg-deb dpkg-shlibdeps lintian openssl; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (scripts/lab.sh installs it)"; exit 1; }
done

# ---- build ------------------------------------------------------------------------
t0=$(date +%s%3N)
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
ldflags=$(dpkg-buildflags --get LDFLAGS)
rm -f "$work"/build/acctgate_*.deb
if ! { cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	-DACCTGATE_TESTS=OFF -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" &&
	cmake --build "$work/build" -j"${JOBS:-1}" &&
	(cd "$work/build" && cpack -G DEB); } >"$work/build.log" 2>&1; then
	echo "FAIL: the package did not build:"
	tail -n 30 "$work/build.log"
	exit 1
fi
ms=$(($(date +%s%3N) - t0))
deb=$(ls "$work"/build/acctgate_*.deb)
echo "PASS build: $(basename "$deb"), $(stat -c %s "$deb") bytes, in $((ms / 1000)).$((ms % 1000 / 100)) s (configure, build -j${JOBS:-1}, cpack)"

# ---- contents and control -------------------------------------------------------------
want="./etc/acctgate/acctgate.conf.example
./lib/systemd/system/acctgate.service
./usr/sbin/acctgate
./usr/share/acctgate/pcluster/acctgate-onnodeconfigured.sh
./usr/share/doc/acctgate/README.md
./usr/share/doc/acctgate/changelog.gz
./usr/share/doc/acctgate/copyright
./usr/share/man/man5/acctgate.conf.5.gz
./usr/share/man/man8/acctgate.8.gz"
[[ -f $src/scripts/pcluster/acctgate-onnodeconfigured.sh ]] || want=$(grep -v pcluster <<<"$want")
got=$(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { print $6 }' | sort)
check "dpkg-deb --contents: exactly the expected files" "$([[ $got == "$want" ]] && echo 1 || echo 0)" \
	"$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | tr '\n' ' ')"
modes=$(dpkg-deb --contents "$deb" | awk '$1 !~ /^d/ { print $1, $2, $6 }' | grep -v '^-rw-r--r-- root/root' |
	grep -v '^-rwxr-xr-x root/root ./usr/s')
check "files are root's, 0644, executables 0755" "$([[ -z $modes ]] && echo 1 || echo 0)" "${modes:-all of them}"
depends=$(dpkg-deb -f "$deb" Depends)
ok=1
for d in adduser libc6 libssl3 libevent-core libjemalloc2; do [[ $depends == *"$d"* ]] || ok=0; done
check "Depends from dpkg-shlibdeps, and adduser" "$ok" "$depends"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)
check "conffiles: the example configuration" \
	"$([[ $conffiles == /etc/acctgate/acctgate.conf.example ]] && echo 1 || echo 0)" "$conffiles"
ctl=$work/control
rm -rf "$ctl" && mkdir -p "$ctl" && dpkg-deb -e "$deb" "$ctl"
ok=1 bad=""
for s in postinst prerm postrm; do sh -n "$ctl/$s" || { ok=0; bad+=" $s"; }; done
check "maintainer scripts parse" "$ok" "postinst prerm postrm${bad:+; broken:$bad}"

# ---- unpacked into a scratch root ------------------------------------------------------
root=$work/root
rm -rf "$root" && dpkg -x "$deb" "$root"
bin=$root/usr/sbin/acctgate
v=$("$bin" -V 2>&1)
check "acctgate -V" "$([[ $v == "acctgate $(sed -n 's/^project(acctgate VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")" ]] && echo 1 || echo 0)" "$v"
out=$("$bin" -c "$root/etc/acctgate/acctgate.conf.example" --check 2>&1)
check "--check on the example as shipped: only its certificate is missing" \
	"$([[ $out == *"cannot read certificate /etc/acctgate/acctgate-cert.pem"* ]] && echo 1 || echo 0)" "$out"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -keyout "$root/etc/acctgate/acctgate-key.pem" \
	-out "$root/etc/acctgate/acctgate-cert.pem" 2>/dev/null
sed "s|/etc/acctgate/|$root/etc/acctgate/|g" "$root/etc/acctgate/acctgate.conf.example" >"$root/etc/acctgate/acctgate.conf"
out=$("$bin" -c "$root/etc/acctgate/acctgate.conf" --check 2>&1)
check "--check passes on the example with its certificate in place" "$([[ $out == *"is valid"* ]] && echo 1 || echo 0)" "$out"
man=$(MANWIDTH=80 man --warnings -l "$root/usr/share/man/man5/acctgate.conf.5.gz" 2>&1 >/dev/null)
check "the packaged man pages render" \
	"$([[ -z $man && -z $(man --warnings -l "$root/usr/share/man/man8/acctgate.8.gz" 2>&1 >/dev/null) ]] && echo 1 || echo 0)" \
	"${man:-man -l, no warnings}"

# ---- lintian ----------------------------------------------------------------------------
t1=$(date +%s%3N)
tags=$(lintian "$deb" 2>/dev/null)
lms=$(($(date +%s%3N) - t1))
errors=$(grep -c '^E:' <<<"$tags")
warnings=$(grep -c '^W:' <<<"$tags")
check "lintian: no errors" "$((errors == 0))" "$errors error(s), $warnings warning(s) in $((lms / 1000)).$((lms % 1000 / 100)) s${tags:+: $(tr '\n' ' ' <<<"$tags")}"

# ---- optional: a real install on this machine ---------------------------------------------
if [[ ${ACCTGATE_PACKAGE_INSTALL:-0} == 1 ]]; then
	if DEBIAN_FRONTEND=noninteractive apt-get install -y "$deb" >"$work/install.log" 2>&1; then
		st=$(stat -c '%U:%G %a' /etc/acctgate /var/lib/acctgate 2>&1 | tr '\n' ' ')
		user=$(getent passwd acctgate | cut -d: -f7)
		enabled=$([[ -L /etc/systemd/system/multi-user.target.wants/acctgate.service ]] && echo enabled || echo "not enabled")
		check "apt-get install: user, directories, unit enabled" \
			"$([[ $st == "root:acctgate 750 acctgate:acctgate 750 " && $user == /usr/sbin/nologin && $enabled == enabled ]] && echo 1 || echo 0)" \
			"$st; shell $user; $enabled"
	else
		check "apt-get install" 0 "$(tail -n 5 "$work/install.log")"
	fi
	DEBIAN_FRONTEND=noninteractive apt-get purge -y acctgate >>"$work/install.log" 2>&1
	left=$(ls -d /etc/acctgate /var/lib/acctgate /usr/sbin/acctgate /etc/systemd/system/multi-user.target.wants/acctgate.service 2>/dev/null)
	check "apt-get purge leaves nothing of the package" "$([[ -z $left ]] && echo 1 || echo 0)" "${left:-clean}"
fi

echo "$failures check(s) failed"
((failures == 0))
