# SPDX-License-Identifier: BSD-2-Clause
# The hand-off scenario (handoff/<impl>/...) and the single-thread one that runs the same
# implementations (single/<impl>): the driver, tsq's, the hand-written and the mutex
# baselines always; each peer library's file where its headers are found.
# include()d from bench/CMakeLists.txt (tsq-bench and tsq_bench_peer() exist).
target_sources(tsq-bench PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/handoff.c
  ${CMAKE_CURRENT_LIST_DIR}/handoff_tsq.c
  ${CMAKE_CURRENT_LIST_DIR}/handoff_handwritten.c
  ${CMAKE_CURRENT_LIST_DIR}/handoff_mutex.c
  ${CMAKE_CURRENT_LIST_DIR}/single.c)

# liburcu (wfcqueue, lfstack): header-only with _LGPL_SOURCE; no library is linked.
find_path(TSQ_BENCH_URCU_INCLUDE_DIR urcu/wfcqueue.h)
if(TSQ_BENCH_URCU_INCLUDE_DIR AND EXISTS "${TSQ_BENCH_URCU_INCLUDE_DIR}/urcu/lfstack.h")
  tsq_bench_peer(urcu ${CMAKE_CURRENT_LIST_DIR}/handoff_urcu.c TSQ_BENCH_HAVE_URCU)
  target_include_directories(tsq_bench_urcu SYSTEM PRIVATE ${TSQ_BENCH_URCU_INCLUDE_DIR})
else()
  message(STATUS "tsq bench: liburcu headers not found: urcu_wfcq and urcu_lfstack skipped")
endif()

# Concurrency Kit: ck_stack is header-only.
find_path(TSQ_BENCH_CK_INCLUDE_DIR ck_stack.h)
if(TSQ_BENCH_CK_INCLUDE_DIR)
  tsq_bench_peer(ck ${CMAKE_CURRENT_LIST_DIR}/handoff_ck.c TSQ_BENCH_HAVE_CK)
  target_include_directories(tsq_bench_ck SYSTEM PRIVATE ${TSQ_BENCH_CK_INCLUDE_DIR})
else()
  message(STATUS "tsq bench: Concurrency Kit (ck_stack.h) not found: ck_stack skipped")
endif()

# DPDK: only the ring library. The include directories (and the forced rte_config.h) come
# from pkg-config's libdpdk; its link line (every DPDK library) is deliberately not used.
if(PkgConfig_FOUND)
  pkg_check_modules(TSQ_BENCH_DPDK QUIET libdpdk)
endif()
find_library(TSQ_BENCH_RTE_RING_LIB rte_ring)
if(TSQ_BENCH_DPDK_FOUND AND TSQ_BENCH_RTE_RING_LIB)
  tsq_bench_peer(dpdk ${CMAKE_CURRENT_LIST_DIR}/handoff_dpdk.c TSQ_BENCH_HAVE_DPDK)
  target_include_directories(tsq_bench_dpdk SYSTEM PRIVATE ${TSQ_BENCH_DPDK_INCLUDE_DIRS})
  target_compile_options(tsq_bench_dpdk PRIVATE -include rte_config.h)
  target_link_libraries(tsq-bench PRIVATE ${TSQ_BENCH_RTE_RING_LIB})
else()
  message(STATUS "tsq bench: DPDK (pkg-config libdpdk + librte_ring) not found: dpdk_ring* skipped")
endif()
