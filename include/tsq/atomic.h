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
 *     static uint64_t events;                      // written by several threads
 *     static uint32_t ready;                       // R/A: a flag that publishes `data`
 *     static int data;
 *     tsq_counter_add_shared(&events, 1);          // a relaxed count, no ordering
 *     data = 42;
 *     tsq_store(&ready, 1u, TSQ_RELEASE);          // publisher: data first, then the flag
 *     if (tsq_load(&ready, TSQ_ACQUIRE) == 1)      // reader: the flag, then data
 *         use(data);
 *   (tests/unit/test_flags.c compiles and runs this block as `atomic_usage/usage_block_runs`.)
 *
 * Options: every build option of tsq, in one place (define before including any tsq header)
 *   TSQ_CFG_CACHELINE_SIZE  alignment that separates producer- and owner-written data (64).
 *                           Code reads it as TSQ_CACHELINE_SIZE (and TSQ_CACHELINE_ALIGNED),
 *                           which are not options.
 *   TSQ_CFG_CPU_RELAX()     the spin-wait hint; default: pause on x86, yield on AArch64.
 *   TSQ_CFG_NO_EVENTFD      defer.h: no eventfd default kick (sets need opts.kick; -ENOTSUP).
 *   TSQ_DEBUG               catch misuse no return value can report (abort naming the call).
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

#ifndef TSQ_CFG_CACHELINE_SIZE
#define TSQ_CFG_CACHELINE_SIZE 64
#endif
/* The cache-line size in use (code sizes and aligns with this name; set it with the option). */
#define TSQ_CACHELINE_SIZE TSQ_CFG_CACHELINE_SIZE
/* Puts a struct or member on its own cache line (and pads the struct to a multiple of it). */
#define TSQ_CACHELINE_ALIGNED __attribute__((aligned(TSQ_CACHELINE_SIZE)))

/* The spin-wait hint: TSQ_CFG_CPU_RELAX() (e.g. empty under a simulator). */
#ifndef TSQ_CFG_CPU_RELAX
#if defined(__x86_64__) || defined(__i386__)
#define TSQ_CFG_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define TSQ_CFG_CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define TSQ_CFG_CPU_RELAX() tsq_compiler_barrier()
#endif
#endif

/*
 * tsq_cpu_relax - the spin-wait hint (TSQ_CFG_CPU_RELAX()) as a function, for spin loops.
 * Context: any thread. Blocks: never (a pause of a few cycles).
 * Ordering: none (not a barrier; re-load what is being waited for after it).
 */
static inline void tsq_cpu_relax(void)
{
	TSQ_CFG_CPU_RELAX();
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
#define TSQ__MISUSE_IF(cond, call, what)                                  \
	do {                                                              \
		if (tsq_unlikely(cond)) {                                 \
			fprintf(stderr, "tsq: %s: %s\n", (call), (what)); \
			abort();                                          \
		}                                                         \
	} while (0)
#else
#define TSQ__MISUSE_IF(cond, call, what) ((void)0)
#endif

/*
 * Private helpers the other headers share (not part of the API).
 *
 * tsq__counters_read - copy a struct of `bytes` bytes whose fields are all uint64_t counters
 * (owner.h's and zc.h's stats) into its public twin, each field read atomically (relaxed).
 * Each field is exact when read; the copy is not a snapshot of all of them at one moment.
 * Returns false, copying nothing, if out is NULL (the stats functions' -EINVAL).
 */
static inline bool tsq__counters_read(void *out, const void *in, size_t bytes)
{
	const uint64_t *src = (const uint64_t *)in;
	uint64_t *dst = (uint64_t *)out;

	if (out == NULL)
		return false;
	for (size_t i = 0; i < bytes / sizeof(uint64_t); i++)
		dst[i] = tsq_load(&src[i], TSQ_RELAXED);
	return true;
}

/*
 * tsq__opts_read - read a caller's option struct (one that starts with `size_t size`, set by
 * the caller to the sizeof it was built with) as this version knows it, libbpf's rule: NULL
 * reads as all zero (the defaults); an older, smaller struct - at least `first_size`, the
 * size of the struct's first version - gets zeroes for the fields it does not know; a newer,
 * larger one is accepted only if the tail this version does not know is all zero. `out` is
 * this version's struct (`out_size` bytes), its size field set to out_size.
 * Return: true if accepted; false (out all zero) if the size is too small or the unknown
 * tail is not zero.
 */
static inline bool tsq__opts_read(const void *opts, size_t first_size, void *out, size_t out_size)
{
	const unsigned char *tail;
	size_t size;

	__builtin_memset(out, 0, out_size);
	if (opts == NULL)
		return true;
	size = *(const size_t *)opts; /* the first member of every option struct */
	if (size < first_size)
		return false;
	/*
	 * The caller's bytes past this version's struct (none unless it is newer). Reached through
	 * an integer so that GCC's -Warray-bounds does not take `opts` for this version's struct.
	 */
	tail = (const unsigned char *)(uintptr_t)((uintptr_t)opts + out_size);
	for (size_t i = 0; i + out_size < size; i++)
		if (tail[i] != 0)
			return false;
	__builtin_memcpy(out, opts, size < out_size ? size : out_size);
	__builtin_memcpy(out, &out_size, sizeof(out_size));
	return true;
}

#endif /* TSQ_ATOMIC_H */
