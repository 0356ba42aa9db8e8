# SPDX-License-Identifier: BSD-2-Clause
# Dynamic queue limits (include/tsq/dql.h): unit, model check, stress, fuzz-replay and
# libFuzzer tests. Included from tests/CMakeLists.txt.
#
#   unit.dql          Criterion unit tests, traces worked out by hand from the spec, executable
#                     test_dql (label unit; memcheck.unit.dql with TSQ_VALGRIND)
#   check.dql_model   every interleaving of the stop/restart race under x86-TSO, and its
#                     negative twins, which must fail (labels unit, check)
#   stress.dql        a sender and a completion thread over a simulated ring, exact
#                     accounting, no lost restart (label stress; run it in the TSan build)
#   replay.dql        the fuzz target fed 20000 deterministic pseudo-random inputs, executable
#                     dql_fuzz_replay (label unit; memcheck.replay.dql with TSQ_VALGRIND)
#   fuzz.dql          libFuzzer, Clang only, -DTSQ_FUZZ=ON (label fuzz):
#       CC=clang cmake -S . -B build-fuzz -DTSQ_FUZZ=ON -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF
#       cmake --build build-fuzz -j --target dql_fuzz && ctest --test-dir build-fuzz -R fuzz.dql

tsq_add_unit_test(test_dql unit/test_dql.c)

add_executable(check_dql_model check/dql_model.c)
target_link_libraries(check_dql_model PRIVATE tsq::tsq)
target_compile_options(check_dql_model PRIVATE ${TSQ_WARNINGS})
add_test(NAME check.dql_model COMMAND check_dql_model)
set_tests_properties(check.dql_model PROPERTIES LABELS "unit;check" TIMEOUT 120)

# stress.dql <bytes> <seed> <max batch>: ~1 s in Debug; TSan ~10x slower: fewer bytes.
# Batches of up to 16 objects, and of exactly 1 (a completion per object: most stops).
if(TSQ_SANITIZE MATCHES "thread")
  set(_tsq_dql_bytes 1000000000)
else()
  set(_tsq_dql_bytes 8000000000)
endif()
tsq_add_stress_test(stress.dql stress/dql.c ARGS ${_tsq_dql_bytes} 1 16)
tsq_add_stress_run(stress.dql_batch1 stress.dql ${_tsq_dql_bytes} 2 1)

tsq_add_fuzz(dql_fuzz fuzz/dql_fuzz.c 20000 3000)
