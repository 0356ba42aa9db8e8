#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# `make demo`: install what is missing, build the demo's programs in Release, then the headline
# tables, side by side with the peers. One line per setup stage (full output in build/*.log,
# its tail printed when a stage fails), then:
#   1. AF_XDP over a veth pair: probe latency next to 8 bulk flows, TSQ/BQL off/on, the bare
#      sender as the throughput anchor, 1 and 2 queues (root only)
#   2. TCP Small Queues against bufferbloat, simulated (seed 000)
#   3. backlog residency with and without mid-operation flushes (seed 003)
#   4. lock-less hand-off (1..nproc-1 producers) and remote free (seed 002) vs the peers
#   5. stacks: lwIP and ngtcp2 vendoring tsq (examples/stacks/demo.sh, when it is there)
# Environment: JOBS (build jobs, default nproc), TSQ_DEMO_SECONDS, TSQ_DEMO_ROUNDS (AF_XDP).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
B=build
jobs=${JOBS:-$(nproc)}
start=$(date +%s)
mkdir -p "$B"

# stage NAME LOG COMMAND...: one line "  NAME  ok (N s)"; on failure the log's tail, exit 1.
stage() {
	local name=$1 log=$2 t0 rc
	shift 2
	t0=$(date +%s)
	printf '  %-34s' "$name"
	"$@" >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAILED ($(($(date +%s) - t0)) s); the last 30 lines of $log:"
		tail -n 30 "$log" | sed 's/^/    /'
		exit 1
	fi
	echo "ok ($(($(date +%s) - t0)) s)"
}

# The demo's programs only (not the tests), those this configuration has (tsq-xsk needs libxdp,
# libbpf and liburcu; tsq-bench Google Benchmark).
build_programs() {
	local targets=() t have

	have=$(cmake --build "$B" --target help)
	for t in tsq-bench tsq-sim-bufferbloat tsq-backlog-latency tsq-xsk tsq-lwip tsq-quic; do
		grep -q " $t\$" <<<"$have" && targets+=("$t")
	done
	cmake --build "$B" -j"$jobs" --target "${targets[@]}"
}

# A demo program, or one line saying it was not built.
run_bin() {
	if [ -x "$1" ]; then
		"$1" || exit 1
	else
		echo "skipped: $1 was not built (see $B/configure.log)"
	fi
}

echo "tsq demo on $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "setup (full output in $B/*.log):"
printf '  %-34s' "dependencies (apt-get)"
if deps=$(bash scripts/install-deps.sh --log "$B/deps.log" 2>&1); then
	echo "ok: ${deps#deps: }"
else
	echo "FAILED"
	echo "$deps" | sed 's/^/    /'
	exit 1
fi
stage "configure (Release)" "$B/configure.log" \
	cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -Wno-dev
stage "build the demo's programs (-j$jobs)" "$B/build.log" build_programs
echo "(short runs on this machine; figures recorded on a quiet one are in bench/RESULTS.md)"

echo
echo "### 1. AF_XDP: a probe next to 8 bulk flows: TSQ, BQL (byte queue limits), both, and a bare sender"
xsk=$B/examples/afxdp/tsq-xsk
if [ ! -x "$xsk" ]; then
	echo "skipped: $xsk was not built (libxdp-dev, libbpf-dev, liburcu-dev missing?)"
elif [ "$(id -u)" -ne 0 ]; then
	echo "skipped: needs root (network namespaces and XDP); run 'sudo make demo' for this part"
else
	rc=0
	bash examples/afxdp/demo.sh "$xsk" "$B/afxdp-demo.json" || rc=$?
	[ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || { echo "demo: the AF_XDP run failed ($rc)" >&2; exit 1; }
fi

echo
echo "### 2. TCP Small Queues: bytes below a bulk flow and a probe's queueing delay (simulated link)"
run_bin "$B/bench/tsq-sim-bufferbloat"

echo
echo "### 3. Backlog residency: owner in a 1 MB operation, a producer delivering every few µs"
run_bin "$B/bench/tsq-backlog-latency"

echo
echo "### 4. Hand-off and remote free"
if [ -x "$B/bench/tsq-bench" ]; then
	bash bench/demo.sh "$B/bench/tsq-bench" || exit 1
else
	echo "skipped: $B/bench/tsq-bench was not built (libbenchmark-dev missing?)"
fi

echo
echo "### 5. Stacks vendoring tsq: lwIP (TCP) and ngtcp2 (QUIC) beside the kernel's TCP, through a 20/100 Mbit/s tbf"
if [ -f examples/stacks/demo.sh ]; then
	bash examples/stacks/demo.sh "$B" "$B/stacks-demo.json" || exit 1
else
	echo "skipped: examples/stacks/demo.sh is not in this tree"
fi

echo
echo "demo finished in $(($(date +%s) - start)) s"
