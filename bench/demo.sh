#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
#
# bench/demo.sh BINARY - the short side-by-side run behind `make demo`: the cache-line
# calibration, every hand-off and remote-free benchmark at 0.1 s each, then the tables.
# Well under 2 minutes on a 2-core machine; more producers on bigger ones. Prints the
# tables only; Google Benchmark's own output (one line per benchmark, the machine's context)
# goes to DIR/demo.log beside BINARY.
#
# GLIBC_TUNABLES: libjemalloc.so needs more static TLS than glibc reserves for dlopen();
# without it remote_free/jemalloc is skipped with a message saying so.
set -uo pipefail
bin=${1:-build/bench/tsq-bench}
if [ ! -x "$bin" ]; then
	echo "demo.sh: $bin is not an executable (build with -DTSQ_BUILD_BENCH=ON first)" >&2
	exit 1
fi
log=$(dirname "$bin")/demo.log
GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.rtld.optional_static_tls=16384}
export GLIBC_TUNABLES
printf '  (running every benchmark for 0.1 s, about a minute; each one'"'"'s line: %s)' "$log"
[ -t 1 ] && printf '\r' || printf '\n'
"$bin" --benchmark_filter='^(calibrate|handoff|remote_free)/' --benchmark_min_time=0.1 \
	--tsq_tables >"$log" 2>&1
rc=$?
[ -t 1 ] && printf '%100s\r' ''
if [ $rc -ne 0 ]; then
	echo "demo.sh: $bin failed ($rc); the last 30 lines of $log:" >&2
	tail -n 30 "$log" >&2
	exit $rc
fi
# Debian's libbenchmark is built without NDEBUG, and Google Benchmark then calls itself a
# DEBUG build in a warning; tsq's own code here is built Release.
if grep -q '^\*\*\*WARNING\*\*\* Library was built as DEBUG' "$log"; then
	echo "note: Google Benchmark's library (Debian's build) says it was built as DEBUG; the benchmarks themselves are Release"
fi
load=$(sed -n 's/^Load Average: //p' "$log")
[ -n "$load" ] && echo "load average when the run started: $load"
# The tables: everything after the last line of a benchmark's own result.
awk '/^(calibrate|handoff|remote_free)\// { last = NR } { line[NR] = $0 }
	END { for (i = last + 1; i <= NR; i++) print line[i] }' "$log"
