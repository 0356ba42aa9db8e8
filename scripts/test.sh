#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# `make test`: every build and every test tsq has, in the build directories the docs name.
#   build-debug/  Debug, unit + stress + examples + standalone headers, then valgrind memcheck
#   build/        Release, the same tests plus the benchmarks compiled (and smoke-run)
#   build-clang/  clang (CC=clang CXX=clang++), RelWithDebInfo: everything built, unit +
#                 stress + examples + standalone headers run (gcc builds everything else)
#   build-tsan/   ThreadSanitizer, stress tests
#   build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer, unit + stress + examples
#   build-fuzz/   clang + libFuzzer: short bounded fuzz runs against reference models
#                 (TSQ_FUZZ_SECONDS per target, default 20; longer on demand)
#   build/_packaging/  the installed package (tests/packaging/run.sh): tsq.pc and the CMake
#                 package in several install layouts, used from separate projects through
#                 pkg-config and find_package (versions 0.1/0.3 refused), FetchContent, and
#                 the version agreeing in tsq.h, the packages and CHANGELOG.md
#   and first: REUSE licensing information of every file (tests/packaging/check-reuse.py),
#   then the format of every C source (scripts/format-check.sh, .clang-format).
# Environment:
#   TSQ_TEST_STEPS="clang packaging"  run only these steps (ids: reuse format debug memcheck
#                 release clang tsan asan fuzz packaging); default all
#   TSQ_BUILD_DIR=build-x  name the build directories build-x, build-x-debug, ... instead
#   JOBS, TSQ_FUZZ_SECONDS
# Output: one line per step with its result and time, then ctest's summary line(s) of that
# step; each step's full output goes to $B/test-<id>.log, and its last lines are printed when
# it fails. The last line says "steps: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
jobs=${JOBS:-$(nproc)}
B=${TSQ_BUILD_DIR:-build}
steps=${TSQ_TEST_STEPS:-}
passed=0 failed=0 failures=()
start=$(date +%s)

nsteps=0
for id in reuse format debug memcheck release clang tsan asan fuzz packaging docs; do
  [ -z "$steps" ] || [[ " $steps " == *" $id "* ]] && nsteps=$((nsteps + 1))
done

step() { # id, name, command...
  local id=$1 name=$2 t0 log rc
  shift 2
  [ -z "$steps" ] || [[ " $steps " == *" $id "* ]] || return 0
  t0=$(date +%s)
  log=$top/$B/test-$id.log
  printf '[%d/%d] %-68s ' $((passed + failed + 1)) "$nsteps" "$name"
  "$@" >"$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); echo "ok ($(( $(date +%s) - t0 )) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "FAILED ($(( $(date +%s) - t0 )) s)"
  fi
  # ctest's closing lines stay visible ("100% tests passed, 0 tests failed out of N").
  grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | sed 's/^/      /'
  if [ $rc -ne 0 ]; then
    grep -A 40 '^The following tests FAILED:' "$log" | sed 's/^/      /'
    echo "      the last 40 lines of $log:"
    tail -n 40 "$log" | sed 's/^/      | /'
  fi
}

configure_build() { # dir, cmake args...
  local dir=$1; shift
  echo "configure: cmake -S $top -B $dir $* (output: $dir.configure.log)"
  cmake -S "$top" -B "$dir" -Wno-dev "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$jobs"
}

reuse() { python3 tests/packaging/check-reuse.py; }
debug() {
  configure_build "$B-debug" -DCMAKE_BUILD_TYPE=Debug -DTSQ_BUILD_BENCH=OFF -DTSQ_VALGRIND=ON &&
    ctest --test-dir "$B-debug" --output-on-failure -j"$jobs" -LE memcheck
}
memcheck() { ctest --test-dir "$B-debug" --output-on-failure -j"$jobs" -L memcheck; }
release() {
  configure_build "$B" -DCMAKE_BUILD_TYPE=Release &&
    ctest --test-dir "$B" --output-on-failure -j"$jobs"
}
clang_build() {
  CC=clang CXX=clang++ configure_build "$B-clang" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    ctest --test-dir "$B-clang" --output-on-failure -j"$jobs" -L 'unit|stress|example|build'
}
tsan() {
  configure_build "$B-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSQ_SANITIZE=thread \
    -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF &&
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
      ctest --test-dir "$B-tsan" --output-on-failure -L stress
}
asan() {
  configure_build "$B-asan" -DCMAKE_BUILD_TYPE=Debug -DTSQ_SANITIZE=address,undefined \
    -DTSQ_BUILD_BENCH=OFF &&
    ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1" \
      ctest --test-dir "$B-asan" --output-on-failure -j"$jobs" -L 'unit|stress|example'
}
fuzz() {
  CC=clang configure_build "$B-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSQ_FUZZ=ON \
    -DTSQ_FUZZ_SECONDS="${TSQ_FUZZ_SECONDS:-20}" -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF &&
    ctest --test-dir "$B-fuzz" --output-on-failure -L fuzz --no-tests=error
}
packaging() { bash tests/packaging/run.sh "$B/_packaging"; }
docs() { make -s docs; }

mkdir -p "$B"
echo "make test: $nsteps step(s); each step's full output in $B/test-<step>.log"
bash scripts/install-deps.sh --log "$top/$B/deps.log" ||
  { echo "make test: dependencies missing (see above)"; exit 1; }
step reuse "REUSE licensing information" reuse
step format "clang-format (.clang-format) over include/ tests/ bench/ examples/" bash scripts/format-check.sh
step debug "debug build + tests" debug
step memcheck "valgrind memcheck (unit tests)" memcheck
step release "release build + tests" release
step clang "clang build + tests" clang_build
step tsan "threadsanitizer (stress tests)" tsan
step asan "address+undefined sanitizers" asan
step fuzz "libFuzzer (owner, zc, dql, budget rate)" fuzz
step packaging "installed package: pkg-config, find_package, FetchContent, version" packaging
step docs "API reference (doxygen, warnings are errors) + docs name check" docs

echo
echo "make test finished in $(( $(date +%s) - start )) s"
[ $failed -eq 0 ] || printf 'failed step: %s\n' "${failures[@]}"
echo "steps: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
