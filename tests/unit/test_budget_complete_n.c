/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for the multi-unit completions of tsq/budget.h (tsq_budget_complete_n and _n_at):
 * the same in-flight amounts, restarts, flags and learned rate as one completion per unit;
 * units 0 does nothing; more than is in flight is clamped and counted once (TSQ_DEBUG:
 * aborts). The ordering argument (one SEQ_CST uncharge for all the units) is model (d) of
 * tests/check/tsq_model.c; flow.h's wrappers are in test_flow_single_thread.c.
 */
#include <signal.h>
#include <stdint.h>

#include <criterion/criterion.h>

/* A stopped clock for tsq_budget_complete_n(): no window closes unless _at is used. */
#define TSQ_CFG_NOW_NS() 0ull
#include <tsq/budget.h>

static struct tsq_budget_stats stats_of(const struct tsq_budget *b)
{
	struct tsq_budget_stats s;

	cr_assert_eq(tsq_budget_stats(b, &s), 0);
	return s;
}

/* A budget with a fixed rate 0 (the limit is the two-unit floor) and `n` units of `cost`. */
static void charged(struct tsq_budget *b, unsigned n, uint32_t cost)
{
	cr_assert_eq(tsq_budget_init(b, NULL), 0);
	tsq_budget_set_pacing_rate(b, 0);
	for (unsigned i = 0; i < n; i++)
		tsq_budget_charge(b, cost);
}

/*
 * A deterministic trace of batches: each round the sender charges until the budget stops it
 * (THROTTLED), then a batch of 1..5 units completes, one by one on `one` and at once on
 * `many`. The two budgets must agree after every batch: in flight, flags, and whether the
 * batch restarts the flow (exactly one single completion wins when the n-completion does).
 */
Test(budget_complete_n, a_batch_is_the_same_as_its_single_completions)
{
	struct tsq_budget one, many;
	struct tsq_flags f1 = TSQ_FLAGS_INIT, fn = TSQ_FLAGS_INIT;
	struct tsq_budget_opts o = { .size = sizeof(o), .cap = 64u * 1500u };
	uint32_t lcg = 12345u, inflight = 0;

	cr_assert_eq(tsq_budget_init(&one, &o), 0);
	cr_assert_eq(tsq_budget_init(&many, &o), 0);
	tsq_budget_set_pacing_rate(&one, UINT64_MAX);
	tsq_budget_set_pacing_rate(&many, UINT64_MAX);
	for (int round = 0; round < 2000; round++) {
		uint32_t batch, wins = 0;
		bool go1, gon;

		do {
			go1 = tsq_budget_may_send(&one, &f1, 1500, 0);
			gon = tsq_budget_may_send(&many, &fn, 1500, 0);
			cr_assert_eq(go1, gon, "round %d: the checks differ", round);
			if (go1) {
				tsq_budget_charge(&one, 1500);
				tsq_budget_charge(&many, 1500);
				inflight++;
			}
		} while (go1);
		lcg = lcg * 1103515245u + 12345u;
		batch = 1 + (lcg >> 16) % 5;
		batch = batch < inflight ? batch : inflight;
		for (uint32_t i = 0; i < batch; i++)
			wins += tsq_budget_complete(&one, &f1, 1500);
		cr_assert_eq(tsq_budget_complete_n(&many, &fn, 1500ull * batch, batch), wins == 1,
			     "round %d: the restart differs", round);
		cr_assert_leq(wins, 1u);
		inflight -= batch;
		cr_assert_eq(stats_of(&one).inflight_units, stats_of(&many).inflight_units);
		cr_assert_eq(stats_of(&one).inflight_bytes, stats_of(&many).inflight_bytes);
		cr_assert_eq(tsq_flags_load(&f1), tsq_flags_load(&fn));
		/* The worker's restart: it clears QUEUED (FLAGS_S3), the loop above sends again. */
		tsq_flags_unqueue(&f1);
		tsq_flags_unqueue(&fn);
	}
	cr_assert_eq(stats_of(&many).unmatched_completions, 0u);
}

Test(budget_complete_n, zero_units_do_nothing)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	charged(&b, 2, 100);
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0), "throttled at the floor");
	cr_assert_not(tsq_budget_complete_n(&b, &f, 0, 0));
	cr_assert_not(tsq_budget_complete_n_at(&b, &f, 500, 0, 1));
	cr_assert_eq(stats_of(&b).inflight_units, 2u);
	cr_assert_eq(stats_of(&b).inflight_bytes, 200u);
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED, "nobody restarted it");
}

Test(budget_complete_n, the_whole_batch_restarts_a_throttled_flow_once)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	charged(&b, 2, 100);
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0));
	cr_assert(tsq_budget_complete_n_at(&b, &f, 200, 2, 1000), "the winner");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED);
	cr_assert_eq(stats_of(&b).inflight_units, 0u);
	cr_assert_eq(stats_of(&b).inflight_bytes, 0u);
}

/*
 * The learned rate: 10 units of 1000 bytes every 100 us, completed one by one or at once at
 * the same time: the window that closes after 1 ms counts 100000 bytes either way.
 */
Test(budget_complete_n, the_learned_rate_is_the_same_as_with_single_completions)
{
	struct tsq_budget one, many;
	struct tsq_flags f1 = TSQ_FLAGS_INIT, fn = TSQ_FLAGS_INIT;
	uint64_t now = 5000000;

	cr_assert_eq(tsq_budget_init(&one, NULL), 0);
	cr_assert_eq(tsq_budget_init(&many, NULL), 0);
	for (int round = 0; round <= 10; round++, now += 100000) {
		for (int i = 0; i < 10; i++) {
			tsq_budget_charge(&one, 1000);
			tsq_budget_charge(&many, 1000);
		}
		for (int i = 0; i < 10; i++)
			tsq_budget_complete_at(&one, &f1, 1000, now);
		tsq_budget_complete_n_at(&many, &fn, 10000, 10, now);
	}
	cr_assert_eq(stats_of(&one).rate_samples, 1u);
	cr_assert_eq(stats_of(&many).rate_samples, 1u);
	cr_assert_eq(tsq_budget_rate(&one), 100000000u, "1e5 bytes per ms");
	cr_assert_eq(tsq_budget_rate(&many), tsq_budget_rate(&one));
}

#ifdef TSQ_DEBUG
Test(budget_complete_n, debug_more_units_than_in_flight_aborts, .signal = SIGABRT)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	charged(&b, 2, 100);
	tsq_budget_complete_n(&b, &f, 300, 3);
	cr_assert_fail("a batch of 3 with 2 in flight returned");
}
#else
Test(budget_complete_n, more_than_in_flight_clamps_at_zero_and_counts_once)
{
	struct tsq_budget b;
	struct tsq_flags f = TSQ_FLAGS_INIT;

	charged(&b, 2, 100);
	cr_assert_not(tsq_budget_may_send(&b, &f, 100, 0));
	cr_assert(tsq_budget_complete_n(&b, &f, 300, 3), "still the restart");
	cr_assert_eq(stats_of(&b).inflight_units, 0u);
	cr_assert_eq(stats_of(&b).inflight_bytes, 0u);
	cr_assert_eq(stats_of(&b).unmatched_completions, 1u);
	/* Beyond anything that can be in flight: cut, clamped, counted; no wrap. */
	charged(&b, 1, 100);
	cr_assert_not(tsq_budget_complete_n(&b, &f, UINT64_MAX, UINT32_MAX));
	cr_assert_eq(stats_of(&b).inflight_units, 0u);
	cr_assert_eq(stats_of(&b).inflight_bytes, 0u);
	cr_assert_eq(stats_of(&b).unmatched_completions, 1u);
	cr_assert(tsq_budget_may_send(&b, &f, UINT32_MAX, 0), "not throttled forever");
}
#endif
