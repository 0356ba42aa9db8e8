/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for the rate tsq/budget.h learns from its completions when no rate is set: a
 * completion trace on the caller's clock (tsq_budget_complete_at) gives the rate, the limit
 * falls from the cap to ~1 ms of it, the two-unit floor holds at any rate, a rate set by hand
 * overrides it, and no rate or interval overflows. The concurrent case is
 * tests/stress/budget_rate.c, the window hand-over between completions
 * tests/fuzz/budget_rate_fuzz.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

/* tsq_budget_complete()'s clock: a fake one that counts its reads. */
static uint64_t fake_ns, clock_reads;
static uint64_t fake_clock(void)
{
	clock_reads++;
	return fake_ns;
}
#define TSQ_CFG_NOW_NS() fake_clock()

#include <tsq/flow.h>

#define MS 1000000ull
#define US 1000ull

struct trace {
	struct tsq_budget b;
	struct tsq_flags fl;
	uint64_t now;
};

static void trace_init(struct trace *t, const struct tsq_budget_opts *o)
{
	memset(t, 0, sizeof(*t));
	cr_assert_eq(tsq_budget_init(&t->b, o), 0);
	tsq_flags_init(&t->fl);
	t->now = 1000 * MS; /* an arbitrary monotonic start */
}

/*
 * A bulk flow behind a device that completes one unit of `cost` bytes every `gap_ns`, with
 * `depth` units kept in flight (so the flow never runs empty), for `n` completions.
 */
static void run_bulk(struct trace *t, uint32_t cost, uint64_t gap_ns, unsigned depth, unsigned n)
{
	struct tsq_budget_stats s;

	tsq_budget_stats(&t->b, &s);
	while (s.inflight_units < depth) {
		tsq_budget_charge(&t->b, cost);
		s.inflight_units++;
	}
	for (unsigned i = 0; i < n; i++) {
		t->now += gap_ns;
		tsq_budget_complete_at(&t->b, &t->fl, cost, t->now);
		tsq_budget_charge(&t->b, cost);
	}
}

static struct tsq_budget_stats stats_of(const struct tsq_budget *b)
{
	struct tsq_budget_stats s;

	cr_assert_eq(tsq_budget_stats(b, &s), 0);
	return s;
}

Test(budget_rate, learning_is_the_default_and_starts_at_the_startup_limit)
{
	struct trace t;

	trace_init(&t, NULL);
	cr_assert_eq(tsq_budget_rate(&t.b), TSQ_BUDGET_RATE_UNLIMITED, "nothing learned yet");
	cr_assert_eq(tsq_budget_limit(&t.b, 1500, 0), TSQ_BUDGET_CAP_2012, "not the cap alone");
	cr_assert_eq(TSQ_BUDGET_RATE_WINDOW_NS_DEFAULT, 1 * MS);
	/* Less than one window of completions: still nothing. */
	run_bulk(&t, 1000, 10 * US, 4, 99);
	cr_assert_eq(tsq_budget_rate(&t.b), TSQ_BUDGET_RATE_UNLIMITED);
	cr_assert_eq(stats_of(&t.b).rate_samples, 0);
	cr_assert_eq(stats_of(&t.b).rate_restarts, 1, "the first completion opened the window");
	cr_assert_eq(tsq_budget_limit(&t.b, 1500, 0), TSQ_BUDGET_CAP_2012,
		     "until the first sample");
}

/*
 * Before the first sample the startup limit replaces the pacing term: 128 KiB, at least two
 * units, at most the cap, doubled by the factor like any limit; a sender faster than its link
 * stops there instead of at the 4 MiB cap.
 */
Test(budget_rate, the_startup_limit_bounds_the_first_window)
{
	struct tsq_budget_opts small = { .size = sizeof(small), .cap = 64 << 10 };
	struct tsq_budget_opts huge = { .size = sizeof(huge), .cap = UINT64_MAX };
	struct trace t;
	unsigned n = 0;

	trace_init(&t, NULL);
	cr_assert_eq(tsq_budget_limit(&t.b, 100000, 0), 200000, "never below two units");
	cr_assert_eq(tsq_budget_limit(&t.b, 1500, 1), 2 * TSQ_BUDGET_CAP_2012,
		     "factor 1 doubles it");
	while (tsq_budget_may_send(&t.b, &t.fl, 1000, 0) && n < 10000) {
		tsq_budget_charge(&t.b, 1000);
		n++;
	}
	cr_assert_eq(n, 132, "131 units are below 128 KiB, the 132nd reaches it");
	cr_assert_eq(tsq_flags_load(&t.fl), TSQ_F_THROTTLED);
	cr_assert(tsq_budget_complete_at(&t.b, &t.fl, 1000, t.now),
		  "the first completion restarts");
	trace_init(&t, &small);
	cr_assert_eq(tsq_budget_limit(&t.b, 1500, 0), 64 << 10, "a smaller cap still bounds it");
	cr_assert_eq(tsq_budget_limit(&t.b, 40000, 0), 64 << 10, "and bounds the floor");
	trace_init(&t, &huge);
	cr_assert_eq(tsq_budget_limit(&t.b, 1500, 0), TSQ_BUDGET_CAP_2012, "a larger cap does not");
	/* The first sample (1000 B per 10 us: 100 MB/s) replaces it, below and above it. */
	run_bulk(&t, 1000, 10 * US, 4, 101);
	cr_assert_eq(tsq_budget_limit(&t.b, 1000, 0), 100000000ull >> 10);
	trace_init(&t, &huge);
	run_bulk(&t, 64000, 10 * US, 4, 101); /* 6.4 GB/s: above the startup limit */
	cr_assert_eq(tsq_budget_limit(&t.b, 1000, 0), 6400000000ull >> 10);
	/* Relearning starts again at the startup limit; no learning keeps the cap. */
	tsq_budget_learn_rate(&t.b);
	cr_assert_eq(tsq_budget_limit(&t.b, 1000, 0), TSQ_BUDGET_CAP_2012);
	huge.no_rate_learning = true;
	trace_init(&t, &huge);
	cr_assert_eq(tsq_budget_limit(&t.b, 1000, 0), TSQ_BUDGET_MAX_INFLIGHT);
}

/* A sample that saturates (39 x (4 GiB - 1) in 8 ns) is learned, not read as "none yet". */
Test(budget_rate, a_saturated_sample_is_still_a_learned_rate)
{
	struct tsq_budget_opts o = { .size = sizeof(o), .rate_window_ns = 1 };
	struct trace t;

	trace_init(&t, &o);
	run_bulk(&t, UINT32_MAX, 0, 40, 39); /* the first opens the window, 38 add their bytes */
	cr_assert_eq(stats_of(&t.b).rate_samples, 0);
	run_bulk(&t, UINT32_MAX, 8, 40, 1); /* 8 ns later: over 2^64 B/s */
	cr_assert_eq(stats_of(&t.b).rate_samples, 1);
	cr_assert_eq(tsq_budget_rate(&t.b), TSQ_BUDGET_RATE_UNLIMITED - 1, "saturated, learned");
	cr_assert_eq(tsq_budget_limit(&t.b, 1000, 0), TSQ_BUDGET_CAP_DEFAULT, "the cap, as before");
}

Test(budget_rate, rate_learned_from_a_completion_trace)
{
	struct trace t;

	trace_init(&t, NULL);
	/* 1000 B every 10 us: 100,000,000 B/s. */
	run_bulk(&t, 1000, 10 * US, 4, 1000);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull, "exact for an evenly spaced trace");
	cr_assert_geq(stats_of(&t.b).rate_samples, 9);
	cr_assert_eq(stats_of(&t.b).rate, 100000000ull);
}

Test(budget_rate, limit_falls_to_one_ms_of_the_learned_rate)
{
	struct trace t;

	trace_init(&t, NULL);
	/* 120 Mbit/s of 1538-byte frames: 15,000,000 B/s, one frame per 102.533 us. */
	run_bulk(&t, 1538, 102533, 8, 200);
	cr_assert_lt(tsq_budget_rate(&t.b), 15000500ull);
	cr_assert_gt(tsq_budget_rate(&t.b), 14999500ull);
	/* rate >> 10: 14,648 B, ~9.5 frames; 4 MiB before. */
	cr_assert_eq(tsq_budget_limit(&t.b, 1538, 0), tsq_budget_rate(&t.b) >> 10);
	cr_assert_lt(tsq_budget_limit(&t.b, 1538, 0), 14650);
	/* Retransmits still get twice that. */
	cr_assert_eq(tsq_budget_limit(&t.b, 1538, 1), (tsq_budget_rate(&t.b) >> 10) << 1);
}

Test(budget_rate, the_rate_follows_a_slower_device_within_two_windows)
{
	struct trace t;

	trace_init(&t, NULL);
	run_bulk(&t, 1000, 10 * US, 4, 500);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull);
	run_bulk(&t, 1000, 100 * US, 4, 25); /* 10 MB/s for 2.5 ms */
	cr_assert_eq(tsq_budget_rate(&t.b), 10000000ull, "the max of two windows forgets in two");
}

Test(budget_rate, floor_of_two_units_at_a_tiny_rate)
{
	struct trace t;

	trace_init(&t, NULL);
	/* One 100-byte unit a second: 100 B/s, rate >> 10 = 0. */
	run_bulk(&t, 100, 1000 * MS, 2, 4);
	cr_assert_eq(tsq_budget_rate(&t.b), 100);
	cr_assert_eq(tsq_budget_limit(&t.b, 1500, 0), 3000, "2 x the next unit");
	/* The flow keeps going: one unit of 1500 in flight may be joined by a second. */
	tsq_budget_complete_at(&t.b, &t.fl, 100, t.now);
	tsq_budget_complete_at(&t.b, &t.fl, 100, t.now);
	cr_assert(tsq_budget_may_send(&t.b, &t.fl, 1500, 0), "nothing in flight: always");
	tsq_budget_charge(&t.b, 1500);
	cr_assert(tsq_budget_may_send(&t.b, &t.fl, 1500, 0), "1500 < 3000");
	tsq_budget_charge(&t.b, 1500);
	cr_assert_not(tsq_budget_may_send(&t.b, &t.fl, 1500, 0), "two units fill the floor");
	cr_assert(tsq_budget_complete_at(&t.b, &t.fl, 1500, t.now + 1),
		  "and a completion restarts");
}

Test(budget_rate, an_explicit_rate_overrides_and_learn_rate_goes_back)
{
	struct trace t;

	trace_init(&t, NULL);
	run_bulk(&t, 1000, 10 * US, 4, 300);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull);
	tsq_budget_set_pacing_rate(&t.b, 1ull << 30);
	cr_assert_eq(tsq_budget_rate(&t.b), 1ull << 30);
	cr_assert_eq(tsq_budget_limit(&t.b, 1000, 0), 1ull << 20);
	run_bulk(&t, 1000, 100 * US, 4, 300); /* a slower device: ignored now */
	cr_assert_eq(tsq_budget_rate(&t.b), 1ull << 30, "set by hand: completions do not touch it");
	tsq_budget_set_pacing_rate(&t.b, TSQ_BUDGET_RATE_UNLIMITED);
	cr_assert_eq(tsq_budget_limit(&t.b, 1000, 0), TSQ_BUDGET_CAP_DEFAULT,
		     "the cap alone, as asked");
	tsq_budget_set_pacing_rate(&t.b, 0);
	cr_assert_eq(tsq_budget_limit(&t.b, 1000, 0), 2000, "rate 0: the floor alone");

	tsq_budget_learn_rate(&t.b);
	cr_assert_eq(tsq_budget_rate(&t.b), TSQ_BUDGET_RATE_UNLIMITED, "learning from scratch");
	run_bulk(&t, 1000, 100 * US, 4, 30);
	cr_assert_eq(tsq_budget_rate(&t.b), 10000000ull);
}

Test(budget_rate, no_rate_learning_keeps_the_cap)
{
	struct tsq_budget_opts o = { .size = sizeof(o), .no_rate_learning = true };
	struct trace t;

	trace_init(&t, &o);
	run_bulk(&t, 1000, 10 * US, 4, 1000);
	cr_assert_eq(tsq_budget_rate(&t.b), TSQ_BUDGET_RATE_UNLIMITED);
	cr_assert_eq(tsq_budget_limit(&t.b, 1000, 0), TSQ_BUDGET_CAP_DEFAULT);
	cr_assert_eq(stats_of(&t.b).rate_samples + stats_of(&t.b).rate_restarts, 0);
}

Test(budget_rate, a_first_version_opts_struct_learns_whatever_its_padding)
{
	/* The first version's sizeof: its tail padding (garbage here) is not a field now. */
	struct tsq_budget_opts v1;
	struct trace t;

	memset(&v1, 0xff, sizeof(v1));
	v1.size = offsetof(struct tsq_budget_opts, rate_window_ns);
	v1.cap = 0;
	v1.pacing_shift = 0;
	v1.allow_one = false;
	trace_init(&t, &v1);
	cr_assert(t.b.learning, "no_rate_learning lies past the first version");
	cr_assert_eq(t.b.window_ns, TSQ_BUDGET_RATE_WINDOW_NS_DEFAULT);
}

Test(budget_rate, a_first_version_opts_struct_learns)
{
	struct tsq_budget_opts o = {
		.size = offsetof(struct tsq_budget_opts, allow_one) + sizeof(bool), .cap = 1 << 20
	};
	struct trace t;

	trace_init(&t, &o);
	run_bulk(&t, 1000, 10 * US, 4, 300);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull, "fields it lacks read as zero: learning");
}

Test(budget_rate, custom_window)
{
	struct tsq_budget_opts o = { .size = sizeof(o), .rate_window_ns = 10 * MS };
	struct trace t;

	trace_init(&t, &o);
	run_bulk(&t, 1000, 10 * US, 4, 999); /* 9.99 ms: one window is not over yet */
	cr_assert_eq(tsq_budget_rate(&t.b), TSQ_BUDGET_RATE_UNLIMITED);
	run_bulk(&t, 1000, 10 * US, 4, 2);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull);
}

Test(budget_rate, an_idle_gap_is_not_averaged_in)
{
	struct trace t;

	trace_init(&t, NULL);
	run_bulk(&t, 1000, 10 * US, 1, 300);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull);
	/* The flow runs empty (its last unit completes), then sends again a second later. */
	t.now += 10 * US;
	tsq_budget_complete_at(&t.b, &t.fl, 1000, t.now);
	t.now += 1000 * MS;
	run_bulk(&t, 1000, 10 * US, 1, 300);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull, "a 1 s gap would have read ~1 kB/s");
}

Test(budget_rate, a_clock_that_goes_back_drops_the_window)
{
	struct trace t;
	uint64_t restarts;

	trace_init(&t, NULL);
	run_bulk(&t, 1000, 10 * US, 4, 300);
	restarts = stats_of(&t.b).rate_restarts;
	t.now -= 500 * MS;
	run_bulk(&t, 1000, 10 * US, 4, 1);
	cr_assert_eq(stats_of(&t.b).rate_restarts, restarts + 1);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull, "no sample of a negative interval");
	run_bulk(&t, 1000, 10 * US, 4, 300);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull);
}

Test(budget_rate, no_overflow_at_extreme_rates_and_intervals)
{
	struct tsq_budget_opts o = { .size = sizeof(o), .rate_window_ns = 1 };
	struct trace t;

	/* Units of 4 GiB - 1 every 4 ns (the window word's resolution): ~10^18 B/s. */
	trace_init(&t, &o);
	run_bulk(&t, UINT32_MAX, 4, 2, 10);
	cr_assert_eq(tsq_budget_rate(&t.b), (uint64_t)UINT32_MAX / 4 * 1000000000ull +
						    (uint64_t)UINT32_MAX % 4 * 1000000000ull / 4);
	cr_assert_eq(tsq_budget_limit(&t.b, UINT32_MAX, 0), TSQ_BUDGET_CAP_DEFAULT, "capped");
	cr_assert_eq(tsq_budget_limit(&t.b, UINT32_MAX, 40), TSQ_BUDGET_MAX_INFLIGHT, "saturates");

	/* One byte over 2^63 ns: rounds to 0 B/s, kept at 1 (the floor limits). */
	trace_init(&t, NULL);
	run_bulk(&t, 1, 1ull << 62, 2, 3);
	cr_assert_eq(tsq_budget_rate(&t.b), 1, "a learned rate is never 0");
	cr_assert_eq(tsq_budget_limit(&t.b, 1500, 0), 3000);

	/* The clock at its top and the delivered count wrapping past 2^64. */
	trace_init(&t, NULL);
	t.now = UINT64_MAX - 100 * MS;
	t.b.delivered = UINT64_MAX - 5000; /* white-box: the modular count near its wrap */
	run_bulk(&t, 1000, 10 * US, 4, 300);
	cr_assert_eq(tsq_budget_rate(&t.b), 100000000ull, "differences are modular");
}

Test(budget_rate, the_rate_helper_saturates_and_never_divides_by_zero)
{
	cr_assert_eq(tsq__budget_rate_of(UINT64_MAX, 1), UINT64_MAX);
	cr_assert_eq(tsq__budget_rate_of(UINT64_MAX / 1000000000ull, 1),
		     UINT64_MAX / 1000000000ull * 1000000000ull);
	cr_assert_eq(tsq__budget_rate_of(UINT64_MAX, UINT64_MAX), 1000000000ull);
	cr_assert_eq(tsq__budget_rate_of(1, UINT64_MAX), 0);
	cr_assert_eq(tsq__budget_rate_of(3, 2), 1500000000ull);
	/* Windows over 18 s are scaled down to 2^34 ns: 999,999,999.99 B/s reads 1e9. */
	cr_assert_eq(tsq__budget_rate_of(UINT64_MAX - 1, UINT64_MAX), 1000000000ull);
	cr_assert_eq(tsq__budget_rate_of(3ull << 40, 100000000000ull), 32985348833ull,
		     "3 TiB / 100 s");
	cr_assert_eq(tsq__budget_rate_of(1ull << 40, 1ull << 40), 1000000000ull);
}

Test(budget_rate, complete_reads_the_clock_about_sixteen_times_a_window)
{
	struct trace t;
	uint64_t reads;

	trace_init(&t, NULL);
	fake_ns = t.now;
	clock_reads = 0;
	/* 1514 B every 1.2 us: 1,261,666,666 B/s (~10 Gbit/s), 8 in flight, 5 ms. */
	for (int i = 0; i < 8; i++)
		tsq_budget_charge(&t.b, 1514);
	for (int i = 0; i < 4200; i++) {
		fake_ns += 1200;
		tsq_budget_complete(&t.b, &t.fl, 1514);
		tsq_budget_charge(&t.b, 1514);
	}
	/* A window spans whole completions between two clock reads: still exact. */
	cr_assert_eq(tsq_budget_rate(&t.b), 1261666666ull);
	cr_assert_eq(t.b.clock_shift, 30 + 19 - 34, "log2 rate + log2 window - 34");
	reads = clock_reads;
	for (int i = 0; i < 833; i++) { /* 1 ms */
		fake_ns += 1200;
		tsq_budget_complete(&t.b, &t.fl, 1514);
		tsq_budget_charge(&t.b, 1514);
	}
	cr_assert_leq(clock_reads - reads, 40, "%llu reads in 1 ms of 833 completions",
		      (unsigned long long)(clock_reads - reads));
	cr_assert_geq(clock_reads - reads, 16);
	tsq_budget_learn_rate(&t.b);
	reads = clock_reads;
	tsq_budget_complete(&t.b, &t.fl, 1514);
	cr_assert_eq(clock_reads, reads + 1, "learning again: every completion reads it");
}

/* ---- flow.h: the setter and the readers ---------------------------------------------- */

static void nop_send_more(struct tsq_flow *f, enum tsq_flow_how how)
{
	(void)f;
	(void)how;
}

static bool nop_lock(struct tsq_flow *f)
{
	(void)f;
	return false;
}

static void nop_unlock(struct tsq_flow *f)
{
	(void)f;
}

Test(budget_rate, flow_setter_and_readers)
{
	static const struct tsq_flow_ops ops = { nop_send_more, nop_lock, nop_unlock, NULL, NULL };
	static struct tsq_flow f;
	static struct tsq_defer_set set;
	struct tsq_defer_shard *shards = tsq_defer_shards_alloc(1);
	uint64_t now = 5 * MS;

	cr_assert_not_null(shards);
	memset(&set, 0, sizeof(set));
	cr_assert_eq(tsq_defer_set_init(&set, shards, 1, NULL), 0);
	cr_assert_eq(tsq_flow_init(&f, &set, 0, &ops, NULL), 0);
	cr_assert_eq(tsq_flow_limit(&f), TSQ_BUDGET_CAP_2012, "the startup limit until a sample");
	cr_assert_eq(tsq_flow_inflight(&f), 0);
	for (int i = 0; i < 4; i++)
		tsq_flow_charge(&f, 1500);
	cr_assert_eq(tsq_flow_inflight(&f), 6000);
	for (int i = 0; i < 200; i++) { /* 1500 B per 15 us: 100 MB/s */
		now += 15 * US;
		cr_assert_not(tsq_flow_complete_at(&f, 1500, now));
		tsq_flow_charge(&f, 1500);
	}
	cr_assert_eq(tsq_flow_inflight(&f), 6000);
	cr_assert_eq(tsq_flow_limit(&f), 100000000ull >> 10, "~1 ms of the learned rate");
	tsq_flow_set_pacing_rate(&f, 1ull << 20);
	cr_assert_eq(tsq_flow_limit(&f), 1024);
	tsq_flow_set_pacing_rate(&f, TSQ_BUDGET_RATE_UNLIMITED);
	cr_assert_eq(tsq_flow_limit(&f), TSQ_BUDGET_CAP_DEFAULT);
	tsq_flow_learn_rate(&f);
	cr_assert_eq(tsq_flow_limit(&f), TSQ_BUDGET_CAP_2012,
		     "relearning: the startup limit first");
	for (int i = 0; i < 4; i++)
		tsq_flow_complete(&f, 1500);
	cr_assert_eq(tsq_flow_inflight(&f), 0);
	tsq_defer_set_destroy(&set);
	free(shards);
}
