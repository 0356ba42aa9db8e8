# SPDX-License-Identifier: BSD-2-Clause
# Byte Queue Limits on a TX ring: a deterministic simulation driving tsq_dql (varying line
# rate, interrupt-moderated completions) beside fixed 64- and 2048-frame ring limits; see
# sim_dql.c. include()d from bench/CMakeLists.txt; expects tsq::tsq and TSQ_WARNINGS.
add_executable(tsq-sim-dql ${CMAKE_CURRENT_LIST_DIR}/sim_dql.c)
target_include_directories(tsq-sim-dql PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../common)
target_link_libraries(tsq-sim-dql PRIVATE tsq::tsq)
target_compile_options(tsq-sim-dql PRIVATE ${TSQ_WARNINGS})
# A behaviour check, not a timing test: the simulation is deterministic (virtual clock).
add_test(NAME sim.dql COMMAND tsq-sim-dql --check)
set_tests_properties(sim.dql PROPERTIES LABELS unit TIMEOUT 300)
