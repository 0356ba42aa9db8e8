#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# demo.sh [BUILD_DIR] [OUT_JSON] - the stacks' part of `make demo`: each stack example that was
# built (tsq-lwip; tsq-quic) runs its bulk flows and probe through a tbf, tsq off and on, beside
# the kernel's TCP, for 1 and 4 bulk flows at 20 and 100 Mbit/s; then per stack and case the
# same-round ratios, median [min..max] over the rounds. All runs go to OUT_JSON (default
# build/stacks-demo.json): {"schema":1,"runs":[...]}, each run with "source" (the command).
# Environment: TSQ_DEMO_ROUNDS (default 5), TSQ_DEMO_STACK_SECONDS (probe window per row,
# default 2). Needs root (network namespaces): one line and exit 0 otherwise.
set -uo pipefail
BUILD=${1:-build}
OUT=${2:-$BUILD/stacks-demo.json}
ROUNDS=${TSQ_DEMO_ROUNDS:-5}
SECONDS_=${TSQ_DEMO_STACK_SECONDS:-2}

[[ $(id -u) -eq 0 ]] || { echo "stacks demo skipped: needs root (network namespaces, tbf)"; exit 0; }
bins=()
for b in "$BUILD/examples/lwip/tsq-lwip" "$BUILD/examples/ngtcp2/tsq-quic"; do
	[[ -x $b ]] && bins+=("$b")
done
[[ ${#bins[@]} -gt 0 ]] || { echo "stacks demo skipped: no stack example was built (liblwip-dev?)"; exit 0; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
rc=0
for bin in "${bins[@]}"; do
	name=${bin##*/}
	for mbit in 20 100; do
		for flows in 1 4; do
			echo "## $name: $flows bulk flow(s), $mbit Mbit/s, $ROUNDS rounds"
			"$bin" --link-mbit "$mbit" --bulk-flows "$flows" --rounds "$ROUNDS" \
				--seconds "$SECONDS_" --tsq both --json "$TMP/$name-$(printf %04d "$mbit")-$flows.json" |
				sed -n '/^same-round/,$p'
			[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "demo: $name failed" >&2; rc=1; }
		done
	done
done
python3 - "$OUT" "$TMP"/*.json <<'PY'
import json, os, statistics, sys
out, files = sys.argv[1], sys.argv[2:]
runs, lines = [], []
for f in files:
    src = os.path.basename(f).split("-")[0] + "-" + os.path.basename(f).split("-")[1]
    rs = json.load(open(f))["runs"]
    for r in rs:
        r["source"] = src
    runs += rs
    by = {(r["stack"], r["tsq"], r["round"]): r for r in rs}
    stack = next((r["stack"] for r in rs if r["stack"] != "kernel"), None)
    ratios = {k: [] for k in ("p99 off/on", "goodput on/off", "p99 on/kernel", "goodput on/kernel")}
    for (s, tsq, rnd), on in by.items():
        if s != stack or not tsq:
            continue
        off, k = by.get((s, False, rnd)), by.get(("kernel", True, rnd))
        if off and on["probe_rtt_us_p99"] > 0:
            ratios["p99 off/on"].append(off["probe_rtt_us_p99"] / on["probe_rtt_us_p99"])
            ratios["goodput on/off"].append(on["goodput_mbit"] / max(off["goodput_mbit"], 1e-9))
        if k and k["probe_rtt_us_p99"] > 0:
            ratios["p99 on/kernel"].append(on["probe_rtt_us_p99"] / k["probe_rtt_us_p99"])
            ratios["goodput on/kernel"].append(on["goodput_mbit"] / max(k["goodput_mbit"], 1e-9))
    r0 = rs[0]
    cells = ["%s %.2f [%.2f..%.2f]" % (n, statistics.median(v), min(v), max(v))
             for n, v in ratios.items() if v]
    lines.append("%-6s %d flow(s) %3d Mbit/s: %s" % (stack, r0["bulk_flows"], r0["link_mbit"],
                                                    ", ".join(cells)))
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
json.dump({"schema": 1, "runs": runs}, open(out, "w"), indent=None)
print("\nsame-round ratios, median [min..max] (p99: probe round trip; tsq on/kernel: lower is better):")
print("\n".join(lines))
print("runs: %s" % out)
PY
exit $rc
