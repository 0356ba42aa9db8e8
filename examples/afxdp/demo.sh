#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# demo.sh TSQ_XSK [OUT_JSON] - the AF_XDP figures of `make demo`, over a veth pair with two
# queues in two namespaces; the peer is a counting XDP_DROP program (tsq-xsk sink).
#   1. 8 bulk flows and a probe, one queue: `tsq-xsk matrix --qdisc both` - per round the
#      bare sender (one socket, one loop, no engine; frames built once, then built per send),
#      then TSQ off, TSQ, BQL, TSQ+BQL with the worker's FIFO, TSQ+BQL with its per-flow round
#      robin (fq), TSQ+BQL with frames written by the worker (--build-on both: TSQ+BQL/wb);
#      min..max over the rounds of each figure and of the same-round ratios.
#   2. the same on two queues (two workers; the bare sender uses queue 0 only), fq only.
#   3. one bulk flow, zerocopy (-z on), BQL off: TSQ off / on, notices per send
# Writes every run to OUT_JSON: {"schema":1,"runs":[...]}, each run with "tsq", "bql",
# "bare", "zerocopy", "build_per_send" (booleans), "qdisc", "build_on", "bulk_flows", "queues", "round",
# "config", "probe_queue_wait".
# Environment: TSQ_DEMO_SECONDS (per run, default 1), TSQ_DEMO_ROUNDS (default 3).
# Needs root; exits 77 with the reason otherwise. Cleans up the test bed on any exit.
set -uo pipefail
XSK=${1:?path to tsq-xsk}
OUT=${2:-build/afxdp-demo.json}
HERE=$(cd "$(dirname "$0")" && pwd)
export TSQ_NS_A=tsqd$$-a TSQ_NS_B=tsqd$$-b TSQ_IF_A=tsqd${$}a0 TSQ_IF_B=tsqd${$}b0
DURATION=${TSQ_DEMO_SECONDS:-1}
ROUNDS=${TSQ_DEMO_ROUNDS:-3}
FLOWS=8

[[ $(id -u) -eq 0 ]] || { echo "AF_XDP demo skipped: needs root (network namespaces, XDP)"; exit 77; }
command -v jq >/dev/null || { echo "AF_XDP demo skipped: jq is not installed"; exit 77; }
SINK_PID=
TMP=$(mktemp -d)
cleanup() {
	[[ -n $SINK_PID ]] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
	"$HERE/testbed.sh" down >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT
"$HERE/testbed.sh" up --queues 2 >/dev/null || { echo "AF_XDP demo skipped: cannot create the veth test bed"; exit 77; }
A() { ip netns exec "$TSQ_NS_A" "$XSK" "$@"; }
ip netns exec "$TSQ_NS_B" "$XSK" sink -i "$TSQ_IF_B" -d $((ROUNDS * 20 * DURATION + 60)) \
	--ready-file "$TMP/ready" >"$TMP/sink.log" 2>&1 &
SINK_PID=$!
for _ in $(seq 50); do [[ -f $TMP/ready ]] && break; sleep 0.1; done
[[ -f $TMP/ready ]] || { echo "AF_XDP demo: the sink did not start: $(cat "$TMP/sink.log")"; exit 1; }

echo "veth pair in two namespaces, 80-byte IPv6/UDP frames, ${DURATION}s per run, peer: XDP_DROP;"
echo "probe: 5000 frames/s, latency = TX ring -> completion (send p99: + the flow's queue and the worker's queues);"
echo "qwait: the most frames of other flows a probe frame waited behind in the worker"
echo
echo "$FLOWS bulk flows, 1 queue, $ROUNDS rounds (bare, bare+build, TSQ off, TSQ, BQL, TSQ+BQL/fifo, TSQ+BQL,"
echo "TSQ+BQL/wb in each; /wb: the worker writes each frame just before the TX ring):"
echo "  (running: $((ROUNDS * 8)) runs of ${DURATION} s, about $((ROUNDS * 8 * (DURATION + 1))) s)"
A matrix -i "$TSQ_IF_A" --bulk-flows "$FLOWS" --rounds "$ROUNDS" -d "$DURATION" --qdisc both --build-on both --quiet \
	--json-file "$TMP/q1.json" || exit 1
echo
R2=$((ROUNDS > 2 ? 2 : ROUNDS))
echo "$FLOWS bulk flows, 2 queues (2 workers; the bare sender: queue 0 only), $R2 rounds:"
echo "  (running: $((R2 * 6)) runs of ${DURATION} s, about $((R2 * 6 * (DURATION + 1))) s)"
A matrix -i "$TSQ_IF_A" --queues 2 --bulk-flows "$FLOWS" --rounds "$R2" \
	-d "$DURATION" --quiet --json-file "$TMP/q2.json" || exit 1
echo
echo "1 bulk flow, zerocopy (-z on), BQL off, TSQ off / on: does TSQ cut the notices per send?"
A compare -i "$TSQ_IF_A" -d "$DURATION" --quiet -z on --bql off --json-file "$TMP/zc.json" | grep -E "Mpps|p99 us|ratio" || exit 1
echo "zerocopy notices per send, TSQ off / on: $(jq -r '[.runs[].zc_notices_per_send] | map(tostring) | join(" / ")' "$TMP/zc.json")"
jq -s '{schema: 1, runs: (map(.runs) | add)}' "$TMP/q1.json" "$TMP/q2.json" "$TMP/zc.json" >"$OUT" || exit 1
echo "JSON of every run ($(jq '.runs | length' "$OUT") runs): $OUT"
