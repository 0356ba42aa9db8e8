#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Check that the C sources follow .clang-format (clang-format 14 or newer), without changing
# them: every file clang-format would rewrite is listed with the lines, exit 1 if any.
#   scripts/format-check.sh            check include/ tests/ bench/ examples/ and *.c *.h at the top
#   scripts/format-check.sh FILE...    check these files only
#   CLANG_FORMAT=clang-format-17 ...   use another binary
# To apply the format: the same file list through `clang-format -i`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
cf=${CLANG_FORMAT:-}
if [ -z "$cf" ]; then
  for c in clang-format clang-format-14 clang-format-15 clang-format-16 clang-format-17 clang-format-18; do
    command -v "$c" >/dev/null && { cf=$c; break; }
  done
fi
[ -n "$cf" ] || { echo "format-check: clang-format missing (apt-get install clang-format)"; exit 1; }
major=$("$cf" --version | sed -n 's/.*version \([0-9]*\).*/\1/p')
[ "${major:-0}" -ge 14 ] || { echo "format-check: $cf is version $major, need 14 or newer"; exit 1; }
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <({ find include tests bench examples -type f \
                           \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \);
                         find . -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \); } |
                       sed 's|^\./||' | LC_ALL=C sort)
fi
bad=0
for f in "${files[@]}"; do
  "$cf" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || { echo "format: $f"; bad=$((bad + 1)); }
done
if [ $bad -ne 0 ]; then
  echo "format-check: $bad of ${#files[@]} files differ from .clang-format ($cf);" \
       "see one with: $cf --style=file --dry-run FILE"
  exit 1
fi
echo "format-check: ${#files[@]} files follow .clang-format ($cf)"
