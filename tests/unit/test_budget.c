/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for tsq/budget.h: init and its errors, the limit formula term by term, check()
 * (go while in_flight < limit, never stop with nothing in flight) with and without the
 * "allow one" relaxation, charge/complete accounting and the
 * THROTTLED -> QUEUED hand-over, the two size-goal rules, stats. One test races a completion
 * thread against check() to drive the re-check ("save") path and asserts that the Dekker pair
 * never loses a restart; the exhaustive proof is tests/check/.
 */
#define _GNU_SOURCE /* pthread_setaffinity_np */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

/*
 * A stopped clock: no learning window ever closes, so the limits asserted here are the
 * configured ones whatever the machine's speed. test_budget_rate.c tests the learning.
 */
#define TSQ_CFG_NOW_NS() 0ull
#include <tsq/budget.h>

#define KiB 1024ull
#define MiB (1024ull * 1024ull)
#define BYTES_MAX ((1ull << 40) - 1) /* the in-flight byte field: 40 bits */

static struct tsq_budget_opts cfg_of(uint64_t cap, unsigned shift, bool allow_one)
{
	struct tsq_budget_opts c = {
		.size = sizeof(c), .cap = cap, .pacing_shift = shift, .allow_one = allow_one
	};

	return c;
}

static struct tsq_budget_stats stats_of(const struct tsq_budget *b)
{
	struct tsq_budget_stats s;

	cr_assert_eq(tsq_budget_stats(b, &s), 0);
	return s;
}

/* ---- constants and init ---------------------------------------------------------------- */

Test(budget, constants)
{
	cr_assert_eq(TSQ_BUDGET_CAP_DEFAULT, 4194304ull, "today's tcp_limit_output_bytes: 4 MiB");
	cr_assert_eq(TSQ_BUDGET_CAP_2012, 131072ull, "the 2012 default: 128 KiB");
	cr_assert_eq(TSQ_BUDGET_PACING_SHIFT_DEFAULT, 10u, "~1 ms of the pacing rate");
	cr_assert_eq(TSQ_BUDGET_RATE_UNLIMITED, UINT64_MAX);
}

Test(budget, init_errors)
{
	struct tsq_budget b;
	struct tsq_budget_opts c = cfg_of(0, 0, false);

	cr_assert_eq(tsq_budget_init(NULL, NULL), -EINVAL);
	cr_assert_eq(tsq_budget_init(NULL, &c), -EINVAL);
	c.size = 0;
	cr_assert_eq(tsq_budget_init(&b, &c), -EINVAL, "size 0");
	c.size = offsetof(struct tsq_budget_opts, allow_one);
	cr_assert_eq(tsq_budget_init(&b, &c), -EINVAL, "shorter than the first version");
	c.size = offsetof(struct tsq_budget_opts, allow_one) + sizeof(bool);
	cr_assert_eq(tsq_budget_init(&b, &c), 0, "the first version without its padding");
	c = cfg_of(0, 64, false);
	cr_assert_eq(tsq_budget_init(&b, &c), -EINVAL, "shift 64");
	c = cfg_of(0, 1000, false);
	cr_assert_eq(tsq_budget_init(&b, &c), -EINVAL, "shift 1000");
	c = cfg_of(0, 63, false);
	cr_assert_eq(tsq_budget_init(&b, &c), 0, "shift 63 is the largest accepted");
}

Test(budget, init_accepts_a_larger_opts_with_a_zero_tail)
{
	/* Forward compatibility (libbpf's rule): a caller built against a newer, larger struct. */
	struct {
		struct tsq_budget_opts opts;
		uint64_t future_field;
	} big;
	struct tsq_budget b;

	memset(&big, 0, sizeof(big));
	big.opts.size = sizeof(big);
	big.opts.cap = 1000;
	cr_assert_eq(tsq_budget_init(&b, &big.opts), 0, "unknown tail all zero: accepted");
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), 1000u);
	big.future_field = 7;
	cr_assert_eq(tsq_budget_init(&b, &big.opts), -EINVAL, "a field this version does not know");
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), 1000u, "nothing changed");
}

Test(budget, defaults_with_null_cfg)
{
	struct tsq_budget b;
	struct tsq_budget_stats s;

	cr_assert_eq(tsq_budget_init(&b, NULL), 0);
	/* Learning, nothing learned yet: the startup limit, not the cap. */
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), 128 * KiB, "startup limit 128 KiB");
	/* Pacing unlimited: the pacing term never limits, the cap does. */
	tsq_budget_set_pacing_rate(&b, TSQ_BUDGET_RATE_UNLIMITED);
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), 4 * MiB, "cap 4 MiB with unlimited pacing");
	/* Shift 10: limit = rate >> 10. */
	tsq_budget_set_pacing_rate(&b, 1ull << 30);
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), 1 * MiB, "rate >> 10");
	/* No relaxation by default: one unit over the limit is throttled. */
	tsq_budget_set_pacing_rate(&b, 0);
	tsq_budget_charge(&b, 1000);
	cr_assert_not(tsq_budget_may_send(&b, &(struct tsq_flags)TSQ_FLAGS_INIT, 10, 0));
	s = stats_of(&b);
	cr_assert_eq(s.inflight_bytes, 1000u);
	cr_assert_eq(s.inflight_units, 1u);
	cr_assert_eq(s.throttles, 1u);
	cr_assert_eq(s.recheck_saves, 0u);
}

Test(budget, zero_fields_mean_defaults)
{
	struct tsq_budget b;
	struct tsq_budget_opts c = cfg_of(0, 0, false);
	struct tsq_budget_stats s;

	cr_assert_eq(tsq_budget_init(&b, &c), 0);
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), TSQ_BUDGET_CAP_2012,
		     "learning: the startup limit");
	tsq_budget_set_pacing_rate(&b, TSQ_BUDGET_RATE_UNLIMITED);
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), TSQ_BUDGET_CAP_DEFAULT);
	tsq_budget_set_pacing_rate(&b, 1ull << 30);
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), (1ull << 30) >> TSQ_BUDGET_PACING_SHIFT_DEFAULT);
	s = stats_of(&b);
	cr_assert_eq(s.inflight_bytes, 0u);
	cr_assert_eq(s.inflight_units, 0u);
	cr_assert_eq(s.throttles, 0u);
	cr_assert_eq(s.recheck_saves, 0u);
}

/* ---- the limit formula ----------------------------------------------------------------- */

Test(budget, limit_pacing_term)
{
	struct tsq_budget b;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 10000000); /* 80 Mbit/s */
	cr_assert_eq(tsq_budget_limit(&b, 100, 0), 10000000u >> 10,
		     "rate >> shift when above 2 x cost");
	tsq_budget_set_pacing_rate(&b, 125000000); /* 1 Gbit/s */
	cr_assert_eq(tsq_budget_limit(&b, 1500, 0), 125000000u >> 10);
}

Test(budget, limit_custom_shift)
{
	struct tsq_budget b;
	struct tsq_budget_opts c = cfg_of(0, 3, false);

	tsq_budget_init(&b, &c);
	tsq_budget_set_pacing_rate(&b, 8000);
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), 1000u, "8000 >> 3");
	c = cfg_of(0, 63, false);
	tsq_budget_init(&b, &c);
	tsq_budget_set_pacing_rate(&b, UINT64_MAX - 1);
	cr_assert_eq(tsq_budget_limit(&b, 0, 0), 1u, "shift 63 of a 64-bit rate");
}

Test(budget, limit_two_unit_floor)
{
	struct tsq_budget b;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 10000000); /* rate >> 10 = 9765 */
	cr_assert_eq(tsq_budget_limit(&b, 6000, 0), 12000u, "2 x cost above the pacing term");
	tsq_budget_set_pacing_rate(&b, 0);
	cr_assert_eq(tsq_budget_limit(&b, 1500, 0), 3000u, "no pacing rate: 2 x cost");
	cr_assert_eq(tsq_budget_limit(&b, 0, 0), 0u, "no rate, no cost: 0");
	cr_assert_eq(tsq_budget_limit(&b, UINT32_MAX, 0), TSQ_BUDGET_CAP_DEFAULT,
		     "the cap bounds the floor");
	{
		struct tsq_budget_opts c = cfg_of(UINT64_MAX, 0, false);

		tsq_budget_init(&b, &c);
		tsq_budget_set_pacing_rate(&b, 0);
		cr_assert_eq(tsq_budget_limit(&b, UINT32_MAX, 0), 2ull * UINT32_MAX,
			     "2 x cost does not wrap");
	}
}

Test(budget, limit_cap)
{
	struct tsq_budget b;
	struct tsq_budget_opts c = cfg_of(8000, 0, false);

	tsq_budget_init(&b, &c);
	cr_assert_eq(tsq_budget_limit(&b, 100, 0), 8000u, "unlimited pacing: the cap");
	tsq_budget_set_pacing_rate(&b, 1ull << 40);
	cr_assert_eq(tsq_budget_limit(&b, 100, 0), 8000u, "pacing term above the cap");
	cr_assert_eq(tsq_budget_limit(&b, 6000, 0), 8000u,
		     "the cap also bounds the 2 x cost floor");
	tsq_budget_set_pacing_rate(&b, 4000 << 10);
	cr_assert_eq(tsq_budget_limit(&b, 100, 0), 4000u, "below the cap the pacing term wins");
	/* A cap above the 40-bit field saturates, one maximal unit below its top. */
	c = cfg_of(UINT64_MAX, 0, false);
	tsq_budget_init(&b, &c);
	tsq_budget_set_pacing_rate(&b, TSQ_BUDGET_RATE_UNLIMITED);
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), TSQ_BUDGET_MAX_INFLIGHT);
	cr_assert_eq(tsq_budget_limit(&b, UINT32_MAX, 0), TSQ_BUDGET_MAX_INFLIGHT);
}

Test(budget, limit_factor_doubles_after_the_cap)
{
	struct tsq_budget b;
	struct tsq_budget_opts c = cfg_of(8000, 0, false);

	tsq_budget_init(&b, &c);
	cr_assert_eq(tsq_budget_limit(&b, 100, 1), 16000u, "retransmits: twice the capped limit");
	tsq_budget_set_pacing_rate(&b, 3000 << 10);
	cr_assert_eq(tsq_budget_limit(&b, 100, 0), 3000u);
	cr_assert_eq(tsq_budget_limit(&b, 100, 1), 6000u);
	cr_assert_eq(tsq_budget_limit(&b, 100, 2), 12000u);
	cr_assert_eq(tsq_budget_limit(&b, 100, 20), 3000ull << 20);
}

Test(budget, limit_large_factor_exact_while_it_fits)
{
	struct tsq_budget b;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 0);
	/* 2 << 30 = 2^31 fits the 40-bit field: no saturation. */
	cr_assert_eq(tsq_budget_limit(&b, 1, 30), 1ull << 31);
	cr_assert_eq(tsq_budget_limit(&b, 1, 38), 1ull << 39);
	cr_assert_eq(tsq_budget_limit(&b, 0, 39), 0u, "a zero limit stays zero");
}

Test(budget, limit_saturates_for_huge_factor)
{
	struct tsq_budget b;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, TSQ_BUDGET_RATE_UNLIMITED); /* the cap alone */
	/* 4 MiB << 18 = 2^40: past TSQ_BUDGET_MAX_INFLIGHT (2^40 - 2^32). */
	cr_assert_eq(tsq_budget_limit(&b, 1, 17), 4 * MiB << 17);
	cr_assert_eq(tsq_budget_limit(&b, 1, 18), TSQ_BUDGET_MAX_INFLIGHT);
	cr_assert_eq(tsq_budget_limit(&b, 1, 39), TSQ_BUDGET_MAX_INFLIGHT);
	cr_assert_eq(tsq_budget_limit(&b, 1, 40), TSQ_BUDGET_MAX_INFLIGHT);
	cr_assert_eq(tsq_budget_limit(&b, 1, 63), TSQ_BUDGET_MAX_INFLIGHT);
	cr_assert_eq(tsq_budget_limit(&b, 1, 64), TSQ_BUDGET_MAX_INFLIGHT, "no undefined shift");
	cr_assert_eq(tsq_budget_limit(&b, 1, 1000), TSQ_BUDGET_MAX_INFLIGHT);
	tsq_budget_set_pacing_rate(&b, 0);
	cr_assert_eq(tsq_budget_limit(&b, 1, 40), TSQ_BUDGET_MAX_INFLIGHT,
		     "2 << 40 overflows the field");
	cr_assert_eq(tsq_budget_limit(&b, 1, UINT32_MAX), TSQ_BUDGET_MAX_INFLIGHT);
}

Test(budget, set_pacing_rate_changes_the_limit)
{
	struct tsq_budget b;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 1 << 20);
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), 1024u);
	tsq_budget_set_pacing_rate(&b, TSQ_BUDGET_RATE_UNLIMITED);
	cr_assert_eq(tsq_budget_limit(&b, 1, 0), TSQ_BUDGET_CAP_DEFAULT);
}

/* ---- check() ------------------------------------------------------------------------- */

/* The sender may go while in_flight < limit (the kernel's 1 + sk_wmem_alloc <= limit). */
Test(budget, check_under_limit)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;
	struct tsq_budget_stats s;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 0); /* limit = 2 x next cost */
	cr_assert(tsq_budget_may_send(&b, &f, 100, 0), "nothing in flight");
	tsq_budget_charge(&b, 100);
	cr_assert(tsq_budget_may_send(&b, &f, 100, 0), "100 < 200");
	tsq_budget_charge(&b, 99);
	cr_assert(tsq_budget_may_send(&b, &f, 100, 0), "199 < 200");
	cr_assert_eq(tsq_flags_load(&f), 0u, "no flag touched");
	s = stats_of(&b);
	cr_assert_eq(s.throttles, 0u);
	cr_assert_eq(s.recheck_saves, 0u);
	tsq_budget_charge(&b, 1);
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0),
		      "200 >= 200: the limit itself stops (two units fill it)");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED);
}

/* Nothing in flight: no completion could restart the flow, so it never stops. */
Test(budget, check_never_stops_with_nothing_in_flight)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 0);
	cr_assert_eq(tsq_budget_limit(&b, 0, 0), 0u);
	cr_assert(tsq_budget_may_send(&b, &f, 0, 0), "limit 0, nothing in flight: go");
	cr_assert_eq(tsq_flags_load(&f), 0u);
	/* The same after a full charge/complete cycle. */
	tsq_budget_charge(&b, 5000);
	cr_assert_not(tsq_budget_may_send(&b, &f, 0, 0));
	cr_assert(tsq_budget_complete(&b, &f, 5000));
	cr_assert(tsq_budget_may_send(&b, &f, 0, 0));
	cr_assert_eq(stats_of(&b).throttles, 1u);
	/* One zero-byte unit in flight is something in flight: 0 >= limit 0 stops. */
	tsq_budget_charge(&b, 0);
	cr_assert_not(tsq_budget_may_send(&b, &f, 0, 0));
}

Test(budget, check_over_limit_throttles)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;
	struct tsq_budget_stats s;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 0);
	tsq_budget_charge(&b, 100);
	tsq_budget_charge(&b, 101);
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0), "201 > 200");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED);
	s = stats_of(&b);
	cr_assert_eq(s.throttles, 1u);
	cr_assert_eq(s.recheck_saves, 0u);
	/* Checking again while throttled: still stopped, counted again, flag unchanged. */
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0));
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED);
	cr_assert_eq(stats_of(&b).throttles, 2u);
	/* The retransmit factor lets the same state go. */
	cr_assert(tsq_budget_may_send(&b, &f, 100, 1), "201 < 400");
	cr_assert_eq(stats_of(&b).throttles, 2u);
}

Test(budget, check_over_limit_keeps_other_bits)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 0);
	f.word = TSQ_F_QUEUED | TSQ_F_DEFERRED;
	tsq_budget_charge(&b, 1000);
	cr_assert_not(tsq_budget_may_send(&b, &f, 1, 0));
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED | TSQ_F_DEFERRED);
}

Test(budget, allow_one_relaxation)
{
	struct tsq_budget b;
	struct tsq_budget_opts c = cfg_of(0, 0, true);
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, &c);
	tsq_budget_set_pacing_rate(&b, 0);
	cr_assert(tsq_budget_may_send(&b, &f, 10, 0), "zero units in flight");
	tsq_budget_charge(&b, 100000);
	cr_assert(tsq_budget_may_send(&b, &f, 10, 0), "one unit, far over the byte limit, may go");
	cr_assert_eq(tsq_flags_load(&f), 0u);
	cr_assert_eq(stats_of(&b).throttles, 0u);
	tsq_budget_charge(&b, 1);
	cr_assert_not(tsq_budget_may_send(&b, &f, 10, 0), "two units over the limit: throttled");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED);
	cr_assert_eq(stats_of(&b).throttles, 1u);
	/* A zero-byte unit still counts as a unit. */
	tsq_budget_init(&b, &c);
	tsq_budget_set_pacing_rate(&b, 0);
	f.word = 0;
	tsq_budget_charge(&b, 0);
	tsq_budget_charge(&b, 50);
	cr_assert_not(tsq_budget_may_send(&b, &f, 10, 0), "50 > 20 with two units");
}

Test(budget, allow_one_off_throttles_a_single_unit)
{
	struct tsq_budget b;
	struct tsq_budget_opts c = cfg_of(0, 0, false);
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, &c);
	tsq_budget_set_pacing_rate(&b, 0);
	tsq_budget_charge(&b, 100000);
	cr_assert_not(tsq_budget_may_send(&b, &f, 10, 0));
}

/* ---- charge / complete -------------------------------------------------------------- */

Test(budget, charge_complete_accounting)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;
	struct tsq_budget_stats s;

	tsq_budget_init(&b, NULL);
	tsq_budget_charge(&b, 100);
	tsq_budget_charge(&b, 200);
	tsq_budget_charge(&b, 0);
	s = stats_of(&b);
	cr_assert_eq(s.inflight_bytes, 300u);
	cr_assert_eq(s.inflight_units, 3u);
	cr_assert_eq(tsq_budget_inflight(&b), 300u);
	cr_assert_not(tsq_budget_complete(&b, &f, 200), "not throttled: nothing to restart");
	s = stats_of(&b);
	cr_assert_eq(s.inflight_bytes, 100u);
	cr_assert_eq(s.inflight_units, 2u);
	cr_assert_not(tsq_budget_complete(&b, &f, 0));
	cr_assert_not(tsq_budget_complete(&b, &f, 100));
	s = stats_of(&b);
	cr_assert_eq(s.inflight_bytes, 0u);
	cr_assert_eq(s.inflight_units, 0u);
	cr_assert_eq(tsq_flags_load(&f), 0u, "the fast path writes no flag");
}

Test(budget, charge_large_costs_do_not_carry_into_units)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;
	struct tsq_budget_stats s;

	tsq_budget_init(&b, NULL);
	for (int i = 0; i < 200; i++)
		tsq_budget_charge(&b, UINT32_MAX);
	s = stats_of(&b);
	cr_assert_eq(s.inflight_bytes, 200ull * UINT32_MAX);
	cr_assert_eq(s.inflight_units, 200u);
	for (int i = 0; i < 200; i++)
		tsq_budget_complete(&b, &f, UINT32_MAX);
	s = stats_of(&b);
	cr_assert_eq(s.inflight_bytes, 0u);
	cr_assert_eq(s.inflight_units, 0u);
}

Test(budget, charge_many_units)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, NULL);
	for (int i = 0; i < 100000; i++)
		tsq_budget_charge(&b, 1);
	cr_assert_eq(stats_of(&b).inflight_units, 100000u);
	cr_assert_eq(stats_of(&b).inflight_bytes, 100000u);
	for (int i = 0; i < 100000; i++)
		tsq_budget_complete(&b, &f, 1);
	cr_assert_eq(stats_of(&b).inflight_units, 0u);
	cr_assert_eq(stats_of(&b).inflight_bytes, 0u);
}

Test(budget, complete_wins_throttled_to_queued)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 0);
	for (int i = 0; i < 4; i++)
		tsq_budget_charge(&b, 100);
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0), "400 > 200");
	cr_assert(tsq_budget_complete(&b, &f, 100), "the first completion after the throttle wins");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED, "THROTTLED moved to QUEUED");
	cr_assert_not(tsq_budget_complete(&b, &f, 100), "QUEUED: no second winner");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED);
	/* The sender throttles again while queued; completions still do not queue twice. */
	cr_assert_not(tsq_budget_may_send(&b, &f, 10, 0), "200 > 20");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED);
	cr_assert_not(tsq_budget_complete(&b, &f, 100));
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED);
	/* The worker unqueues: the next completion may queue again. */
	tsq_flags_unqueue(&f);
	cr_assert(tsq_budget_complete(&b, &f, 100));
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED);
	cr_assert_eq(stats_of(&b).inflight_bytes, 0u);
	cr_assert_eq(stats_of(&b).inflight_units, 0u);
}

Test(budget, complete_leaves_deferred_bits)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, NULL);
	tsq_budget_charge(&b, 10);
	f.word = TSQ_F_THROTTLED | TSQ_F_DEFERRED | TSQ_F_USER(4);
	cr_assert(tsq_budget_complete(&b, &f, 10));
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED | TSQ_F_DEFERRED | TSQ_F_USER(4));
}

Test(budget, complete_when_only_deferred)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, NULL);
	tsq_budget_charge(&b, 10);
	f.word = TSQ_F_DEFERRED;
	cr_assert_not(tsq_budget_complete(&b, &f, 10));
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_DEFERRED);
}

/* ---- the re-check, raced for real ------------------------------------------------------ */

/*
 * A sender and a completion thread, lock-step per round: one unit of 100 bytes is in flight,
 * the limit is 2 x 10 = 20, so the sender's first load sees "over" unless the completion has
 * already uncharged. Outcomes per round:
 *   check false, counters unchanged   the fast path saw the room
 *   check false, recheck_saves + 1    F1 set THROTTLED, B1 saw the room, THROTTLED withdrawn
 *   check true,  throttles + 1        the completion must then have won THROTTLED -> QUEUED
 * The last line is the lost-wake-up property: a stop without a restart fails the test. Which
 * outcomes occur depends on timing, so the counts are reported, not asserted.
 */
#define RACE_ROUNDS 4000

struct race {
	struct tsq_budget b;
	struct tsq_flags f;
	unsigned round; /* the completion runs round n when round == 2n + 1 */
	unsigned queued[RACE_ROUNDS];
};

/* Spin (yielding now and then, so that a serialising valgrind still gets through). */
static void race_wait(const unsigned *p, unsigned want)
{
	for (unsigned spins = 1; tsq_load(p, TSQ_ACQUIRE) != want; spins++) {
		if (spins % 512 == 0)
			sched_yield();
		else
			tsq_cpu_relax();
	}
}

/* Some relax iterations, different each round, so that both orders of the race happen. */
static void race_jitter(unsigned n, unsigned salt, unsigned bits)
{
	unsigned d = ((n * 2654435761u) ^ salt) >> (32 - bits);

	while (d-- > 0)
		tsq_cpu_relax();
}

/* Put the caller on its own CPU when there are two, so that the two sides really overlap. */
static void race_pin(int cpu)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) < 2)
		return;
	for (int c = 0, seen = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set) || seen++ != cpu)
			continue;
		CPU_ZERO(&set);
		CPU_SET(c, &set);
		(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort */
		return;
	}
}

static void *race_completer(void *arg)
{
	struct race *r = (struct race *)arg;

	race_pin(1);
	for (unsigned n = 0; n < RACE_ROUNDS; n++) {
		race_wait(&r->round, 2 * n + 1);
		race_jitter(n, 0x5bd1e995u, 4);
		r->queued[n] = tsq_budget_complete(&r->b, &r->f, 100);
		tsq_store(&r->round, 2 * n + 2, TSQ_RELEASE);
	}
	return NULL;
}

Test(budget, recheck_race_never_loses_a_restart)
{
	static struct race r;
	pthread_t t;
	uint64_t stops = 0, goes = 0, saves_before;
	struct tsq_budget_stats s;

	tsq_budget_init(&r.b, NULL);
	tsq_budget_set_pacing_rate(&r.b, 0);
	r.f.word = 0;
	r.round = 0;
	race_pin(0); /* this test runs in its own (forked) process: the pin dies with it */
	cr_assert_eq(pthread_create(&t, NULL, race_completer, &r), 0);
	for (unsigned n = 0; n < RACE_ROUNDS; n++) {
		bool stopped;

		tsq_budget_charge(&r.b, 100);
		saves_before = stats_of(&r.b).recheck_saves;
		tsq_store(&r.round, 2 * n + 1, TSQ_RELEASE); /* go, completion */
		race_jitter(n, 0x9e3779b9u, 11);
		stopped = !tsq_budget_may_send(&r.b, &r.f, 10, 0);
		race_wait(&r.round, 2 * n + 2);
		s = stats_of(&r.b);
		if (stopped) {
			stops++;
			cr_assert(r.queued[n],
				  "round %u: the sender stopped and no completion queued it", n);
		} else {
			goes++;
			cr_assert_leq(s.recheck_saves - saves_before, 1u);
		}
		/* Either the completion queued the flow, or THROTTLED is clear. */
		cr_assert(tsq_flags_load(&r.f) == 0 || tsq_flags_load(&r.f) == TSQ_F_QUEUED,
			  "round %u: flags %#x", n, tsq_flags_load(&r.f));
		if (r.queued[n])
			tsq_flags_unqueue(&r.f); /* the worker's part */
		cr_assert_eq(s.inflight_bytes, 0u);
		cr_assert_eq(s.inflight_units, 0u);
	}
	pthread_join(t, NULL);
	s = stats_of(&r.b);
	cr_assert_eq(s.throttles, stops, "throttles counts exactly the stops");
	cr_assert_leq(s.recheck_saves, goes, "a save is a go");
	cr_assert_eq(tsq_flags_load(&r.f), 0u);
	cr_log_info("re-check race: %u rounds, %llu stops, %llu goes, %llu re-check saves",
		    RACE_ROUNDS, (unsigned long long)stops, (unsigned long long)goes,
		    (unsigned long long)s.recheck_saves);
}

/* ---- size goals ---------------------------------------------------------------------- */

Test(budget, size_goal_seed_half_the_limit)
{
	cr_assert_eq(tsq_budget_size_goal_half_limit(TSQ_BUDGET_CAP_2012, 65536), 65536u,
		     "128 KiB: two 64 KiB bursts");
	cr_assert_eq(tsq_budget_size_goal_half_limit(TSQ_BUDGET_CAP_2012, 100000), 65536u);
	cr_assert_eq(tsq_budget_size_goal_half_limit(40000, 65536), 20000u,
		     "the 2012 example: limit 40000");
	cr_assert_eq(tsq_budget_size_goal_half_limit(40000, 1448), 1448u, "a smaller goal is kept");
	cr_assert_eq(tsq_budget_size_goal_half_limit(1, 65536), 1u, "at least 1");
	cr_assert_eq(tsq_budget_size_goal_half_limit(0, 65536), 1u, "at least 1");
	cr_assert_eq(tsq_budget_size_goal_half_limit(1ull << 40, UINT32_MAX), UINT32_MAX,
		     "half above 32 bits");
}

Test(budget, size_goal_one_ms_of_rate)
{
	/* 80 Mbit/s: 9765 bytes per ~ms -> 6 segments of 1448. */
	cr_assert_eq(tsq_budget_size_goal(10000000, 10, 1448, 2, 65536), 6u * 1448u);
	/* 1 Gbit/s: 122070 bytes, capped at 64 KiB, rounded down to 45 segments. */
	cr_assert_eq(tsq_budget_size_goal(125000000, 10, 1448, 2, 65536), 45u * 1448u);
	/* Unlimited rate: max_bytes, whole segments. */
	cr_assert_eq(tsq_budget_size_goal(TSQ_BUDGET_RATE_UNLIMITED, 10, 1000, 2, 65536), 65000u);
	/* A smaller shift means a larger share of the rate. */
	cr_assert_eq(tsq_budget_size_goal(1000000, 8, 1000, 1, 65536), 3000u, "1e6 >> 8 = 3906");
}

Test(budget, size_goal_min_segs)
{
	/* 1 Mbit-ish: 976 bytes per ms, less than one segment -> min_segs. */
	cr_assert_eq(tsq_budget_size_goal(1000000, 10, 1448, 2, 65536), 2u * 1448u);
	cr_assert_eq(tsq_budget_size_goal(0, 10, 1448, 2, 65536), 2u * 1448u, "no rate: min_segs");
	cr_assert_eq(tsq_budget_size_goal(0, 10, 1448, 0, 65536), 0u, "no rate, no minimum");
	cr_assert_eq(tsq_budget_size_goal(1000, 64, 1448, 3, 65536), 3u * 1448u,
		     "shift > 63: min_segs");
	/* min_segs above max_bytes: max_bytes wins, in whole segments. */
	cr_assert_eq(tsq_budget_size_goal(0, 10, 1448, 100, 65536), 45u * 1448u);
	/* Not one segment fits in max_bytes: min_segs wins (a burst is at least one segment). */
	cr_assert_eq(tsq_budget_size_goal(0, 10, 1448, 2, 1000), 2u * 1448u);
}

Test(budget, size_goal_does_not_wrap)
{
	/* min_segs * mss above 32 bits saturates at whole segments instead of wrapping to 0. */
	uint32_t g = tsq_budget_size_goal(0, 10, 1u << 20, 1u << 12, 100);

	cr_assert_neq(g, 0u);
	cr_assert_eq(g % (1u << 20), 0u, "whole segments");
	cr_assert_eq(g, UINT32_MAX / (1u << 20) * (1u << 20));
}

Test(budget, size_goal_mss_zero)
{
	cr_assert_eq(tsq_budget_size_goal(125000000, 10, 0, 2, 65536), 0u);
	cr_assert_eq(tsq_budget_size_goal(0, 10, 0, 0, 0), 0u);
}

/* ---- misuse and bad input (tests/README.md) ------------------------------------------- */

Test(budget, max_constants_leave_room_for_one_more_unit)
{
	cr_assert_eq(TSQ_BUDGET_MAX_INFLIGHT, (1ull << 40) - (1ull << 32));
	cr_assert_eq(TSQ_BUDGET_MAX_INFLIGHT + UINT32_MAX, BYTES_MAX,
		     "one maximal unit still fits");
	cr_assert_eq(TSQ_BUDGET_MAX_UNITS, (1u << 24) - 1);
}

/*
 * Misuse table: cap UINT64_MAX and 4 GiB charges. The byte field used to overflow at charge
 * 257 (256 x (2^32 - 1) = 2^40 - 256 < 2^40 - 1), and the flow was never throttled again.
 */
Test(budget, max_cost_charges_stop_before_the_byte_field_overflows)
{
	for (unsigned factor = 0; factor < 2; factor++) {
		struct tsq_budget b;
		struct tsq_budget_opts c = cfg_of(UINT64_MAX, 0, false);
		struct tsq_flags f = TSQ_FLAGS_INIT;
		struct tsq_budget_stats s;
		unsigned n = 0;

		tsq_budget_init(&b, &c);
		tsq_budget_set_pacing_rate(&b, TSQ_BUDGET_RATE_UNLIMITED); /* the cap alone */
		while (tsq_budget_may_send(&b, &f, UINT32_MAX, factor) && n < 1000) {
			tsq_budget_charge(&b, UINT32_MAX);
			n++;
		}
		cr_assert_eq(n, 256u, "factor %u: %u charges of 4 GiB - 1 went", factor, n);
		s = stats_of(&b);
		cr_assert_eq(s.inflight_units, 256u);
		cr_assert_eq(s.inflight_bytes, 256ull * UINT32_MAX, "no wrap: 2^40 - 256");
		cr_assert_leq(s.inflight_bytes, BYTES_MAX);
		cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED, "stopped, restart armed");
		cr_assert_not(tsq_budget_may_send(&b, &f, 1, factor), "a small unit stops too");
		/* Completions bring it back, and the first one restarts the flow. */
		cr_assert(tsq_budget_complete(&b, &f, UINT32_MAX));
		cr_assert(tsq_budget_may_send(&b, &f, UINT32_MAX, factor),
			  "room for exactly one more");
		for (unsigned i = 1; i < 256; i++)
			tsq_budget_complete(&b, &f, UINT32_MAX);
		s = stats_of(&b);
		cr_assert_eq(s.inflight_units, 0u);
		cr_assert_eq(s.inflight_bytes, 0u);
		cr_assert_eq(s.unmatched_completions, 0u);
	}
}

/*
 * Misuse table: 2^24 units in flight. Zero-cost units never reach a byte limit; the 24-bit
 * unit count used to wrap to 0 ("nothing in flight": go), so the sender went on without limit.
 */
Test(budget, the_unit_count_stops_before_it_wraps, .timeout = 120)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;
	struct tsq_budget_stats s;
	uint64_t n = 0;

	tsq_budget_init(&b, NULL); /* 4 MiB cap */
	while (tsq_budget_may_send(&b, &f, 0, 0) && n < (1ull << 25)) {
		tsq_budget_charge(&b, 0);
		n++;
	}
	cr_assert_eq(n, (uint64_t)TSQ_BUDGET_MAX_UNITS, "%llu zero-cost units went",
		     (unsigned long long)n);
	s = stats_of(&b);
	cr_assert_eq(s.inflight_units, TSQ_BUDGET_MAX_UNITS);
	cr_assert_eq(s.inflight_bytes, 0u);
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED);
	cr_assert_not(tsq_budget_may_send(&b, &f, 1000, 5), "any cost, any factor: stop");
	/* allow_one does not lift it (that is for zero or one unit). */
	b.allow_one = true;
	cr_assert_not(tsq_budget_may_send(&b, &f, 0, 0));
	cr_assert(tsq_budget_complete(&b, &f, 0), "the first completion restarts the flow");
	cr_assert(tsq_budget_may_send(&b, &f, 0, 0));
	s = stats_of(&b);
	cr_assert_eq(s.inflight_units, TSQ_BUDGET_MAX_UNITS - 1);
	cr_assert_eq(s.unmatched_completions, 0u);
}

#ifdef TSQ_DEBUG
/* Charging on past a stop until the fields overflow (the fields are set up directly). */
Test(budget, debug_charge_that_would_wrap_the_units_aborts, .signal = SIGABRT)
{
	struct tsq_budget b;

	tsq_budget_init(&b, NULL);
	b.inflight = (uint64_t)TSQ_BUDGET_MAX_UNITS << 40;
	tsq_budget_charge(&b, 0);
	cr_assert_fail("charge past 2^24 - 1 units returned");
}

Test(budget, debug_charge_that_would_wrap_the_bytes_aborts, .signal = SIGABRT)
{
	struct tsq_budget b;

	tsq_budget_init(&b, NULL);
	b.inflight = (1ull << 40) | (BYTES_MAX - 10);
	tsq_budget_charge(&b, 10); /* exactly full: fine */
	tsq_budget_complete(&b, &(struct tsq_flags)TSQ_FLAGS_INIT, 10);
	tsq_budget_charge(&b, 11);
	cr_assert_fail("charge past the 40-bit byte field returned");
}

/* Misuse table: a completion without a charge, a second one, or one of too many bytes. */

/* Charges `charges` units of 100 bytes, then completes `bytes[]` in turn: the last one aborts. */
static void charge_then_complete(int charges, const uint32_t *bytes, int n)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, NULL);
	for (int i = 0; i < charges; i++)
		tsq_budget_charge(&b, 100);
	for (int i = 0; i < n; i++)
		tsq_budget_complete(&b, &f, bytes[i]);
}

Test(budget, debug_complete_without_a_charge_aborts, .signal = SIGABRT)
{
	charge_then_complete(0, (const uint32_t[]){ 100 }, 1);
	cr_assert_fail("completion without a charge returned");
}

Test(budget, debug_complete_twice_aborts, .signal = SIGABRT)
{
	charge_then_complete(1, (const uint32_t[]){ 100, 100 }, 2);
	cr_assert_fail("second completion returned");
}

Test(budget, debug_complete_of_more_bytes_than_in_flight_aborts, .signal = SIGABRT)
{
	charge_then_complete(2, (const uint32_t[]){ 300 }, 1);
	cr_assert_fail("completion of 300 with 200 in flight returned");
}
#else
/* Misuse table, release builds: clamp at zero and count, never "1 TiB in flight". */

/* What the stats show in flight, and the unmatched completions counted so far. */
static void assert_inflight(const struct tsq_budget *b, uint64_t units, uint64_t bytes,
			    uint64_t unmatched)
{
	struct tsq_budget_stats s = stats_of(b);

	cr_assert_eq(s.inflight_units, units);
	cr_assert_eq(s.inflight_bytes, bytes);
	cr_assert_eq(s.unmatched_completions, unmatched);
}

Test(budget, complete_without_a_charge_clamps_at_zero_and_counts)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 0);
	cr_assert_not(tsq_budget_complete(&b, &f, 100));
	assert_inflight(&b, 0u, 0u, 1u);
	/* The flow still works: two units fill 2 x 100, completions bring it back. */
	cr_assert(tsq_budget_may_send(&b, &f, 100, 0));
	tsq_budget_charge(&b, 100);
	cr_assert(tsq_budget_may_send(&b, &f, 100, 0));
	tsq_budget_charge(&b, 100);
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0));
	cr_assert(tsq_budget_complete(&b, &f, 100));
	cr_assert_not(tsq_budget_complete(&b, &f, 100));
	assert_inflight(&b, 0u, 0u, 1u);
}

/* A budget with the default cap, no pacing rate, and two 100-byte units in flight. */
static void two_units_in_flight(struct tsq_budget *b)
{
	tsq_budget_init(b, NULL);
	tsq_budget_set_pacing_rate(b, 0);
	tsq_budget_charge(b, 100);
	tsq_budget_charge(b, 100);
}

Test(budget, complete_twice_clamps_at_zero_and_counts)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	two_units_in_flight(&b);
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0), "200 >= 200");
	cr_assert(tsq_budget_complete(&b, &f, 100));
	cr_assert_not(tsq_budget_complete(&b, &f, 100));
	cr_assert_not(tsq_budget_complete(&b, &f, 100), "one completion too many");
	assert_inflight(&b, 0u, 0u, 1u);
	cr_assert(tsq_budget_may_send(&b, &f, UINT32_MAX, 0), "not throttled forever");
}

Test(budget, complete_of_more_bytes_than_in_flight_clamps_the_bytes)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;
	struct tsq_budget_stats s;

	tsq_budget_init(&b, NULL);
	tsq_budget_charge(&b, 100);
	tsq_budget_charge(&b, 100);
	tsq_budget_complete(&b, &f, 300); /* one unit, but more bytes than the two together */
	s = stats_of(&b);
	cr_assert_eq(s.inflight_units, 1u, "the unit was there: taken");
	cr_assert_eq(s.inflight_bytes, 0u, "the bytes clamp at zero, no borrow from the units");
	cr_assert_eq(s.unmatched_completions, 1u);
	/* A wrong unit count with bytes left (units 0, bytes 0 afterwards): clamped per field. */
	tsq_budget_complete(&b, &f, 0);
	tsq_budget_complete(&b, &f, 0);
	assert_inflight(&b, 0u, 0u, 2u);
}

/* A THROTTLED flow that meets an unmatched completion is still restarted exactly once. */
Test(budget, an_unmatched_completion_still_restarts_a_throttled_flow)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	two_units_in_flight(&b);
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0));
	cr_assert(tsq_budget_complete(&b, &f, 500), "a winner, even though it was clamped");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED);
	cr_assert_eq(stats_of(&b).unmatched_completions, 1u);
}
#endif

/* ---- stats --------------------------------------------------------------------------- */

Test(budget, stats_errors)
{
	struct tsq_budget b;
	struct tsq_budget_stats s;

	tsq_budget_init(&b, NULL);
	cr_assert_eq(tsq_budget_stats(NULL, &s), -EINVAL);
	cr_assert_eq(tsq_budget_stats(&b, NULL), -EINVAL);
	cr_assert_eq(tsq_budget_stats(NULL, NULL), -EINVAL);
}

Test(budget, stats_counts)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;
	struct tsq_budget_stats s;

	tsq_budget_init(&b, NULL);
	tsq_budget_set_pacing_rate(&b, 0);
	tsq_budget_charge(&b, 500);
	tsq_budget_charge(&b, 700);
	for (int i = 0; i < 3; i++)
		cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0));
	s = stats_of(&b);
	cr_assert_eq(s.inflight_bytes, 1200u);
	cr_assert_eq(s.inflight_units, 2u);
	cr_assert_eq(s.throttles, 3u);
	cr_assert_eq(s.recheck_saves, 0u);
	cr_assert_eq(s.unmatched_completions, 0u);
	/* Re-init clears everything. */
	tsq_budget_init(&b, NULL);
	s = stats_of(&b);
	cr_assert_eq(s.inflight_bytes, 0u);
	cr_assert_eq(s.throttles, 0u);
}

/* ---- the header's Usage block ---------------------------------------------------------- */

static unsigned usage_units, usage_in_ring, usage_queued;

static bool have_data(void)
{
	return usage_units > 0;
}

static void hand_to_ring(uint32_t c)
{
	(void)c;
	usage_units--;
	usage_in_ring++;
}

static void queue_flow_for_its_worker(void)
{
	usage_queued++;
}

Test(budget, usage_block_runs)
{
	/* The Usage block of budget.h: 1500-byte units at 1 Gbit/s (limit ~122 KB: 81 units). */
	const uint32_t cost = 1500;

	usage_units = 1000;
	usage_in_ring = usage_queued = 0;
	struct tsq_budget b;
	struct tsq_flags fl = TSQ_FLAGS_INIT;
	tsq_budget_init(&b, NULL);                 // cap 4 MiB, shift 10, rate learned
	tsq_budget_set_pacing_rate(&b, 125000000); // have one? 1 Gbit/s in bytes/s
	while (have_data() && tsq_budget_may_send(&b, &fl, cost, 0)) {
		tsq_budget_charge(&b, cost);
		hand_to_ring(cost);
	}
	cr_assert_eq(usage_in_ring, (125000000u >> 10) / cost + 1, "stopped at the ~1 ms limit");
	cr_assert(tsq_flags_load(&fl) & TSQ_F_THROTTLED);
	// completion context, for each unit:
	for (unsigned i = 0; i < usage_in_ring; i++)
		if (tsq_budget_complete(&b, &fl, cost))
			queue_flow_for_its_worker();
	cr_assert_eq(usage_queued, 1u, "exactly one completion restarts the flow");
	cr_assert_eq(tsq_budget_inflight(&b), 0u);
}
