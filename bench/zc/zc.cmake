# SPDX-License-Identifier: BSD-2-Clause
# Zerocopy completion ranges (zc/...). include()d from bench/CMakeLists.txt (tsq-bench exists).
target_sources(tsq-bench PRIVATE ${CMAKE_CURRENT_LIST_DIR}/zc.c)

# zc/...: a few milliseconds per benchmark, only to check that each runs and that its
# notices add up to its sends (a failed check is an "ERROR OCCURRED" line, exit status 0).
add_test(NAME bench.zc.smoke
         COMMAND tsq-bench --benchmark_filter=^zc/ --benchmark_min_time=0.01)
set_tests_properties(bench.zc.smoke PROPERTIES LABELS unit TIMEOUT 120
                     FAIL_REGULAR_EXPRESSION "ERROR OCCURRED")
