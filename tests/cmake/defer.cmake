# SPDX-License-Identifier: BSD-2-Clause
# Per-shard deferred work (include/tsq/defer.h): Criterion unit tests, the stress tests and the
# exhaustive model check. Included from tests/CMakeLists.txt.
# Sizes: 1-3 s each in Debug, 5-12 s under TSan on 2 cores.

tsq_add_unit_test(test_defer unit/test_defer.c)
# stress.defer* <mode> <items per thread> <rounds> <bound> <shards> <producers> <wait ms>:
# bound 16 so the fallback path runs all the time; a 5 s wait that times out with work
# queued is reported as a lost wake-up.
tsq_add_stress_test(stress_defer stress/defer.c ARGS single 20000 60 16 3 3 5000)
tsq_add_stress_test(stress_defer_batch stress/defer.c ARGS batch 20000 60 16 3 3 5000)
# The per-pair rings (16 slots) and the futex-on-counter sleeper of the "Sleeping" contract.
tsq_add_stress_test(stress_defer_ring stress/defer.c ARGS single 20000 40 16 3 3 5000 16 futex)
tsq_add_stress_test(stress_defer_batch_ring stress/defer.c ARGS batch 20000 40 16 3 3 5000 16 eventfd)
tsq_add_stress_test(stress_defer_futex stress/defer.c ARGS single 20000 40 16 3 3 5000 off futex)
# The defaults (rings at first push, the asymmetric fence) with a registered application
# producer, and the symmetric SEQ_CST fence forced.
tsq_add_stress_test(stress_defer_default stress/defer.c ARGS single 20000 40 16 3 3 5000 0 eventfd auto register)
tsq_add_stress_test(stress_defer_symmetric stress/defer.c ARGS batch 20000 40 16 3 3 5000 16 futex symmetric register)
# The kick/idle protocol and the list bound over every interleaving (x86-TSO), with the
# negative twins that must fail (see the comment at the top of check/defer_model.c).
add_executable(check_defer_model check/defer_model.c)
target_compile_options(check_defer_model PRIVATE ${TSQ_WARNINGS} -O2)
add_test(NAME check.defer_model COMMAND check_defer_model)
set_tests_properties(check.defer_model PROPERTIES LABELS "unit;check" TIMEOUT 300)
