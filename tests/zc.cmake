# SPDX-License-Identifier: BSD-2-Clause
# Zerocopy completion ranges (include/tsq/zc.h): unit, stress, fuzz-replay and libFuzzer tests.
# Included from tests/CMakeLists.txt.
#
#   test_zc                 Criterion unit tests (label unit; memcheck.test_zc with TSQ_VALGRIND)
#   stress.zc               a sender, completion threads and a reader on one flow, exact
#                           accounting of every id (label stress), default merge policy
#   stress.zc_ignore_copied the same with TSQ_ZC_MERGE_IGNORE_COPIED (the kernel's merge)
#   zc_fuzz_replay          the fuzz target fed 20000 deterministic pseudo-random inputs
#                           (label unit; memcheck.zc_fuzz_replay with TSQ_VALGRIND)
#   fuzz.zc                 libFuzzer, Clang only, -DTSQ_FUZZ=ON (label fuzz):
#       CC=clang cmake -S . -B build-fuzz -DTSQ_FUZZ=ON -DTSQ_BUILD_BENCH=OFF -DTSQ_BUILD_EXAMPLES=OFF
#       cmake --build build-fuzz -j && ctest --test-dir build-fuzz -L fuzz -R zc --output-on-failure
#     TSQ_FUZZ_SECONDS (20 by default) per run; longer on demand: -DTSQ_FUZZ_SECONDS=600

tsq_add_unit_test(test_zc ${CMAKE_CURRENT_LIST_DIR}/unit/test_zc.c)

# Stress sizes: <sends> <completion threads> <reserve contexts> <pin limit in pages> <policy>.
# About 2-5 s each in Debug on 2 busy cores; ThreadSanitizer runs ~10x slower: fewer sends.
if(TSQ_SANITIZE MATCHES "thread")
  set(_tsq_zc_sends 200000)
else()
  set(_tsq_zc_sends 600000)
endif()
tsq_add_stress_test(stress.zc ${CMAKE_CURRENT_LIST_DIR}/stress/zc.c
                    ARGS ${_tsq_zc_sends} 3 64 600 exact)
add_test(NAME stress.zc_ignore_copied COMMAND stress.zc ${_tsq_zc_sends} 3 16 200 ignore)
set_tests_properties(stress.zc_ignore_copied PROPERTIES LABELS stress TIMEOUT 600)

# The fuzz target's replay driver (same source, TSQ_FUZZ_REPLAY_MAIN): gcc, valgrind and the
# sanitizer builds run the reference-model check too.
add_executable(zc_fuzz_replay ${CMAKE_CURRENT_LIST_DIR}/fuzz/zc_fuzz.c)
target_compile_definitions(zc_fuzz_replay PRIVATE TSQ_FUZZ_REPLAY_MAIN=1)
target_link_libraries(zc_fuzz_replay PRIVATE tsq::tsq Threads::Threads)
target_compile_options(zc_fuzz_replay PRIVATE ${TSQ_WARNINGS})
add_test(NAME zc_fuzz_replay COMMAND zc_fuzz_replay 20000)
set_tests_properties(zc_fuzz_replay PROPERTIES LABELS unit TIMEOUT 300)
if(TSQ_VALGRIND)
  find_program(VALGRIND valgrind REQUIRED)
  add_test(NAME memcheck.zc_fuzz_replay
           COMMAND ${VALGRIND} --tool=memcheck --error-exitcode=99 --leak-check=full
                   --errors-for-leak-kinds=definite --track-origins=yes --quiet
                   $<TARGET_FILE:zc_fuzz_replay> 3000)
  set_tests_properties(memcheck.zc_fuzz_replay PROPERTIES LABELS memcheck TIMEOUT 900)
endif()

# libFuzzer. The options may already exist (owner.cmake defines them too): define only once.
if(NOT DEFINED TSQ_FUZZ)
  option(TSQ_FUZZ "Build the libFuzzer targets (Clang only; label fuzz)" OFF)
endif()
if(NOT DEFINED TSQ_FUZZ_SECONDS)
  set(TSQ_FUZZ_SECONDS 20 CACHE STRING "Seconds per libFuzzer run of ctest -L fuzz (e.g. 600)")
endif()
if(TSQ_FUZZ AND CMAKE_C_COMPILER_ID STREQUAL "Clang")
  add_executable(zc_fuzz ${CMAKE_CURRENT_LIST_DIR}/fuzz/zc_fuzz.c)
  target_link_libraries(zc_fuzz PRIVATE tsq::tsq Threads::Threads)
  target_compile_options(zc_fuzz PRIVATE ${TSQ_WARNINGS} -g -fno-omit-frame-pointer
                         -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_link_options(zc_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
  set(_tsq_zc_corpus ${CMAKE_CURRENT_BINARY_DIR}/zc_fuzz_corpus)
  file(MAKE_DIRECTORY ${_tsq_zc_corpus})
  add_test(NAME fuzz.zc
           COMMAND zc_fuzz -max_total_time=${TSQ_FUZZ_SECONDS} -seed=1 -max_len=4096
                   -print_final_stats=1 ${_tsq_zc_corpus})
  set_tests_properties(fuzz.zc PROPERTIES LABELS fuzz TIMEOUT 0)
elseif(TSQ_FUZZ)
  message(STATUS "TSQ_FUZZ: zc_fuzz needs Clang (CMAKE_C_COMPILER_ID=${CMAKE_C_COMPILER_ID}); "
                 "only zc_fuzz_replay is built")
endif()
