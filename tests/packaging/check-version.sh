#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# The version must agree everywhere:
#   tests/packaging/check-version.sh <install prefix> <dir holding the installed tsq.pc>
#   - include/tsq/tsq.h: TSQ_VERSION_MAJOR/MINOR/PATCH and TSQ_VERSION_STRING;
#   - the installed CMake package (tsqConfigVersion.cmake's PACKAGE_VERSION);
#   - the installed tsq.pc (pkg-config --modversion);
#   - CHANGELOG.md: a "## [x.y.z]" section for it, or else an "## [Unreleased]" section
#     (until the release section is written); which one was found is printed;
#   - README.md: the find_package(tsq X.Y ...) it shows must accept this version.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 2 ] || { echo "usage: $0 <install prefix> <pkg-config dir>" >&2; exit 2; }
prefix=$1 pcdir=$2
fail() { echo "version: FAIL: $*" >&2; exit 1; }

h=$top/include/tsq/tsq.h
macro() { sed -n "s/^#define TSQ_VERSION_$1 \\(.*\\)$/\\1/p" "$h"; }
major=$(macro MAJOR) minor=$(macro MINOR) patch=$(macro PATCH)
string=$(macro STRING | tr -d '"')
[[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ && $patch =~ ^[0-9]+$ ]] ||
  fail "tsq.h: TSQ_VERSION_MAJOR/MINOR/PATCH not found or not numbers ($major.$minor.$patch)"
v=$major.$minor.$patch
[ "$string" = "$v" ] || fail "tsq.h: TSQ_VERSION_STRING \"$string\" but MAJOR.MINOR.PATCH $v"

cfgver=$(find "$prefix" -name tsqConfigVersion.cmake | head -1)
[ -n "$cfgver" ] || fail "no tsqConfigVersion.cmake under $prefix"
cmake_v=$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")$/\1/p' "$cfgver")
[ "$cmake_v" = "$v" ] || fail "CMake package version '$cmake_v' ($cfgver), tsq.h $v"

pc_v=$(PKG_CONFIG_PATH="$pcdir" pkg-config --modversion tsq) || fail "pkg-config --modversion tsq"
[ "$pc_v" = "$v" ] || fail "tsq.pc Version '$pc_v', tsq.h $v"

cl=$top/CHANGELOG.md
if grep -Eq "^## \\[$major\\.$minor\\.$patch\\]" "$cl"; then
  section="## [$v]"
elif grep -Eq '^## \[Unreleased\]' "$cl"; then
  section="## [Unreleased] (no ## [$v] section yet)"
else
  fail "CHANGELOG.md has neither a '## [$v]' nor an '## [Unreleased]' section"
fi

# README: every find_package(tsq X.Y[.Z] ...) must be satisfied by v (same minor before 1.0,
# same major after, and not newer than v).
readme_reqs=$(grep -o 'find_package(tsq [0-9][0-9.]*' "$top/README.md" | awk '{print $2}' | sort -u)
for r in $readme_reqs; do
  IFS=. read -r rmaj rmin rpat <<<"$r"
  rmin=${rmin:-0} rpat=${rpat:-0}
  if [ "$rmaj" != "$major" ] || { [ "$major" = 0 ] && [ "$rmin" != "$minor" ]; } ||
     [ "$(printf '%s\n%s\n' "$rmaj.$rmin.$rpat" "$v" | sort -V | tail -1)" != "$v" ]; then
    fail "README.md shows find_package(tsq $r), which tsq $v does not satisfy"
  fi
done

echo "version: $v in tsq.h (TSQ_VERSION_STRING too), the CMake package and tsq.pc;" \
     "CHANGELOG.md: $section; README find_package: ${readme_reqs//$'\n'/ } ok"
