# SPDX-License-Identifier: BSD-2-Clause
# Lock-less MPSC list (include/tsq/llist.h): Criterion unit tests and the multi-threaded stress
# test. Included from tests/CMakeLists.txt. Tests: unit.llist, stress.llist.
# Sizes: 1-3 s each in Debug, 5-12 s under TSan on 2 cores.

tsq_add_unit_test(test_llist unit/test_llist.c)
# stress.llist <items per producer> <producers> <rounds>
tsq_add_stress_test(stress_llist stress/llist.c ARGS 100000 4 12)
