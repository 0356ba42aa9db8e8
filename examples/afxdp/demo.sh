#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# demo.sh TSQ_XSK [OUT_JSON] - the AF_XDP figure of `make demo`: a bulk flow and a probe flow
# (small frames at a fixed rate) over a veth pair, TSQ off (the bulk flow keeps the TX ring
# full) then on, side by side. The peer is a counting XDP_DROP program. Prints the table and
# writes {"runs":[{"tsq":false,...},{"tsq":true,...}]} (tsq-xsk compare --json) to OUT_JSON.
# Needs root; exits 77 with the reason otherwise. Cleans up the test bed on any exit.
set -uo pipefail
XSK=${1:?path to tsq-xsk}
OUT=${2:-build/afxdp-demo.json}
HERE=$(cd "$(dirname "$0")" && pwd)
export TSQ_NS_A=tsqd-a TSQ_NS_B=tsqd-b TSQ_IF_A=tsqda0 TSQ_IF_B=tsqdb0
DURATION=${TSQ_DEMO_SECONDS:-3}

[[ $(id -u) -eq 0 ]] || { echo "AF_XDP demo skipped: needs root (network namespaces, XDP)"; exit 77; }
SINK_PID=
cleanup() {
	[[ -n $SINK_PID ]] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
	"$HERE/testbed.sh" down >/dev/null 2>&1
}
trap cleanup EXIT
"$HERE/testbed.sh" up >/dev/null || { echo "AF_XDP demo skipped: cannot create the veth test bed"; exit 77; }
rm -f "$OUT.ready"
ip netns exec "$TSQ_NS_B" "$XSK" sink -i "$TSQ_IF_B" -d $((4 * DURATION + 30)) --ready-file "$OUT.ready" >"$OUT.sink" 2>&1 &
SINK_PID=$!
for _ in $(seq 50); do [[ -f $OUT.ready ]] && break; sleep 0.1; done
rm -f "$OUT.ready"
echo "veth pair in two namespaces, 80-byte IPv6/UDP frames, ${DURATION}s per run, peer: XDP_DROP"
ip netns exec "$TSQ_NS_A" "$XSK" compare -i "$TSQ_IF_A" -d "$DURATION" --quiet || exit 1
ip netns exec "$TSQ_NS_A" "$XSK" compare -i "$TSQ_IF_A" -d "$DURATION" --quiet --json -z on >"$OUT" || exit 1
echo "zerocopy (-z on) notices per send, TSQ off / on: $(jq -r '[.runs[].zc_notices_per_send] | map(tostring) | join(" / ")' "$OUT" 2>/dev/null || echo '(jq missing)')"
echo "JSON of the zerocopy comparison: $OUT"
