# SPDX-License-Identifier: BSD-2-Clause
# Helpers that give every test the same shape; labels drive `make test`:
#   unit      Criterion unit tests (also under valgrind with TSQ_VALGRIND: label memcheck)
#   stress    multi-threaded stress tests with exact accounting (also under TSan and ASan)
#   example   the programs in examples/
#   build     compile checks (standalone headers)
#
# Test names: <kind>.<subject>, the kind first, so that `ctest -R '^stress\.'` selects a kind
# and `ctest -R '\.zc'` a header (labels stay what scripts/test.sh selects by):
#   unit.<header>            Criterion (executable test_<header>)
#   stress.<header>[_<how>]  stress test (executable stress_<header> or stress.<header>)
#   check.<model>            exhaustive model check (executable check_<model>)
#   replay.<header>          fuzz target replaying deterministic inputs (executable <header>_fuzz_replay)
#   fuzz.<header>            libFuzzer (executable <header>_fuzz)
#   memcheck.<test>          <test> under valgrind, e.g. memcheck.unit.zc, memcheck.replay.zc
#   example.<program>, headers.standalone, bench.<scenario>.smoke, sim.<simulation>

# tsq_add_unit_test(test_<header> <source>...): a Criterion test executable; the test is
# unit.<header>.
function(tsq_add_unit_test name)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(CRITERION REQUIRED IMPORTED_TARGET criterion)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE tsq::tsq PkgConfig::CRITERION Threads::Threads)
  target_compile_options(${name} PRIVATE ${TSQ_WARNINGS})
  string(REGEX REPLACE "^test_" "unit." test ${name})
  add_test(NAME ${test} COMMAND ${name} --jobs=1)
  set_tests_properties(${test} PROPERTIES LABELS unit TIMEOUT 300)
  if(TSQ_VALGRIND)
    find_program(VALGRIND valgrind REQUIRED)
    # Criterion forks one child per test; valgrind follows forks. Any error fails the run.
    add_test(NAME memcheck.${test}
             COMMAND ${VALGRIND} --tool=memcheck --error-exitcode=99 --leak-check=full
                     --errors-for-leak-kinds=definite --track-origins=yes --quiet
                     $<TARGET_FILE:${name}> --jobs=1)
    set_tests_properties(memcheck.${test} PROPERTIES LABELS memcheck TIMEOUT 900)
  endif()
endfunction()

# tsq_add_stress_test(<name> <source>... [ARGS <arg>...]): a plain C program that exits 0 on
# success and prints its accounting. ARGS are passed on the command line. The executable is
# <name> (stress_<header>... or stress.<header>...); the test is stress.<header>...
function(tsq_add_stress_test name)
  cmake_parse_arguments(ST "" "" "ARGS" ${ARGN})
  add_executable(${name} ${ST_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE tsq::tsq Threads::Threads)
  target_compile_options(${name} PRIVATE ${TSQ_WARNINGS})
  string(REGEX REPLACE "^stress[._]" "stress." test ${name})
  tsq_add_stress_run(${test} ${name} ${ST_ARGS})
endfunction()

# tsq_add_stress_run(<test> <executable> <arg>...): one more run of a stress executable,
# with other arguments (same label and timeout as tsq_add_stress_test).
function(tsq_add_stress_run test exe)
  add_test(NAME ${test} COMMAND ${exe} ${ARGN})
  set_tests_properties(${test} PROPERTIES LABELS stress TIMEOUT 600)
endfunction()

# tsq_add_example(<name> <source>...): an example program, run as a test.
function(tsq_add_example name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE tsq::tsq Threads::Threads)
  target_compile_options(${name} PRIVATE ${TSQ_WARNINGS})
  add_test(NAME example.${name} COMMAND ${name})
  set_tests_properties(example.${name} PROPERTIES LABELS example TIMEOUT 120)
endfunction()

# libFuzzer options, shared by every fuzz target. Configure the fuzz build without
# TSQ_SANITIZE: the targets bring their own sanitizers.
option(TSQ_FUZZ "Build the libFuzzer targets (Clang only; label fuzz)" OFF)
set(TSQ_FUZZ_SECONDS 20 CACHE STRING "Seconds per libFuzzer run of ctest -L fuzz (e.g. 600)")

# tsq_add_fuzz(<header>_fuzz <source> <replay inputs> <memcheck inputs>): a fuzz target
# against a reference model. Always: the executable <header>_fuzz_replay (the source with
# TSQ_FUZZ_REPLAY_MAIN) as the test replay.<header> (label unit, plus memcheck.replay.<header>
# with TSQ_VALGRIND), so gcc and the sanitizer builds run the model check too. With TSQ_FUZZ
# and Clang: the libFuzzer target <header>_fuzz and fuzz.<header> (label fuzz).
function(tsq_add_fuzz name source replay_n memcheck_n)
  string(REGEX REPLACE "_fuzz$" "" short ${name})
  add_executable(${name}_replay ${source})
  target_compile_definitions(${name}_replay PRIVATE TSQ_FUZZ_REPLAY_MAIN=1)
  target_link_libraries(${name}_replay PRIVATE tsq::tsq Threads::Threads)
  target_compile_options(${name}_replay PRIVATE ${TSQ_WARNINGS})
  add_test(NAME replay.${short} COMMAND ${name}_replay ${replay_n})
  set_tests_properties(replay.${short} PROPERTIES LABELS unit TIMEOUT 300)
  if(TSQ_VALGRIND)
    find_program(VALGRIND valgrind REQUIRED)
    add_test(NAME memcheck.replay.${short}
             COMMAND ${VALGRIND} --tool=memcheck --error-exitcode=99 --leak-check=full
                     --errors-for-leak-kinds=definite --track-origins=yes --quiet
                     $<TARGET_FILE:${name}_replay> ${memcheck_n})
    set_tests_properties(memcheck.replay.${short} PROPERTIES LABELS memcheck TIMEOUT 900)
  endif()
  if(NOT TSQ_FUZZ)
    return()
  endif()
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(STATUS "TSQ_FUZZ: ${name} needs Clang (have ${CMAKE_C_COMPILER_ID}); "
                   "only ${name}_replay is built")
    return()
  endif()
  if(TSQ_SANITIZE)
    message(WARNING "TSQ_FUZZ with TSQ_SANITIZE=${TSQ_SANITIZE}: configure the fuzz build "
                    "without TSQ_SANITIZE (the fuzz targets set their own sanitizers)")
  endif()
  add_executable(${name} ${source})
  target_link_libraries(${name} PRIVATE tsq::tsq Threads::Threads)
  target_compile_options(${name} PRIVATE ${TSQ_WARNINGS} -g -fno-omit-frame-pointer
                         -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  set(corpus ${CMAKE_CURRENT_BINARY_DIR}/${name}_corpus)
  file(MAKE_DIRECTORY ${corpus})
  add_test(NAME fuzz.${short}
           COMMAND ${name} -max_total_time=${TSQ_FUZZ_SECONDS} -seed=1 -max_len=4096
                   -print_final_stats=1 ${corpus})
  math(EXPR timeout "${TSQ_FUZZ_SECONDS} + 120")
  set_tests_properties(fuzz.${short} PROPERTIES LABELS fuzz TIMEOUT ${timeout})
endfunction()
