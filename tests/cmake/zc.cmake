# SPDX-License-Identifier: BSD-2-Clause
# Zerocopy completion ranges (include/tsq/zc.h): unit, stress, fuzz-replay and libFuzzer tests.
# Included from tests/CMakeLists.txt.
#
#   unit.zc                 Criterion unit tests, executable test_zc (label unit;
#                           memcheck.unit.zc with TSQ_VALGRIND)
#   stress.zc               a sender, completion threads and a reader on one flow, exact
#                           accounting of every id (label stress), default merge policy
#   stress.zc_ignore_copied the same with TSQ_ZC_MERGE_IGNORE_COPIED (the kernel's merge)
#   replay.zc               the fuzz target fed 20000 deterministic pseudo-random inputs,
#                           executable zc_fuzz_replay (label unit; memcheck.replay.zc with
#                           TSQ_VALGRIND)
#   fuzz.zc                 libFuzzer, Clang only, -DTSQ_FUZZ=ON (label fuzz):
#       CC=clang cmake -S . -B build-fuzz -DTSQ_FUZZ=ON -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF
#       cmake --build build-fuzz -j && ctest --test-dir build-fuzz -L fuzz -R zc --output-on-failure
#     TSQ_FUZZ_SECONDS (20 by default) per run; longer on demand: -DTSQ_FUZZ_SECONDS=600

tsq_add_unit_test(test_zc unit/test_zc.c)

# Stress sizes: <sends> <completion threads> <reserve contexts> <pin limit in pages> <policy>.
# About 2-5 s each in Debug on 2 busy cores; ThreadSanitizer runs ~10x slower: fewer sends.
if(TSQ_SANITIZE MATCHES "thread")
  set(_tsq_zc_sends 200000)
else()
  set(_tsq_zc_sends 600000)
endif()
tsq_add_stress_test(stress.zc stress/zc.c
                    ARGS ${_tsq_zc_sends} 3 64 600 exact)
tsq_add_stress_run(stress.zc_ignore_copied stress.zc ${_tsq_zc_sends} 3 16 200 ignore)

# Fuzzing against a reference model (replay driver always; libFuzzer with TSQ_FUZZ).
tsq_add_fuzz(zc_fuzz fuzz/zc_fuzz.c 20000 3000)
