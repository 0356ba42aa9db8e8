/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/atomic.h - the one place where tsq touches the GCC/Clang __atomic builtins.
 *
 * Overview
 *   Every shared access in tsq goes through the macros below, and every call names its
 *   memory order. The builtins are type-generic and identical in C and C++, so a header
 *   that uses them compiles unchanged as C11 and C++17, and ThreadSanitizer understands
 *   them (it does not understand hand-written asm or `volatile`).
 *
 *   Memory orders, shortest names first:
 *     TSQ_RELAXED  no ordering, only atomicity (counters, hints)
 *     TSQ_ACQUIRE  loads: later accesses stay after it          (pairs with a release)
 *     TSQ_RELEASE  stores: earlier accesses stay before it      (pairs with an acquire)
 *     TSQ_ACQ_REL  read-modify-write that is both
 *     TSQ_SEQ_CST  one total order over all SEQ_CST operations: the only order that makes
 *                  a store-buffering ("Dekker") pair safe. Acquire/release is not enough
 *                  when each thread writes one variable and then reads the other's.
 *
 * Usage
 *     uint64_t n = 0;
 *     tsq_fetch_add(&n, 1, TSQ_RELAXED);
 *     if (tsq_load(&n, TSQ_ACQUIRE) == 1) { ... }
 *
 * Options (define before including any tsq header)
 *   TSQ_CACHELINE_SIZE  alignment used to separate producer- and owner-written data (64).
 *   TSQ_CPU_RELAX()     the spin-wait hint; default: pause on x86, yield on AArch64.
 *   TSQ_DEBUG           catch misuse no return value can report (abort naming the call).
 *
 * Limitations
 *   Lock-freedom of 64-bit atomics is assumed (true on x86-64, AArch64, RISC-V 64, POWER).
 */
#ifndef TSQ_ATOMIC_H
#define TSQ_ATOMIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__GNUC__) && !defined(__clang__)
#error "tsq needs GCC or Clang: it uses the __atomic builtins"
#endif

#define TSQ_RELAXED __ATOMIC_RELAXED
#define TSQ_ACQUIRE __ATOMIC_ACQUIRE
#define TSQ_RELEASE __ATOMIC_RELEASE
#define TSQ_ACQ_REL __ATOMIC_ACQ_REL
#define TSQ_SEQ_CST __ATOMIC_SEQ_CST

/* Plain atomic access with an explicit order. */
#define tsq_load(p, mo) __atomic_load_n((p), (mo))
#define tsq_store(p, v, mo) __atomic_store_n((p), (v), (mo))
#define tsq_xchg(p, v, mo) __atomic_exchange_n((p), (v), (mo))

/*
 * Compare-and-swap. On failure *expected receives the current value (so loops need not
 * re-load) and the failure order applies. The weak form may fail spuriously: use it in loops.
 */
#define tsq_cmpxchg_weak(p, expected, desired, mo_ok, mo_fail) \
	__atomic_compare_exchange_n((p), (expected), (desired), true, (mo_ok), (mo_fail))
#define tsq_cmpxchg(p, expected, desired, mo_ok, mo_fail) \
	__atomic_compare_exchange_n((p), (expected), (desired), false, (mo_ok), (mo_fail))

/* Read-modify-write; each returns the value *before* the operation. */
#define tsq_fetch_add(p, v, mo) __atomic_fetch_add((p), (v), (mo))
#define tsq_fetch_sub(p, v, mo) __atomic_fetch_sub((p), (v), (mo))
#define tsq_fetch_or(p, v, mo) __atomic_fetch_or((p), (v), (mo))
#define tsq_fetch_and(p, v, mo) __atomic_fetch_and((p), (v), (mo))

/* Fences. tsq_fence(TSQ_SEQ_CST) is the full barrier (the kernel's smp_mb()). */
#define tsq_fence(mo) __atomic_thread_fence(mo)
/* Stops the compiler, not the CPU, from moving accesses across it. */
#define tsq_compiler_barrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/*
 * A counter that only one thread writes and any thread may read: a relaxed load and store
 * instead of a locked add (cheaper), still race-free for the readers and for TSan.
 */
#define tsq_counter_add_owner(p, v) tsq_store((p), tsq_load((p), TSQ_RELAXED) + (v), TSQ_RELAXED)
/* A counter several threads write: one relaxed atomic add. */
#define tsq_counter_add_shared(p, v) ((void)tsq_fetch_add((p), (v), TSQ_RELAXED))

#define tsq_likely(x) __builtin_expect(!!(x), 1)
#define tsq_unlikely(x) __builtin_expect(!!(x), 0)

#ifndef TSQ_CACHELINE_SIZE
#define TSQ_CACHELINE_SIZE 64
#endif
/* Puts a struct or member on its own cache line (and pads the struct to a multiple of it). */
#define TSQ_CACHELINE_ALIGNED __attribute__((aligned(TSQ_CACHELINE_SIZE)))

/* The spin-wait hint; override TSQ_CPU_RELAX to change it (e.g. to nothing under a simulator). */
#ifndef TSQ_CPU_RELAX
#if defined(__x86_64__) || defined(__i386__)
#define TSQ_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define TSQ_CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define TSQ_CPU_RELAX() tsq_compiler_barrier()
#endif
#endif
static inline void tsq_cpu_relax(void)
{
	TSQ_CPU_RELAX();
}

/*
 * Misuse that no return value can report (a node pushed twice, a reference dropped twice,
 * a call on a destroyed object): under TSQ_DEBUG, print "tsq: <call>: <what>" on stderr and
 * abort(). Without TSQ_DEBUG the check compiles to nothing, so it may cost time, never
 * correctness. Input that has a documented error code gets that code in every build instead.
 */
#ifdef TSQ_DEBUG
#include <stdio.h>
#include <stdlib.h>
#define TSQ__MISUSE_IF(cond, call, what)                                       \
	do {                                                                   \
		if (tsq_unlikely(cond)) {                                      \
			fprintf(stderr, "tsq: %s: %s\n", (call), (what));      \
			abort();                                               \
		}                                                              \
	} while (0)
#else
#define TSQ__MISUSE_IF(cond, call, what) ((void)0)
#endif

#endif /* TSQ_ATOMIC_H */
