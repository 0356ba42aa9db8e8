# SPDX-License-Identifier: BSD-2-Clause
# Owner lock with backlog (include/tsq/owner.h): unit, stress, fuzz-replay and libFuzzer tests.
# Included from tests/CMakeLists.txt.
#
#   unit.owner              Criterion unit tests, executable test_owner (label unit;
#                           memcheck.unit.owner with TSQ_VALGRIND)
#   stress.owner            producers x owners on a few objects, exact accounting (label stress)
#   replay.owner            the fuzz target fed 20000 deterministic pseudo-random inputs,
#                           executable owner_fuzz_replay (the first 5000 under valgrind: ~10 s)
#                           (label unit; memcheck.replay.owner with TSQ_VALGRIND)
#   fuzz.owner              libFuzzer, Clang only, -DTSQ_FUZZ=ON (label fuzz):
#       CC=clang cmake -S . -B build-fuzz -DTSQ_FUZZ=ON -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF
#       cmake --build build-fuzz -j && ctest --test-dir build-fuzz -L fuzz --output-on-failure
#     20 s by default; longer on demand: -DTSQ_FUZZ_SECONDS=600. The corpus grows in
#     <build>/tests/owner_fuzz_corpus; a crash file is replayed (in any build) with
#       owner_fuzz_replay crash-<sha1>

tsq_add_unit_test(test_owner unit/test_owner.c)

# Stress sizes: <producers> <owners> <objects> <items per producer> <acquisitions per owner>.
# ThreadSanitizer runs slower (up to ~10x): half the items keep it in the same time budget.
if(TSQ_SANITIZE MATCHES "thread")
  set(_tsq_owner_stress_args 3 3 2 500000 25000)
else()
  set(_tsq_owner_stress_args 3 3 2 1000000 50000)
endif()
tsq_add_stress_test(stress.owner stress/owner.c
                    ARGS ${_tsq_owner_stress_args})

# Fuzzing against a reference model (replay driver always; libFuzzer with TSQ_FUZZ).
tsq_add_fuzz(owner_fuzz fuzz/owner_fuzz.c 20000 5000)
