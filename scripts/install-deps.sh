#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Installs what scripts/deps-debian.txt lists that is missing. As root it runs apt-get, its
# output in a log (--log FILE; default build/deps.log), and prints one line; otherwise it
# names what is missing and the command to install it, and fails. On failure the log's tail.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
log=$here/../build/deps.log
[ "${1:-}" = "--log" ] && log=${2:?--log FILE}
mapfile -t wanted < <(grep -v '^\s*#' "$here/deps-debian.txt" | sed '/^\s*$/d')

missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#wanted[@]} packages present"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "deps: missing ${missing[*]} and no apt-get here: install their equivalents by hand" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages: ${missing[*]}" >&2
  echo "deps: run as root, or install them first:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
mkdir -p "$(dirname "$log")"
t0=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-qq -o Dpkg::Progress-Fancy=0 -o APT::Color=0 -o Dpkg::Use-Pty=0)
if ! { apt-get "${apt_opts[@]}" update &&
       apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  echo "deps: installing ${#missing[@]} packages FAILED; the last 30 lines of $log:" >&2
  tail -n 30 "$log" | sed 's/^/    /' >&2
  exit 1
fi
echo "deps: installed ${#missing[@]} packages in $(($(date +%s) - t0)) s (log: $log)"
