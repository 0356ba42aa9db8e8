/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/common/stats.h - the one place where bench/ turns samples into numbers, so that "p99"
 * or "median" means the same thing in every program (tsq-bench and its --tsq_tables,
 * tsq-sim-bufferbloat, tsq-sim-dql, tsq-backlog-latency). Header-only, libc only, C11 and
 * C++ (bench/common/gbench.cc uses it too).
 *
 * Definitions
 *   percentile   nearest rank: the p-th percentile (0 < p <= 100, in percent) of n sorted
 *                samples is the smallest sample such that at least p % of the samples are
 *                <= it, i.e. v[ceil(p / 100 * n) - 1]. Always one of the samples (never an
 *                interpolation); p = 100 is the maximum; p50 of an even count is the lower
 *                of the two middle samples. No samples: 0.
 *   median       (bench_summary_f64) the middle value of the finite samples, or the mean of
 *                the two middle values for an even count: Google Benchmark's median
 *                aggregate, used for the per-round summaries of the tables. Programs print
 *                "median" only from this and "p50" only from bench_percentile_u64().
 *   min, max     of the finite samples.
 *   now          CLOCK_MONOTONIC in ns (bench_now_ns()).
 */
#ifndef TSQ_BENCH_STATS_H
#define TSQ_BENCH_STATS_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Monotonic wall clock in ns. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* qsort() comparators, ascending. */
static inline int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static inline int bench_cmp_f64(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sort n samples in place, ascending. */
static inline void bench_sort_u64(uint64_t *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), bench_cmp_u64);
}

/*
 * The nearest-rank p-th percentile (p in percent, 0 < p <= 100) of sorted v[0..n): see the
 * top. The rank is computed as ceil(p * n / 100) with p * n compared exactly (p an integer,
 * n < 2^53), so p99 of 100 samples is v[98], not v[99] through a rounding error.
 */
static inline uint64_t bench_percentile_u64(const uint64_t *sorted, size_t n, double p)
{
	double want = p * (double)n / 100.0;
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)want;
	if ((double)rank * 100.0 < p * (double)n)
		rank++; /* ceil */
	if (rank == 0)
		rank = 1;
	return sorted[(rank < n ? rank : n) - 1];
}

struct bench_summary {
	double min, median, max;
};

/*
 * Min, median and max of the finite values of v[0..n) (see the top). Reorders v: the finite
 * values end up sorted at its front. False, and *s untouched, if there is none.
 */
static inline bool bench_summary_f64(double *v, size_t n, struct bench_summary *s)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (isfinite(v[i]))
			v[k++] = v[i];
	if (k == 0)
		return false;
	qsort(v, k, sizeof(*v), bench_cmp_f64);
	s->min = v[0];
	s->median = k % 2 != 0 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
	s->max = v[k - 1];
	return true;
}

#endif /* TSQ_BENCH_STATS_H */
