# SPDX-License-Identifier: BSD-2-Clause
# TCP Small Queues (flags.h, budget.h, flow.h): Criterion unit tests, the multi-threaded
# stress test (also run in the TSan and ASan builds) and the exhaustive model check.
# Tests: unit.flags, unit.budget, unit.flow, unit.budget_rate, unit.budget_complete_n,
# unit.flow_single_thread, stress.flow, stress.budget_rate, check.tsq_model,
# replay.budget_rate (fuzz.budget_rate with TSQ_FUZZ).

tsq_add_unit_test(test_flags unit/test_flags.c)
tsq_add_unit_test(test_budget unit/test_budget.c)
tsq_add_unit_test(test_flow unit/test_flow.c)
tsq_add_unit_test(test_budget_rate unit/test_budget_rate.c)
tsq_add_unit_test(test_budget_complete_n unit/test_budget_complete_n.c)
tsq_add_unit_test(test_flow_single_thread unit/test_flow_single_thread.c)

# flows, bytes per flow, completion threads, shards (workers), seed, stall timeout in ms.
tsq_add_stress_test(stress_flow stress/flow.c ARGS 64 4194304 3 2 1 5000)
# units, completion threads, seed, stall timeout in ms.
tsq_add_stress_test(stress_budget_rate stress/budget_rate.c ARGS 200000 3 1 5000)

# Every interleaving of the TSQ restart protocol under x86-TSO store buffers (also with the
# learned limit moving under the sender), plus negative twins that must fail (see the comment
# at the top of check/tsq_model.c).
add_executable(check_tsq_model check/tsq_model.c)
target_link_libraries(check_tsq_model PRIVATE tsq::tsq)
target_compile_options(check_tsq_model PRIVATE ${TSQ_WARNINGS})
add_test(NAME check.tsq_model COMMAND check_tsq_model)
set_tests_properties(check.tsq_model PROPERTIES LABELS "unit;check" TIMEOUT 120)

# The learned rate against a reference model: replay.budget_rate (20000 deterministic inputs,
# label unit) and, with -DTSQ_FUZZ=ON under Clang, the libFuzzer target fuzz.budget_rate.
tsq_add_fuzz(budget_rate_fuzz fuzz/budget_rate_fuzz.c 20000 3000)

# docs/tsq.md's "A first program", compiled and run as it stands in the page.
add_test(NAME docs.tsq_snippet
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/docs_snippet.sh ${CMAKE_C_COMPILER}
                 ${PROJECT_SOURCE_DIR}/docs/tsq.md first-program ${PROJECT_SOURCE_DIR}/include
                 ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(docs.tsq_snippet PROPERTIES LABELS unit TIMEOUT 120)
