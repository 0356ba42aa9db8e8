# SPDX-License-Identifier: BSD-2-Clause
# The TCP Small Queues bufferbloat experiment (the seed's "< 1 ms instead of 50 ms") as a
# deterministic simulation driving tsq_budget; see sim_bufferbloat.c, and bench/RESULTS.md
# ("Bufferbloat: the seed's experiment, simulated") for the figures and command lines.
# include()d from bench/CMakeLists.txt; expects tsq::tsq and TSQ_WARNINGS.
add_executable(tsq-sim-bufferbloat ${CMAKE_CURRENT_LIST_DIR}/sim_bufferbloat.c)
target_include_directories(tsq-sim-bufferbloat PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../common)
target_link_libraries(tsq-sim-bufferbloat PRIVATE tsq::tsq m)
target_compile_options(tsq-sim-bufferbloat PRIVATE ${TSQ_WARNINGS})
# A behaviour check, not a timing test: the simulation is deterministic (virtual clock).
add_test(NAME sim.bufferbloat COMMAND tsq-sim-bufferbloat --check)
set_tests_properties(sim.bufferbloat PROPERTIES LABELS unit)
