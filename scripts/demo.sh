#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# `make demo` (after `make build`): the headline figures, side by side with the peers.
#   1. lock-less hand-off (1..nproc-1 producers) and remote free (seed 002) vs the peers
#   2. TCP Small Queues against bufferbloat, simulated (seed 000)
#   3. backlog residency with and without mid-operation flushes (seed 003)
set -euo pipefail
cd "$(dirname "$0")/.."
b=build/bench
for bin in tsq-bench tsq-sim-bufferbloat tsq-backlog-latency; do
  [ -x "$b/$bin" ] || { echo "demo: $b/$bin is missing; run 'make build' first" >&2; exit 1; }
done
echo "tsq demo on $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "(short runs: for recorded figures see bench/RESULTS.md)"
echo
echo "### 1. Hand-off and remote free"
bash bench/demo.sh "$b/tsq-bench"
echo
echo "### 2. TCP Small Queues: bytes below a bulk flow and a probe's queueing delay (simulated link)"
"$b/tsq-sim-bufferbloat"
echo
echo "### 3. Backlog residency: owner in a 1 MB operation, a producer delivering every few µs"
"$b/tsq-backlog-latency"
