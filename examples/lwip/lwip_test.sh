#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# lwip_test.sh CASE TSQ_LWIP
#   bytes     (root) lwIP through the namespaces, tsq off and on: every byte of two bulk flows
#             reaches the kernel's sink in order and checked by content, each flow closes with
#             a FIN, the probe's echoes match, tsq on throttled and restarted; under valgrind
#             (no definite leak, no error) when it is installed and the build is not sanitized
#   cli       bad option values exit 2 naming the option (no privilege needed)
# Correctness only: no timing is asserted.
set -u
case_=$1 bin=$2

if [ "$case_" = cli ]; then
	for bad in "--link-mbit 0" "--bulk-flows 17" "--tsq maybe" "--seconds x" "--rounds 0" "--json"; do
		err=$("$bin" $bad 2>&1 >/dev/null); rc=$?
		opt=${bad%% *}
		[ $rc = 2 ] && [[ $err == *"$opt"* ]] || { echo "FAIL: '$bad' gave rc $rc: $err"; exit 1; }
	done
	echo "ok: bad values exit 2 naming the option"
	exit 0
fi

[ "$(id -u)" = 0 ] || { echo "lwip.$case_: skipped: needs root (network namespaces, tbf)"; exit 77; }
for t in /usr/sbin/tc /usr/sbin/ethtool /usr/sbin/ip /usr/bin/nsenter; do
	[ -x $t ] || { echo "lwip.$case_: skipped: ${t##*/} missing"; exit 77; }
done
run=()
if [ -z "${TSQ_LWIP_NO_VALGRIND:-}" ] && command -v valgrind >/dev/null; then
	run=(valgrind -q --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite
		--show-leak-kinds=definite)
fi
json=$(mktemp)
trap 'rm -f "$json"' EXIT
bytes=1000000
"${run[@]}" "$bin" --link-mbit 100 --bulk-flows 2 --bulk-bytes $bytes --seconds 0.5 --tsq both \
	--no-kernel --json "$json"
rc=$?
[ $rc = 0 ] || { echo "FAIL: tsq-lwip exit $rc"; exit 1; }
python3 - "$json" $((2 * bytes)) <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
want = int(sys.argv[2])
assert len(runs) == 2, runs
for r in runs:
    assert r["stack"] == "lwip" and not r["failed"], r
    assert r["sink_bytes"] == want and r["bad_bytes"] == 0, r
    assert r["probe_samples"] > 0 and r["probe_errors"] == 0, r
on = [r for r in runs if r["tsq"]][0]
assert on["throttles"] > 0 and on["restarts"] > 0, on
print("ok: %d bytes in order, clean closes, tsq on: %d throttles, %d restarts" %
      (want, on["throttles"], on["restarts"]))
PY
