#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# `make demo` (after `make build`): the headline figures, side by side with the peers.
# Today: lock-less hand-off (1..nproc-1 producers) and remote free (seed 002).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bench/tsq-bench
[ -x "$bin" ] || { echo "demo: $bin is missing; run 'make build' first" >&2; exit 1; }
echo "tsq demo on $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "(short runs: for recorded figures see bench/RESULTS.md)"
bash bench/demo.sh "$bin"
