#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# The installed package, as distributions and users see it:
#   tests/packaging/run.sh <work dir>        (CC picks the compiler for the pkg-config build)
# For each install layout - the default (installed elsewhere than configured, then moved: the
# relocatable tsq.pc), an absolute include dir (Nix/Guix style), a data dir three levels deep,
# absolute include and data dirs - tsq is installed under <work dir>, then:
#   pkg-config: --cflags names the include dir that holds tsq/tsq.h and carries -pthread,
#               --libs carries -pthread, a consumer compiles with them (-Werror) and runs;
#   CMake:      find_package(tsq 0.2) + tsq::tsq (Threads::Threads linked) builds and runs.
# Then: find_package(tsq 0.1) and (tsq 0.3) are refused (SameMinorVersion before 1.0), a
# FetchContent parent builds against tsq::tsq and its `cmake --install` installs nothing of
# tsq (and all of it with -DTSQ_INSTALL=ON), and the version agrees everywhere
# (check-version.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 <work dir>" >&2; exit 2; }
mkdir -p "$1"
w=$(cd "$1" && pwd)
cc=${CC:-cc}
# Absolute install dirs may not lie inside the source tree (CMake refuses them there), and
# <work dir> usually does: those layouts go to a temporary directory, removed on success.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tsq-packaging.XXXXXX")
# Only the prefixes given here: never a tsq installed on this machine.
nofind=(-DTSQ_CONSUMER_ONLY_PREFIX_PATH=ON)

fail() { echo "packaging: FAIL: $* (absolute-dir layouts: $tmp)" >&2; exit 1; }
ok() { echo "packaging: ok: $*"; }
# run <log> <command...>: quiet unless it fails.
run() {
  local log=$1; shift
  "$@" >"$log" 2>&1 || { cat "$log"; fail "$* (log: $log)"; }
}

# install_layout <name> <cmake args...>: configure tsq alone (no tests) in $w/<name>/build
# and install it to $w/<name>/prefix.
install_layout() {
  local name=$1; shift
  rm -rf "${w:?}/$name"
  run "$w/$name.configure.log" cmake -S "$top" -B "$w/$name/build" -DTSQ_BUILD_TESTS=OFF \
    -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF "$@"
  run "$w/$name.install.log" cmake --install "$w/$name/build" --prefix "$w/$name/prefix"
}

# check_pkgconfig <name> <dir holding tsq.pc> <expected include dir>
check_pkgconfig() {
  local name=$1 pcdir=$2 want=$3 cflags libs inc
  [ -f "$pcdir/tsq.pc" ] || fail "$name: no tsq.pc in $pcdir"
  PKG_CONFIG_PATH="$pcdir" pkg-config --validate tsq || fail "$name: pkg-config --validate tsq"
  cflags=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags tsq) || fail "$name: pkg-config --cflags"
  libs=$(PKG_CONFIG_PATH="$pcdir" pkg-config --libs tsq) || fail "$name: pkg-config --libs"
  echo "packaging: $name: pkg-config --cflags: $cflags   --libs: $libs"
  [[ " $cflags " == *" -pthread "* ]] || fail "$name: --cflags lacks -pthread"
  [[ " $libs " == *" -pthread "* ]] || fail "$name: --libs lacks -pthread"
  inc=$(sed -n 's/^-I\([^ ]*\).*/\1/p' <<<"$cflags")
  { [ -n "$inc" ] && [ -f "$inc/tsq/tsq.h" ]; } || fail "$name: -I${inc} holds no tsq/tsq.h"
  [ "$(realpath "$inc")" = "$(realpath "$want")" ] ||
    fail "$name: -I$inc is not the include dir $want"
  mkdir -p "$w/$name/pc"
  # shellcheck disable=SC2086 # the flags are words
  run "$w/$name/pc.log" "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror $cflags \
    "$top/tests/consumer/main.c" $libs -o "$w/$name/pc/tsq-consumer"
  run "$w/$name/pc.run.log" "$w/$name/pc/tsq-consumer"
  ok "$name: pkg-config consumer built with $cc and ran"
}

# cmake_consumer <name> <prefix> <version asked> [cmake args...]: configure, build and run
# tests/consumer.
cmake_consumer() {
  local name=$1 prefix=$2 ver=$3 dir="$w/$1/consumer-$3"
  shift 3
  rm -rf "$dir"
  run "$dir.log" cmake -S "$top/tests/consumer" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" \
    -DTSQ_CONSUMER_VERSION="$ver" "${nofind[@]}" "$@"
  grep -q "found for find_package(tsq $ver) in $prefix/" "$dir.log" ||
    fail "$name: tsq was not found under $prefix (see $dir.log)"
  run "$dir.build.log" cmake --build "$dir"
  run "$dir.run.log" "$dir/tsq-consumer"
  ok "$name: find_package(tsq $ver) + tsq::tsq (Threads::Threads) built and ran"
}

# cmake_consumer_refused <name> <prefix> <version asked>: find_package must fail on version.
cmake_consumer_refused() {
  local name=$1 prefix=$2 ver=$3 dir="$w/$1/consumer-$3"
  rm -rf "$dir"
  if cmake -S "$top/tests/consumer" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" \
      -DTSQ_CONSUMER_VERSION="$ver" "${nofind[@]}" >"$dir.log" 2>&1; then
    fail "$name: find_package(tsq $ver) accepted tsq $(cat "$w/version") (see $dir.log)"
  fi
  grep -q 'considered but not accepted' "$dir.log" ||
    { cat "$dir.log"; fail "$name: find_package(tsq $ver) failed, but not on the version"; }
  ok "$name: find_package(tsq $ver) refuses tsq $(cat "$w/version")"
}

sed -n 's/^#define TSQ_VERSION_STRING "\(.*\)"/\1/p' "$top/include/tsq/tsq.h" >"$w/version"

# 1. Default layout, configured for /usr/local but installed elsewhere, then moved.
install_layout default
p=$w/default/prefix
check_pkgconfig default "$p/share/pkgconfig" "$p/include"
cmake_consumer default "$p" 0.2
cmake_consumer default "$p" "$(cat "$w/version")"
cmake_consumer_refused default "$p" 0.1
cmake_consumer_refused default "$p" 0.3
bash "$here/check-version.sh" "$p" "$p/share/pkgconfig"
mv "$p" "$w/default/moved"
check_pkgconfig default-moved "$w/default/moved/share/pkgconfig" "$w/default/moved/include"

# 2. Absolute include dir (Nix/Guix: -DCMAKE_INSTALL_INCLUDEDIR=/nix/store/...-dev/include).
install_layout absinc -DCMAKE_INSTALL_INCLUDEDIR="$tmp/absinc-dev/include"
check_pkgconfig absinc "$w/absinc/prefix/share/pkgconfig" "$tmp/absinc-dev/include"
cmake_consumer absinc "$w/absinc/prefix" 0.2

# 3. A data dir three levels deep.
install_layout deep -DCMAKE_INSTALL_DATADIR=lib/x86_64-linux-gnu/share
check_pkgconfig deep "$w/deep/prefix/lib/x86_64-linux-gnu/share/pkgconfig" "$w/deep/prefix/include"
# (find_package does not search <prefix>/lib/<arch>/share/cmake: the consumer names tsq_DIR)
cmake_consumer deep "$w/deep/prefix" 0.2 \
  -Dtsq_DIR="$w/deep/prefix/lib/x86_64-linux-gnu/share/cmake/tsq"

# 4. Absolute include and data dirs, with the prefix they belong to.
install_layout absall -DCMAKE_INSTALL_PREFIX="$tmp/absall" \
  -DCMAKE_INSTALL_INCLUDEDIR="$tmp/absall/inc" -DCMAKE_INSTALL_DATADIR="$tmp/absall/share"
check_pkgconfig absall "$tmp/absall/share/pkgconfig" "$tmp/absall/inc"
cmake_consumer absall "$tmp/absall" 0.2

# 5. FetchContent from this source tree: tsq builds as a subproject, installs nothing.
fc=$w/fetchcontent
rm -rf "$fc"
run "$fc.configure.log" cmake -S "$here/fetchcontent" -B "$fc/build" -DTSQ_SOURCE_DIR="$top"
run "$fc.build.log" cmake --build "$fc/build"
run "$fc.run.log" "$fc/build/tsq-fc-consumer"
run "$fc.install.log" cmake --install "$fc/build" --prefix "$fc/prefix"
got=$(cd "$fc/prefix" && find . -type f | sort | tr '\n' ' ')
[ "$got" = "./bin/tsq-fc-consumer " ] ||
  fail "fetchcontent: the parent's install must hold only bin/tsq-fc-consumer, it holds: $got"
ok "fetchcontent: built against tsq::tsq; the parent's cmake --install installs nothing of tsq"
run "$fc.configure-on.log" cmake "$fc/build" -DTSQ_INSTALL=ON
run "$fc.install-on.log" cmake --install "$fc/build" --prefix "$fc/prefix-on"
for f in include/tsq/tsq.h include/tsq/defer.h include/tsq/bits/defer_list.h include/tsq/bits/defer_ring.h \
    include/tsq/bits/defer_wake.h share/pkgconfig/tsq.pc share/cmake/tsq/tsqConfig.cmake; do
  [ -f "$fc/prefix-on/$f" ] || fail "fetchcontent: -DTSQ_INSTALL=ON did not install $f"
done
ok "fetchcontent: with -DTSQ_INSTALL=ON the parent installs tsq too"
rm -rf "$tmp"
echo "packaging: all checks passed"
