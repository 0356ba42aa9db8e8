#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# `make demo` (after `make build`): the headline figures, side by side with the peers.
#   1. AF_XDP over a veth pair: probe latency next to 8 bulk flows, TSQ/BQL off/on, the bare
#      sender as the throughput anchor, 1 and 2 queues (root only)
#   2. TCP Small Queues against bufferbloat, simulated (seed 000)
#   3. backlog residency with and without mid-operation flushes (seed 003)
#   4. lock-less hand-off (1..nproc-1 producers) and remote free (seed 002) vs the peers
set -euo pipefail
cd "$(dirname "$0")/.."
b=build/bench
for bin in tsq-bench tsq-sim-bufferbloat tsq-backlog-latency; do
  [ -x "$b/$bin" ] || { echo "demo: $b/$bin is missing; run 'make build' first" >&2; exit 1; }
done
echo "tsq demo on $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "(short runs: for recorded figures see bench/RESULTS.md)"
echo
echo "### 1. AF_XDP: a probe next to 8 bulk flows: TSQ, BQL (byte queue limits), both, and a bare sender"
xsk=build/examples/afxdp/tsq-xsk
if [ ! -x "$xsk" ]; then
  echo "skipped: $xsk was not built (libxdp-dev, libbpf-dev, liburcu-dev missing?)"
elif [ "$(id -u)" -ne 0 ]; then
  echo "skipped: needs root (network namespaces and XDP); run 'sudo make demo' for this part"
else
  rc=0
  bash examples/afxdp/demo.sh "$xsk" build/afxdp-demo.json || rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || { echo "demo: the AF_XDP run failed ($rc)" >&2; exit 1; }
fi
echo
echo "### 2. TCP Small Queues: bytes below a bulk flow and a probe's queueing delay (simulated link)"
"$b/tsq-sim-bufferbloat"
echo
echo "### 3. Backlog residency: owner in a 1 MB operation, a producer delivering every few µs"
"$b/tsq-backlog-latency"
echo
echo "### 4. Hand-off and remote free"
bash bench/demo.sh "$b/tsq-bench"
