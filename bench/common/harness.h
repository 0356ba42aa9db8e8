/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/common/harness.h - what every tsq-bench scenario shares:
 * spin-waiting, cache-line-aligned allocation, and (through cpus.h and stats.h) thread
 * placement and the clock.
 *
 * The benchmarks are built so that each implementation runs in the same skeleton; only the
 * few lines that are the implementation differ. The pieces of that skeleton that are not
 * scenario-specific live here.
 */
#ifndef TSQ_BENCH_HARNESS_H
#define TSQ_BENCH_HARNESS_H

/* Built with -D_GNU_SOURCE (bench/CMakeLists.txt): pthread_setaffinity_np, CPU_SET, dladdr. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tsq/atomic.h>

#include "cpus.h"
#include "gbench.h"
#include "stats.h"

/* Largest producer count a scenario sizes its arrays for (the flag's upper limit). */
#define BENCH_MAX_THREADS 257

/* Inline into the caller: the per-item operations of an implementation must not cost a call. */
#define BENCH_INLINE static inline __attribute__((always_inline))

/* 64-byte-aligned, zeroed memory for n bytes (rounded up to a whole number of lines). */
static inline void *bench_alloc_lines(size_t n)
{
	size_t size = (n + TSQ_CACHELINE_SIZE - 1) / TSQ_CACHELINE_SIZE * TSQ_CACHELINE_SIZE;
	void *p = aligned_alloc(TSQ_CACHELINE_SIZE, size != 0 ? size : TSQ_CACHELINE_SIZE);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

/*
 * Reports items_per_second (Google Benchmark divides by the real time under UseRealTime)
 * and ns_per_item as a plain user counter. The latter is timed here, around the same state
 * loop, rather than as an inverted rate, which the console would print with a unit of
 * seconds.
 */
static inline void bench_report_items(struct gbench_state *st, uint64_t items, uint64_t elapsed_ns)
{
	gbench_set_items_processed(st, (int64_t)items);
	gbench_counter(st, "ns_per_item", items != 0 ? (double)elapsed_ns / (double)items : 0.0,
		       GBENCH_COUNTER_DEFAULT);
}

/*
 * One round of a spin-wait. Pure `pause` while the wait is short; after that, yield, so a
 * run with more threads than CPUs (the oversubscribed P = 2..3 on two cores) still makes
 * progress instead of burning whole time slices. With one thread per CPU the yield path is
 * only reached when a thread really has nothing to do for tens of microseconds.
 */
static inline void bench_spin(unsigned *spins)
{
	if (++*spins < 4096) {
		tsq_cpu_relax();
	} else {
		*spins = 0;
		sched_yield();
	}
}

#endif /* TSQ_BENCH_HARNESS_H */
