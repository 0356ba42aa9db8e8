# SPDX-License-Identifier: BSD-2-Clause
# tsq-backlog-latency: the wait of work in a tsq_owner backlog during a long operation, with no
# flush, a flush every 64 KiB (the seed) and every 16 x 64 KiB (today's kernel). Plain C,
# libc only. Results and command lines: bench/RESULTS.md ("Owner backlog latency").
# include()d from bench/CMakeLists.txt; expects tsq::tsq and TSQ_WARNINGS.
add_executable(tsq-backlog-latency ${CMAKE_CURRENT_LIST_DIR}/backlog_latency.c)
target_include_directories(tsq-backlog-latency PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../common)
target_link_libraries(tsq-backlog-latency PRIVATE tsq::tsq Threads::Threads m)
target_compile_options(tsq-backlog-latency PRIVATE ${TSQ_WARNINGS})
# A short run that only checks the program works and loses nothing (no timing is asserted).
add_test(NAME bench.backlog_latency.smoke COMMAND tsq-backlog-latency --quick --json)
set_tests_properties(bench.backlog_latency.smoke PROPERTIES LABELS unit TIMEOUT 120)
