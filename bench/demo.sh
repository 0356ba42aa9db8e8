#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# bench/demo.sh BINARY - the short side-by-side run behind `make demo`: the cache-line
# calibration, every hand-off and remote-free benchmark at 0.1 s each, then the tables.
# Well under 2 minutes on a 2-core machine (about 15 s there); more producers on bigger ones.
#
# GLIBC_TUNABLES: libjemalloc.so needs more static TLS than glibc reserves for dlopen();
# without it remote_free/jemalloc is skipped with a message saying so.
set -eu
bin=${1:-build/bench/tsq-bench}
if [ ! -x "$bin" ]; then
	echo "demo.sh: $bin is not an executable (build with -DTSQ_BUILD_BENCH=ON first)" >&2
	exit 1
fi
GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.rtld.optional_static_tls=16384}
export GLIBC_TUNABLES
exec "$bin" --benchmark_filter='^(calibrate|handoff|remote_free)/' --benchmark_min_time=0.1 --tsq_tables
