# SPDX-License-Identifier: BSD-2-Clause
# The remote-free scenario (remote_free/<impl>): the driver and one file per kind of
# implementation. include()d from bench/CMakeLists.txt (tsq-bench exists).
target_sources(tsq-bench PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/remote_free.c
  ${CMAKE_CURRENT_LIST_DIR}/remote_free_malloc.c
  ${CMAKE_CURRENT_LIST_DIR}/remote_free_mutex.c
  ${CMAKE_CURRENT_LIST_DIR}/remote_free_tsq.c
  ${CMAKE_CURRENT_LIST_DIR}/remote_free_handwritten.c)

# mimalloc and jemalloc are dlopen()ed at run time, never linked: either would replace
# glibc's malloc for the whole binary. Configure time only records where they are.
foreach(_alloc mimalloc jemalloc)
  string(TOUPPER ${_alloc} _ALLOC)
  find_library(TSQ_BENCH_${_ALLOC}_LIB ${_alloc})
  if(TSQ_BENCH_${_ALLOC}_LIB)
    # The versioned file, which the runtime package ships (the bare .so is the -dev symlink).
    get_filename_component(_path "${TSQ_BENCH_${_ALLOC}_LIB}" REALPATH)
    target_compile_definitions(tsq-bench PRIVATE TSQ_BENCH_${_ALLOC}_PATH="${_path}")
  else()
    message(STATUS "tsq bench: lib${_alloc} not found: remote_free/${_alloc} skipped")
  endif()
endforeach()
