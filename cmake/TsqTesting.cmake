# SPDX-License-Identifier: BSD-2-Clause
# Helpers that give every test the same shape; labels drive `make test`:
#   unit      Criterion unit tests (also under valgrind with TSQ_VALGRIND: label memcheck)
#   stress    multi-threaded stress tests with exact accounting (also under TSan and ASan)
#   example   the programs in examples/
#   build     compile checks (standalone headers)

# tsq_add_unit_test(<name> <source>...): a Criterion test executable.
function(tsq_add_unit_test name)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(CRITERION REQUIRED IMPORTED_TARGET criterion)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE tsq::tsq PkgConfig::CRITERION Threads::Threads)
  target_compile_options(${name} PRIVATE ${TSQ_WARNINGS})
  add_test(NAME ${name} COMMAND ${name} --jobs=1)
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 300)
  if(TSQ_VALGRIND)
    find_program(VALGRIND valgrind REQUIRED)
    # Criterion forks one child per test; valgrind follows forks. Any error fails the run.
    add_test(NAME memcheck.${name}
             COMMAND ${VALGRIND} --tool=memcheck --error-exitcode=99 --leak-check=full
                     --errors-for-leak-kinds=definite --track-origins=yes --quiet
                     $<TARGET_FILE:${name}> --jobs=1)
    set_tests_properties(memcheck.${name} PROPERTIES LABELS memcheck TIMEOUT 900)
  endif()
endfunction()

# tsq_add_stress_test(<name> <source>... [ARGS <arg>...]): a plain C program that exits 0 on
# success and prints its accounting. ARGS are passed on the command line.
function(tsq_add_stress_test name)
  cmake_parse_arguments(ST "" "" "ARGS" ${ARGN})
  add_executable(${name} ${ST_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE tsq::tsq Threads::Threads)
  target_compile_options(${name} PRIVATE ${TSQ_WARNINGS})
  add_test(NAME ${name} COMMAND ${name} ${ST_ARGS})
  set_tests_properties(${name} PROPERTIES LABELS stress TIMEOUT 600)
endfunction()

# tsq_add_example(<name> <source>...): an example program, run as a test.
function(tsq_add_example name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE tsq::tsq Threads::Threads)
  target_compile_options(${name} PRIVATE ${TSQ_WARNINGS})
  add_test(NAME example.${name} COMMAND ${name})
  set_tests_properties(example.${name} PROPERTIES LABELS example TIMEOUT 120)
endfunction()
