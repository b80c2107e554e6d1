#!/usr/bin/env bash
# test.sh - THE test command: install dependencies, build, run every test.
#
#   bash scripts/test.sh
#
# 1. apt-get installs what is missing (Debian 12, as root; nothing when all
#    packages are there).
# 2. Builds build/ (RelWithDebInfo), build-asan/ (-DACCTGATE_SANITIZE=ON:
#    AddressSanitizer + UndefinedBehaviorSanitizer) and build-fuzz/ (clang,
#    libFuzzer), -j2.
# 3. Runs `ctest --output-on-failure` in the first two: unit tests,
#    integration (lab MariaDB + acctgate as a fixture, every scenario over
#    the four client/upstream TLS combinations, two of them under the
#    sanitizers) and the Slurm e2e tests; in build-fuzz, each fuzz target
#    for a bounded time, two at a time. The package tests
#    (package.deb, e2e.slurm_installed) run in build/ only: what they check
#    is the package, whose binary is built without sanitizers; so do
#    e2e.slurm_clusters, e2e.slurm_restore and e2e.slurm_plain (see below). The whole
#    run must stay inside CI's 30 minutes (measured on a clean machine of
#    2 cores: 1379 s, 1496 s and 1355 s): weigh any new long test against that. In the first two a
#    skipped test fails the run too (a missing capture, a missing tool):
#    it checked nothing. Only direct mode skips by design.
#
# Environment:
#   ACCTGATE_TEST_DIRECT=1     integration/e2e straight at MariaDB (harness check)
#   ACCTGATE_TEST_SKIP_ASAN=1  only the normal build
#   ACCTGATE_TEST_ASAN_E2E=0   leave the e2e tests out of the ASan build
#   ACCTGATE_TEST_SKIP_FUZZ=1  no fuzz build (clang, libFuzzer)
#   ACCTGATE_FUZZ_SECONDS=N    how long each fuzz target runs (default 10)
#   JOBS=N                     build parallelism (default 2)
# Exits non-zero if anything failed; prints a summary with timings.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=lab.sh
. scripts/lab.sh
jobs=${JOBS:-2}
t_start=$(lab_now_ms)
declare -a summary=()
status=0
note() { summary+=("$(printf '%-44s %s' "$1" "$2")"); }
secs() { printf '%d s' $((($(lab_now_ms) - $1) / 1000)); }

t=$(lab_now_ms)
lab_install_deps
note "dependencies" "$(secs "$t")"

# configure_build DIR [cmake args...]
configure_build() {
	local dir=$1 t
	shift
	t=$(lab_now_ms)
	echo "==== configure + build $dir"
	if cmake -S . -B "$dir" "$@" && cmake --build "$dir" -j"$jobs"; then
		note "build $dir" "ok, $(secs "$t")"
		return 0
	fi
	note "build $dir" "FAILED, $(secs "$t")"
	return 1
}

# run_ctest DIR [ctest args...]
run_ctest() {
	local dir=$1 t rc=0
	shift
	t=$(lab_now_ms)
	echo "==== ctest in $dir $*"
	(cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$dir/ctest.log" || rc=$?
	local tail
	tail=$(grep -E "tests passed|tests failed" "$dir/ctest.log" | tail -n1)
	note "ctest $dir $*" "${tail:-no result} (rc $rc), $(secs "$t")"
	return "$rc"
}

# no_skips DIR: fail when ctest's log in DIR lists a test that did not run
# (ctest passes the run with "(Skipped)" or "(Not Run)" tests in it).
no_skips() {
	local dir=$1 skipped
	[[ ${ACCTGATE_TEST_DIRECT:-0} == 1 ]] && return 0
	skipped=$(sed -n '/tests did not run:/,$p' "$dir/ctest.log" | grep -E '\((Skipped|Not Run)\)' || true)
	[[ -z $skipped ]] && return 0
	echo "==== tests that did not run in $dir (each one checked nothing):"
	printf '%s\n' "$skipped"
	note "skipped tests in $dir" "FAILED: $(wc -l <<<"$skipped") did not run"
	return 1
}

if configure_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
	run_ctest build || status=1
	no_skips build || status=1
else
	status=1
fi

if [[ ${ACCTGATE_TEST_SKIP_ASAN:-0} != 1 ]]; then
	# Reports go to each process's stderr (acctgate's lands in its lab log,
	# where the fixture cleanup and the e2e look for them).
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:print_summary=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	# The two longest e2e tests (100 s together) run in build/ only: what
	# they add to acctgate's code under the sanitizers, the in-place restore
	# and coordinated throttling, integration.restore_in_place and
	# integration.throttle run here too.
	# e2e.slurm_plain too: e2e.slurm_tls runs the same daemons' traffic
	# through the same session code, with TLS on both legs.
	asan_args=(-E '^e2e[.]slurm_(clusters|restore|plain)$')
	[[ ${ACCTGATE_TEST_ASAN_E2E:-1} == 0 ]] && asan_args+=(-LE e2e)
	if configure_build build-asan -DCMAKE_BUILD_TYPE=Debug -DACCTGATE_SANITIZE=ON; then
		run_ctest build-asan "${asan_args[@]}" || status=1
		no_skips build-asan || status=1
	else
		status=1
	fi
fi

if [[ ${ACCTGATE_TEST_SKIP_FUZZ:-0} != 1 ]]; then
	# libFuzzer needs clang: every parser's target runs a bounded time from
	# the corpus seeded with the real slurmdbd capture.
	# Without the test programs: the other two builds run those.
	if CC=clang configure_build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACCTGATE_FUZZ=ON \
		-DACCTGATE_TESTS=OFF -DACCTGATE_FUZZ_SECONDS="${ACCTGATE_FUZZ_SECONDS:-10}"; then
		# Two at a time: each target is one CPU-bound process, and the
		# machine CI runs on has 2 cores.
		run_ctest build-fuzz -L fuzz -j2 || status=1
	else
		status=1
	fi
fi

echo
echo "==== summary"
printf '%s\n' "${summary[@]}"
echo "total $(secs "$t_start")"
if ((status)); then
	echo "TESTS FAILED"
else
	echo "ALL TESTS PASSED"
fi
exit "$status"
