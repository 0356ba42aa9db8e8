/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/common/cpus.h - thread placement for every bench program (tsq-bench through
 * harness.h, tsq-backlog-latency). Header-only, libc only; needs _GNU_SOURCE before the
 * first system header (pthread_setaffinity_np, CPU_SET).
 */
#ifndef TSQ_BENCH_CPUS_H
#define TSQ_BENCH_CPUS_H

#include <pthread.h>
#include <sched.h>

/*
 * Thread placement: thread i of a benchmark runs on the i-th usable CPU, modulo their number
 * (the benchmark thread - the owner - is i = 0). Pinning keeps the owner and each producer
 * on separate cores whenever there are enough, so that the numbers measure cache-line
 * transfers between cores and not the scheduler. Failure is harmless (an unpinned run).
 * The usable set is read once, before anyone is pinned: threads inherit their creator's mask.
 */
struct bench_cpus {
	cpu_set_t usable; /* the benchmark thread's mask on entry, restored on exit */
	int ok;
};

static inline void bench_cpus_get(struct bench_cpus *c)
{
	c->ok = pthread_getaffinity_np(pthread_self(), sizeof(c->usable), &c->usable) == 0 &&
		CPU_COUNT(&c->usable) > 0;
}

static inline void bench_pin(const struct bench_cpus *c, pthread_t t, unsigned i)
{
	cpu_set_t one;
	unsigned seen = 0;

	if (!c->ok)
		return;
	i %= (unsigned)CPU_COUNT(&c->usable);
	for (unsigned cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &c->usable))
			continue;
		if (seen++ == i) {
			CPU_ZERO(&one);
			CPU_SET(cpu, &one);
			(void)pthread_setaffinity_np(t, sizeof(one), &one);
			return;
		}
	}
}

static inline void bench_cpus_restore(const struct bench_cpus *c)
{
	if (c->ok)
		(void)pthread_setaffinity_np(pthread_self(), sizeof(c->usable), &c->usable);
}

#endif /* TSQ_BENCH_CPUS_H */
