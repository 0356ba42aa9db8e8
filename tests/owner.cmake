# SPDX-License-Identifier: BSD-2-Clause
# Owner lock with backlog (include/tsq/owner.h): unit, stress, fuzz-replay and libFuzzer tests.
# Included from tests/CMakeLists.txt.
#
#   test_owner              Criterion unit tests (label unit; memcheck.test_owner with TSQ_VALGRIND)
#   stress.owner            producers x owners on a few objects, exact accounting (label stress)
#   owner_fuzz_replay       the fuzz target fed 20000 deterministic pseudo-random inputs
#                           (the first 5000 under valgrind: ~10 s)
#                           (label unit; memcheck.owner_fuzz_replay with TSQ_VALGRIND)
#   fuzz.owner              libFuzzer, Clang only, -DTSQ_FUZZ=ON (label fuzz):
#       CC=clang cmake -S . -B build-fuzz -DTSQ_FUZZ=ON -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF
#       cmake --build build-fuzz -j && ctest --test-dir build-fuzz -L fuzz --output-on-failure
#     20 s by default; longer on demand: -DTSQ_FUZZ_SECONDS=600. The corpus grows in
#     <build>/tests/owner_fuzz_corpus; a crash file is replayed (in any build) with
#       owner_fuzz_replay crash-<sha1>

tsq_add_unit_test(test_owner ${CMAKE_CURRENT_LIST_DIR}/unit/test_owner.c)

# Stress sizes: <producers> <owners> <objects> <items per producer> <acquisitions per owner>.
# ThreadSanitizer runs slower (up to ~10x): half the items keep it in the same time budget.
if(TSQ_SANITIZE MATCHES "thread")
  set(_tsq_owner_stress_args 3 3 2 500000 25000)
else()
  set(_tsq_owner_stress_args 3 3 2 1000000 50000)
endif()
tsq_add_stress_test(stress.owner ${CMAKE_CURRENT_LIST_DIR}/stress/owner.c
                    ARGS ${_tsq_owner_stress_args})

# The fuzz target's replay driver: the same source with a main() that feeds it deterministic
# inputs, so gcc builds, valgrind and the sanitizer builds run the reference-model check too.
add_executable(owner_fuzz_replay ${CMAKE_CURRENT_LIST_DIR}/fuzz/owner_fuzz.c)
target_compile_definitions(owner_fuzz_replay PRIVATE TSQ_FUZZ_REPLAY_MAIN=1)
target_link_libraries(owner_fuzz_replay PRIVATE tsq::tsq Threads::Threads)
target_compile_options(owner_fuzz_replay PRIVATE ${TSQ_WARNINGS})
add_test(NAME owner_fuzz_replay COMMAND owner_fuzz_replay 20000)
set_tests_properties(owner_fuzz_replay PROPERTIES LABELS unit TIMEOUT 300)
if(TSQ_VALGRIND)
  find_program(VALGRIND valgrind REQUIRED)
  add_test(NAME memcheck.owner_fuzz_replay
           COMMAND ${VALGRIND} --tool=memcheck --error-exitcode=99 --leak-check=full
                   --errors-for-leak-kinds=definite --track-origins=yes --quiet
                   $<TARGET_FILE:owner_fuzz_replay> 5000)
  set_tests_properties(memcheck.owner_fuzz_replay PROPERTIES LABELS memcheck TIMEOUT 900)
endif()

# libFuzzer. Configure this build without TSQ_SANITIZE: the target brings its own sanitizers.
if(NOT DEFINED TSQ_FUZZ)
  option(TSQ_FUZZ "Build the libFuzzer targets (Clang only; label fuzz)" OFF)
endif()
set(TSQ_FUZZ_SECONDS 20 CACHE STRING "Seconds per libFuzzer run of ctest -L fuzz (e.g. 600)")
if(TSQ_FUZZ AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
  if(TSQ_SANITIZE)
    message(WARNING "TSQ_FUZZ with TSQ_SANITIZE=${TSQ_SANITIZE}: configure the fuzz build "
                    "without TSQ_SANITIZE (the fuzz target sets its own sanitizers)")
  endif()
  add_executable(owner_fuzz ${CMAKE_CURRENT_LIST_DIR}/fuzz/owner_fuzz.c)
  target_link_libraries(owner_fuzz PRIVATE tsq::tsq Threads::Threads)
  target_compile_options(owner_fuzz PRIVATE ${TSQ_WARNINGS} -g -fno-omit-frame-pointer
                         -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_link_options(owner_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  set(_tsq_owner_corpus ${CMAKE_CURRENT_BINARY_DIR}/owner_fuzz_corpus)
  file(MAKE_DIRECTORY ${_tsq_owner_corpus})
  add_test(NAME fuzz.owner
           COMMAND owner_fuzz -max_total_time=${TSQ_FUZZ_SECONDS} -seed=1 -max_len=4096
                   -print_final_stats=1 ${_tsq_owner_corpus})
  math(EXPR _tsq_owner_fuzz_timeout "${TSQ_FUZZ_SECONDS} + 120")
  set_tests_properties(fuzz.owner PROPERTIES LABELS fuzz TIMEOUT ${_tsq_owner_fuzz_timeout})
elseif(TSQ_FUZZ)
  message(STATUS "TSQ_FUZZ: owner_fuzz needs Clang (CMAKE_C_COMPILER_ID=${CMAKE_C_COMPILER_ID}); "
                 "only owner_fuzz_replay is built")
endif()
