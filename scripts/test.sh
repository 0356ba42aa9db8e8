#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# `make test`: every build and every test tsq has, in the build directories the docs name.
#   build-debug/  Debug, unit + stress + examples + standalone headers, then valgrind memcheck
#   build/        Release, the same tests plus the benchmarks compiled (and smoke-run)
#   build-tsan/   ThreadSanitizer, stress tests
#   build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer, unit + stress + examples
#   build-fuzz/   clang + libFuzzer: short bounded fuzz runs against reference models
#                 (TSQ_FUZZ_SECONDS per target, default 20; longer on demand)
#   then: install, and use the installed tsq from a separate project via find_package and
#   via pkg-config.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=${JOBS:-$(nproc)}
passed=0 failed=0 failures=()
start=$(date +%s)

step() {
  local name=$1; shift
  local t0=$(date +%s)
  echo
  echo "=== $name"
  if "$@"; then
    passed=$((passed + 1)); echo "=== $name: ok ($(( $(date +%s) - t0 )) s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "=== $name: FAILED ($(( $(date +%s) - t0 )) s)"
  fi
}

configure_build() { # dir, cmake args...
  local dir=$1; shift
  cmake -S "$top" -B "$dir" -Wno-dev "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j"$jobs"
}

debug() {
  configure_build build-debug -DCMAKE_BUILD_TYPE=Debug -DTSQ_BUILD_BENCH=OFF -DTSQ_VALGRIND=ON &&
    ctest --test-dir build-debug --output-on-failure -j"$jobs" -LE memcheck
}
memcheck() { ctest --test-dir build-debug --output-on-failure -j"$jobs" -L memcheck; }
release() {
  configure_build build -DCMAKE_BUILD_TYPE=Release &&
    ctest --test-dir build --output-on-failure -j"$jobs"
}
tsan() {
  configure_build build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSQ_SANITIZE=thread \
    -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF &&
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
      ctest --test-dir build-tsan --output-on-failure -L stress
}
asan() {
  configure_build build-asan -DCMAKE_BUILD_TYPE=Debug -DTSQ_SANITIZE=address,undefined \
    -DTSQ_BUILD_BENCH=OFF &&
    ASAN_OPTIONS="detect_leaks=1" UBSAN_OPTIONS="print_stacktrace=1" \
      ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'unit|stress|example'
}
fuzz() {
  CC=clang configure_build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTSQ_FUZZ=ON \
    -DTSQ_FUZZ_SECONDS="${TSQ_FUZZ_SECONDS:-20}" -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF &&
    ctest --test-dir build-fuzz --output-on-failure -L fuzz --no-tests=error
}
consumer() {
  local prefix=$top/build/_install
  rm -rf "$prefix" build/_consumer build/_consumer_pc
  cmake --install build --prefix "$prefix" >/dev/null || return 1
  # 1. CMake: find_package(tsq 0.1 REQUIRED) + tsq::tsq
  cmake -S tests/consumer -B build/_consumer -DCMAKE_PREFIX_PATH="$prefix" >/dev/null &&
    cmake --build build/_consumer >/dev/null && ./build/_consumer/tsq-consumer || return 1
  # 2. pkg-config --cflags tsq
  mkdir -p build/_consumer_pc
  local cflags
  cflags=$(PKG_CONFIG_PATH="$prefix/share/pkgconfig" pkg-config --cflags tsq) || return 1
  echo "pkg-config --cflags tsq: $cflags"
  cc -std=c11 -Wall -Wextra -Wpedantic -Werror $cflags tests/consumer/main.c -pthread \
    -o build/_consumer_pc/tsq-consumer && ./build/_consumer_pc/tsq-consumer
}

bash scripts/install-deps.sh || { echo "make test: dependencies missing (see above)"; exit 1; }
step "debug build + tests" debug
step "valgrind memcheck (unit tests)" memcheck
step "release build + tests" release
step "threadsanitizer (stress tests)" tsan
step "address+undefined sanitizers" asan
step "libFuzzer (owner, zc)" fuzz
step "installed package: find_package + pkg-config" consumer

echo
echo "make test finished in $(( $(date +%s) - start )) s"
[ $failed -eq 0 ] || printf 'failed step: %s\n' "${failures[@]}"
echo "steps: $passed passed, $failed failed"
[ $failed -eq 0 ]
