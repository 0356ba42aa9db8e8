#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Every public header must compile on its own, as C11 and as C++17, with gcc and clang,
# warning-free under -Wall -Wextra -Wpedantic -Werror. Usage: check.sh <include-dir>
set -u
inc=${1:?usage: check.sh <include-dir>}
fail=0 checked=0
compilers_c=() compilers_cxx=()
for cc in gcc clang; do command -v $cc >/dev/null && compilers_c+=("$cc"); done
for cxx in g++ clang++; do command -v $cxx >/dev/null && compilers_cxx+=("$cxx"); done
if [ ${#compilers_c[@]} -eq 0 ] || [ ${#compilers_cxx[@]} -eq 0 ]; then
  echo "check.sh: need a C and a C++ compiler"; exit 1
fi
flags="-Wall -Wextra -Wpedantic -Werror"
for h in "$inc"/tsq/*.h; do
  rel=${h#"$inc"/}
  for cc in "${compilers_c[@]}"; do
    for std in c11 c17; do
      checked=$((checked + 1))
      if ! printf '#include <%s>\nint main(void) { return 0; }\n' "$rel" |
          $cc -std=$std $flags -I"$inc" -x c -c -o /dev/null -; then
        echo "FAIL: $rel as $std with $cc"; fail=$((fail + 1))
      fi
    done
  done
  for cxx in "${compilers_cxx[@]}"; do
    checked=$((checked + 1))
    if ! printf '#include <%s>\nint main() { return 0; }\n' "$rel" |
        $cxx -std=c++17 $flags -I"$inc" -x c++ -c -o /dev/null -; then
      echo "FAIL: $rel as c++17 with $cxx"; fail=$((fail + 1))
    fi
  done
done
# Private headers (include/tsq/bits/) are installed with the rest but never included
# directly: each must refuse to compile on its own (its #error names the public header).
for h in "$inc"/tsq/bits/*.h; do
  [ -e "$h" ] || continue
  rel=${h#"$inc"/}
  checked=$((checked + 1))
  if printf '#include <%s>\nint main(void) { return 0; }\n' "$rel" |
      ${compilers_c[0]} -std=c11 -I"$inc" -x c -c -o /dev/null - 2>/dev/null; then
    echo "FAIL: $rel compiles on its own (a private header must #error)"; fail=$((fail + 1))
  fi
done
echo "headers: $((checked - fail)) passed, $fail failed"
[ $fail -eq 0 ]
