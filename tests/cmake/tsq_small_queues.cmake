# SPDX-License-Identifier: BSD-2-Clause
# TCP Small Queues (flags.h, budget.h, flow.h): Criterion unit tests, the multi-threaded
# stress test (also run in the TSan and ASan builds) and the exhaustive model check.
# Tests: unit.flags, unit.budget, unit.flow, stress.flow, check.tsq_model.

tsq_add_unit_test(test_flags unit/test_flags.c)
tsq_add_unit_test(test_budget unit/test_budget.c)
tsq_add_unit_test(test_flow unit/test_flow.c)

# flows, bytes per flow, completion threads, shards (workers), seed, stall timeout in ms.
tsq_add_stress_test(stress_flow stress/flow.c ARGS 64 4194304 3 2 1 5000)

# Every interleaving of the TSQ restart protocol under x86-TSO store buffers, plus negative
# twins that must fail (see the comment at the top of check/tsq_model.c).
add_executable(check_tsq_model check/tsq_model.c)
target_link_libraries(check_tsq_model PRIVATE tsq::tsq)
target_compile_options(check_tsq_model PRIVATE ${TSQ_WARNINGS})
add_test(NAME check.tsq_model COMMAND check_tsq_model)
set_tests_properties(check.tsq_model PROPERTIES LABELS "unit;check" TIMEOUT 120)
