/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for tsq/dql.h against traces worked out by hand from KERNEL-SEMANTICS.md §5:
 * starved -> grow (both triggers), busy -> lowest slack over the hold time -> shrink (the
 * boundary of the hold, the "last object" floor), min/max clamps, avail, reset, the
 * stop/restart protocol (stop, still over, restart, the re-check save driven through the
 * test hook), the stall detector (a stall, its age, the half-threshold and tick rules, off),
 * the u32 counters across their wrap, the object and in-flight bounds, every -EINVAL, the
 * stats. Each trace comment lists the spec's variables as the step computes them.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

/* The test hook: a completion run between DQL_S1 and DQL_S2 of tsq_dql_tx_sent(). */
struct tsq_dql;
static void hook_stop_set(struct tsq_dql *d);
#define TSQ__DQL_HOOK(point, d) hook_stop_set(d)

#include <tsq/dql.h>

static uint32_t hook_complete; /* bytes the hook completes (0: do nothing) */
static int hook_rc = -1;

static void hook_stop_set(struct tsq_dql *d)
{
	if (hook_complete != 0) {
		hook_rc = tsq_dql_tx_completed(d, hook_complete, 5);
		hook_complete = 0;
	}
}

static struct tsq_dql_opts cfg_of(uint32_t min, uint32_t max, uint64_t hold, uint64_t thrs)
{
	struct tsq_dql_opts c;

	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	c.min_limit = min;
	c.max_limit = max;
	c.hold_ns = hold;
	c.stall_thrs_ns = thrs;
	return c;
}

static struct tsq_dql_stats stats_of(const struct tsq_dql *d)
{
	struct tsq_dql_stats s;

	cr_assert_eq(tsq_dql_stats(d, &s), 0);
	return s;
}

/*
 * A scripted trace: each step queues (Q, tsq_dql_charge) or completes (C, tsq_dql_complete)
 * `bytes` at time t and must return 0; a failure names the step.
 */
struct step {
	char op;
	uint32_t bytes;
	uint64_t t;
};
#define Q(bytes, t)               \
	{                         \
		'Q', (bytes), (t) \
	}
#define C(bytes, t)               \
	{                         \
		'C', (bytes), (t) \
	}
#define PLAY(d, ...)                                    \
	play((d), (const struct step[]){ __VA_ARGS__ }, \
	     sizeof((const struct step[]){ __VA_ARGS__ }) / sizeof(struct step))

static void play(struct tsq_dql *d, const struct step *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = s[i].op == 'Q' ? tsq_dql_charge(d, s[i].bytes, s[i].t) :
					  tsq_dql_complete(d, s[i].bytes, s[i].t);

		cr_assert_eq(rc, 0, "step %zu: %s %u at t=%llu", i + 1,
			     s[i].op == 'Q' ? "charge" : "complete", s[i].bytes,
			     (unsigned long long)s[i].t);
	}
}

/*
 * A queue whose limit starts at `limit` (min_limit at init, then lowered to 0), with a hold
 * time of exactly `hold` ns (0 included: in the cfg 0 would mean the default).
 */
static void init_at(struct tsq_dql *d, uint32_t limit, uint64_t hold)
{
	struct tsq_dql_opts c = cfg_of(limit, 0, 0, 0);

	cr_assert_eq(tsq_dql_init(d, &c, 0), 0);
	tsq_dql_set_hold_time(d, hold);
	cr_assert_eq(tsq_dql_limit(d), limit);
	cr_assert_eq(tsq_dql_set_limits(d, 0, TSQ_DQL_MAX_LIMIT), 0);
}

/* ---- constants, init, errors ----------------------------------------------------------- */

Test(dql, constants)
{
	cr_assert_eq(TSQ_DQL_MAX_OBJECT, UINT32_MAX / 16);
	cr_assert_eq(TSQ_DQL_MAX_LIMIT, UINT32_MAX / 2 - UINT32_MAX / 16);
	cr_assert_eq(TSQ_DQL_MAX_INFLIGHT, UINT32_MAX / 2);
	cr_assert_eq((uint64_t)TSQ_DQL_MAX_LIMIT + TSQ_DQL_MAX_OBJECT, TSQ_DQL_MAX_INFLIGHT);
	cr_assert_eq(TSQ_DQL_HOLD_NS_DEFAULT, 1000000000ull, "HZ jiffies: 1 s");
}

Test(dql, init_defaults)
{
	struct tsq_dql d;
	struct tsq_dql_stats s;

	cr_assert_eq(tsq_dql_init(&d, NULL, 123), 0);
	s = stats_of(&d);
	cr_assert_eq(s.limit, 0);
	cr_assert_eq(s.min_limit, 0);
	cr_assert_eq(s.max_limit, TSQ_DQL_MAX_LIMIT);
	cr_assert_eq(s.hold_ns, TSQ_DQL_HOLD_NS_DEFAULT);
	cr_assert_eq(s.stall_thrs_ns, 0);
	cr_assert_eq(s.inflight, 0);
	cr_assert_eq(s.avail, 0);
	cr_assert(!s.stopped);
	cr_assert_eq(s.stops + s.recheck_saves + s.restarts + s.grows + s.shrinks + s.stalls +
			     s.stall_max_ns,
		     0);
}

Test(dql, init_zero_fields_mean_defaults)
{
	struct tsq_dql d;
	struct tsq_dql_opts c = cfg_of(0, 0, 0, 0);

	cr_assert_eq(tsq_dql_init(&d, &c, 0), 0);
	cr_assert_eq(stats_of(&d).max_limit, TSQ_DQL_MAX_LIMIT);
	cr_assert_eq(stats_of(&d).hold_ns, TSQ_DQL_HOLD_NS_DEFAULT);
}

Test(dql, init_errors)
{
	struct tsq_dql d;
	struct tsq_dql_opts c = cfg_of(0, 0, 0, 0);

	cr_assert_eq(tsq_dql_init(NULL, NULL, 0), -EINVAL);
	cr_assert_eq(tsq_dql_init(NULL, &c, 0), -EINVAL);
	c.size = sizeof(c) - 1;
	cr_assert_eq(tsq_dql_init(&d, &c, 0), -EINVAL, "size one short");
	c = cfg_of(0, TSQ_DQL_MAX_LIMIT + 1, 0, 0);
	cr_assert_eq(tsq_dql_init(&d, &c, 0), -EINVAL, "max above TSQ_DQL_MAX_LIMIT");
	c = cfg_of(101, 100, 0, 0);
	cr_assert_eq(tsq_dql_init(&d, &c, 0), -EINVAL, "min > max");
	c = cfg_of(TSQ_DQL_MAX_LIMIT, TSQ_DQL_MAX_LIMIT, 0, 0);
	cr_assert_eq(tsq_dql_init(&d, &c, 0), 0, "min == max == the largest limit");
	cr_assert_eq(tsq_dql_limit(&d), TSQ_DQL_MAX_LIMIT);
	cr_assert_eq(tsq_dql_avail(&d), (int64_t)TSQ_DQL_MAX_LIMIT);
	c = cfg_of(5, 0, 0, 0);
	cr_assert_eq(tsq_dql_init(&d, &c, 0), 0, "min with the default max");
}

Test(dql, init_accepts_a_larger_opts_with_a_zero_tail)
{
	/* Forward compatibility (libbpf's rule): a caller built against a newer, larger struct. */
	struct {
		struct tsq_dql_opts c;
		uint64_t future;
	} big;
	struct tsq_dql d;

	memset(&big, 0, sizeof(big));
	big.c.size = sizeof(big);
	big.c.min_limit = 7;
	cr_assert_eq(tsq_dql_init(&d, &big.c, 0), 0, "unknown tail all zero: accepted");
	cr_assert_eq(tsq_dql_limit(&d), 7);
	big.future = 1;
	big.c.min_limit = 9;
	cr_assert_eq(tsq_dql_init(&d, &big.c, 0), -EINVAL, "a field this version does not know");
	cr_assert_eq(tsq_dql_limit(&d), 7, "nothing changed");
}

Test(dql, set_limits_errors_change_nothing)
{
	struct tsq_dql d;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	cr_assert_eq(tsq_dql_set_limits(&d, 10, 9), -EINVAL);
	cr_assert_eq(tsq_dql_set_limits(&d, 0, TSQ_DQL_MAX_LIMIT + 1), -EINVAL);
	cr_assert_eq(tsq_dql_set_limits(&d, UINT32_MAX, UINT32_MAX), -EINVAL);
	cr_assert_eq(stats_of(&d).min_limit, 0);
	cr_assert_eq(stats_of(&d).max_limit, TSQ_DQL_MAX_LIMIT);
	cr_assert_eq(tsq_dql_set_limits(&d, 10, 10), 0);
	cr_assert_eq(stats_of(&d).min_limit, 10);
	cr_assert_eq(stats_of(&d).max_limit, 10);
}

Test(dql, object_bound)
{
	struct tsq_dql d;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	cr_assert_eq(tsq_dql_charge(&d, TSQ_DQL_MAX_OBJECT + 1, 0), -EINVAL);
	cr_assert_eq(tsq_dql_tx_sent(&d, UINT32_MAX, 0), -EINVAL);
	cr_assert_eq(tsq_dql_inflight(&d), 0, "nothing accounted");
	cr_assert(!tsq_dql_stopped(&d), "nothing stopped");
	cr_assert_eq(tsq_dql_charge(&d, TSQ_DQL_MAX_OBJECT, 0), 0);
	cr_assert_eq(tsq_dql_inflight(&d), TSQ_DQL_MAX_OBJECT);
	cr_assert_eq(tsq_dql_charge(&d, 0, 0), 0, "an empty object is accepted");
}

Test(dql, inflight_bound_exact)
{
	struct tsq_dql d;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(tsq_dql_charge(&d, TSQ_DQL_MAX_OBJECT, 0), 0);
	cr_assert_eq(tsq_dql_inflight(&d), 7u * TSQ_DQL_MAX_OBJECT);
	cr_assert_eq(tsq_dql_charge(&d, TSQ_DQL_MAX_OBJECT, 0), 0, "8 x max = 2147483640 fits");
	cr_assert_eq(tsq_dql_charge(&d, 7, 0), 0, "exactly TSQ_DQL_MAX_INFLIGHT");
	cr_assert_eq(tsq_dql_inflight(&d), TSQ_DQL_MAX_INFLIGHT);
	cr_assert_eq(tsq_dql_avail(&d), -(int64_t)TSQ_DQL_MAX_INFLIGHT);
	cr_assert_eq(tsq_dql_charge(&d, 1, 0), -EOVERFLOW);
	cr_assert_eq(tsq_dql_tx_sent(&d, TSQ_DQL_MAX_OBJECT, 0), -EOVERFLOW);
	cr_assert(!tsq_dql_stopped(&d), "a refused send does not stop the queue");
	cr_assert_eq(tsq_dql_inflight(&d), TSQ_DQL_MAX_INFLIGHT, "nothing accounted");
	/* The largest completion: everything at once. */
	cr_assert_eq(tsq_dql_complete(&d, TSQ_DQL_MAX_INFLIGHT, 1), 0);
	cr_assert_eq(tsq_dql_inflight(&d), 0);
	cr_assert_eq(tsq_dql_limit(&d), TSQ_DQL_MAX_LIMIT,
		     "starved by 2^31-1: grew, clamped to max");
	cr_assert_eq(tsq_dql_charge(&d, 1, 2), 0, "room again once completed");
}

Test(dql, completed_more_than_in_flight)
{
	struct tsq_dql d;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	cr_assert_eq(tsq_dql_complete(&d, 1, 0), -EINVAL, "nothing in flight");
	cr_assert_eq(tsq_dql_tx_completed(&d, UINT32_MAX, 0), -EINVAL);
	cr_assert_eq(tsq_dql_charge(&d, 100, 0), 0);
	cr_assert_eq(tsq_dql_complete(&d, 101, 0), -EINVAL);
	cr_assert_eq(tsq_dql_inflight(&d), 100, "nothing changed");
	cr_assert_eq(tsq_dql_limit(&d), 0, "nothing changed");
	cr_assert_eq(tsq_dql_complete(&d, 100, 0), 0, "exactly what is in flight");
	cr_assert_eq(tsq_dql_inflight(&d), 0);
}

Test(dql, tx_completed_zero_does_nothing)
{
	struct tsq_dql d;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	cr_assert_eq(tsq_dql_tx_sent(&d, 100, 0), TSQ_DQL_STOPPED);
	cr_assert_eq(tsq_dql_tx_completed(&d, 0, 1), 0);
	cr_assert(tsq_dql_stopped(&d));
	cr_assert_eq(tsq_dql_limit(&d), 0);
	/* The algorithm itself runs on 0 bytes: over the limit, nothing drained, no change. */
	cr_assert_eq(tsq_dql_complete(&d, 0, 2), 0);
	cr_assert_eq(tsq_dql_limit(&d), 0);
}

/* ---- the limit algorithm: grow --------------------------------------------------------- */

/*
 * From limit 0: queue 1000 (avail -1000, stop). Complete 1000: inflight 1000, ovlimit 1000,
 * inprogress 0 -> starved; limit += POSDIFF(completed 1000, prev_num_queued 0) + prev_ovlimit 0
 * = 1000; avail = 1000 - 0 >= 0 and STOPPED -> restart.
 */
Test(dql, starved_grows_from_zero_and_restarts)
{
	struct tsq_dql d;
	struct tsq_dql_stats s;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	cr_assert_eq(tsq_dql_tx_sent(&d, 1000, 0), TSQ_DQL_STOPPED);
	cr_assert(tsq_dql_stopped(&d));
	cr_assert_eq(tsq_dql_avail(&d), -1000);
	cr_assert_eq(tsq_dql_tx_completed(&d, 1000, 10), TSQ_DQL_RESTART);
	cr_assert(!tsq_dql_stopped(&d));
	s = stats_of(&d);
	cr_assert_eq(s.limit, 1000);
	cr_assert_eq(s.avail, 1000);
	cr_assert_eq(s.stops, 1);
	cr_assert_eq(s.restarts, 1);
	cr_assert_eq(s.grows, 1);
	cr_assert_eq(s.shrinks, 0);
	cr_assert_eq(tsq_dql_tx_completed(&d, 0, 11), 0, "nothing to restart");
}

/*
 * limit 1000, nothing in flight. Queue 3 x 600 (inflight 1800).
 * Complete 600: ovlimit 800, inprogress 1200, prev_ovlimit 0, prev_inprogress 0 -> no
 *   change; prev_ovlimit := 800, prev_num_queued := 2800.
 * Complete 1200: ovlimit 200, inprogress 0 -> starved: limit += POSDIFF(2800, 2800) + 800
 *   = 1800.
 */
Test(dql, starved_adds_previous_excess)
{
	struct tsq_dql d;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	PLAY(&d, Q(1000, 0), C(1000, 1));
	cr_assert_eq(tsq_dql_limit(&d), 1000);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tsq_dql_charge(&d, 600, 2), 0);
	cr_assert_eq(tsq_dql_avail(&d), -800);
	cr_assert_eq(tsq_dql_complete(&d, 600, 3), 0);
	cr_assert_eq(tsq_dql_limit(&d), 1000, "busy, but no previous round in progress");
	cr_assert_eq(tsq_dql_complete(&d, 1200, 4), 0);
	cr_assert_eq(tsq_dql_limit(&d), 1800);
	cr_assert_eq(stats_of(&d).grows, 2);
}

/*
 * The second trigger: over last round and everything of last round done, with new data in
 * flight. limit 1000 (nq = nc = prev_num_queued = 1000). Queue 1500 (nq 2500).
 * Complete 500: ovlimit 500, inprogress 1000, prev_ovlimit 0, prev_inprogress 0 -> none;
 *   prev_ovlimit := 500, prev_num_queued := 2500.
 * Queue 200 (nq 2700). Complete 1000: completed 2500 >= prev_num_queued 2500, prev_ovlimit
 *   500 -> starved although 200 are still in flight: limit += 0 + 500 = 1500.
 */
Test(dql, starved_when_all_of_last_round_completed)
{
	struct tsq_dql d;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	PLAY(&d, Q(1000, 0), C(1000, 1), Q(1500, 2), C(500, 3));
	cr_assert_eq(tsq_dql_limit(&d), 1000);
	PLAY(&d, Q(200, 4), C(1000, 5));
	cr_assert_eq(tsq_dql_limit(&d), 1500);
	cr_assert_eq(tsq_dql_inflight(&d), 200);
	cr_assert_eq(tsq_dql_avail(&d), 1300);
}

/*
 * Grow includes the bytes completed beyond last round's queue. limit 1000. Queue 1500.
 * Complete 1000 (ovlimit 500, inprogress 500: none; prev_ovlimit 500, prev_nq 2500).
 * Queue 300 (nq 2800). Complete 800: completed 2800, inprogress 0, ovlimit 800 - 1000 -> 0;
 * prev_ovlimit 500 and all of last round done -> limit += POSDIFF(2800, 2500) + 500 = 1800.
 */
Test(dql, starved_counts_what_completed_beyond_last_round)
{
	struct tsq_dql d;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	PLAY(&d, Q(1000, 0), C(1000, 1), Q(1500, 2), C(1000, 3), Q(300, 4), C(800, 5));
	cr_assert_eq(tsq_dql_limit(&d), 1800);
}

Test(dql, under_the_limit_nothing_moves)
{
	struct tsq_dql d;

	init_at(&d, 5000, 0);
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(tsq_dql_tx_sent(&d, 1000, (uint64_t)i), 0);
		cr_assert_eq(tsq_dql_tx_completed(&d, 1000, (uint64_t)i + 1), 0);
	}
	cr_assert_eq(tsq_dql_limit(&d), 5000, "never over, never busy across rounds");
	cr_assert_eq(stats_of(&d).grows + stats_of(&d).shrinks, 0);
}

/* ---- the limit algorithm: shrink ------------------------------------------------------- */

/*
 * limit 10000, hold 1000 ns, watch started at 0. Queue 3000.
 * t=100  complete 1000: prev_inprogress 0 -> none (prev_nq := 3000, nc 1000). Queue 1000.
 * t=200  complete 1000: inprogress 2000, prev_inprogress 2000, completed 2000 < prev_nq 4000
 *        -> busy: slack = 10000 + 0 - 2*1000 = 8000, lowest 8000; 200 > 1000? no. Queue 1000.
 * t=700  complete 1500: slack = 10000 - 3000 = 7000, lowest 7000; no. Queue 1000.
 * t=1000 complete 500: slack 9000, lowest stays 7000; 1000 > 1000? no (strictly after).
 *        Queue 500.
 * t=1001 complete 500: slack 9000; 1001 > 1000 -> limit = 10000 - lowest 7000 = 3000.
 */
/* The trace above up to t=1000, where the hold is not over yet (shrink_restarts_the_watch too). */
#define BUSY_TO_1000                                                                      \
	Q(3000, 0), C(1000, 100), Q(1000, 100), C(1000, 200), Q(1000, 200), C(1500, 700), \
		Q(1000, 700), C(500, 1000)

Test(dql, busy_shrinks_by_the_lowest_slack_after_the_hold)
{
	struct tsq_dql d;

	init_at(&d, 10000, 1000);
	PLAY(&d, BUSY_TO_1000);
	cr_assert_eq(tsq_dql_limit(&d), 10000, "hold not over at exactly 1000 ns");
	PLAY(&d, Q(500, 1000), C(500, 1001));
	cr_assert_eq(tsq_dql_limit(&d), 3000,
		     "shrunk by the lowest slack (7000), not the last (9000)");
	cr_assert_eq(stats_of(&d).shrinks, 1);
	cr_assert_eq(tsq_dql_inflight(&d), 2000);
	cr_assert_eq(tsq_dql_avail(&d), 1000);
}

/*
 * After a shrink the watch restarts: the next shrink needs another full hold.
 * Continue the trace above (limit 3000, inflight 2500, start 1001).
 * Queue 500 (nq 7000); t=1500 complete 500: inprogress 2500, prev_inprogress 2500, busy:
 * slack = 3000 - 1000 = 2000; 499 > 1000? no. t=2002 complete 500 (queue 500 first):
 * slack 2000, 1001 > 1000 -> limit 1000.
 */
Test(dql, shrink_restarts_the_watch)
{
	struct tsq_dql d;

	init_at(&d, 10000, 1000);
	PLAY(&d, BUSY_TO_1000);
	cr_assert_eq(tsq_dql_limit(&d), 10000);
	PLAY(&d, Q(500, 1000), C(500, 1001));
	cr_assert_eq(tsq_dql_limit(&d), 3000);
	PLAY(&d, Q(500, 1001), C(500, 1500));
	cr_assert_eq(tsq_dql_limit(&d), 3000, "a new hold started at 1001");
	PLAY(&d, Q(500, 1500), C(500, 2002));
	cr_assert_eq(tsq_dql_limit(&d), 1000);
	cr_assert_eq(stats_of(&d).shrinks, 2);
}

/*
 * The "last object" floor. limit 3000, hold 0. Queue 2000 and 1500 (nq 3500, last obj 1500).
 * t=1 complete 100: ovlimit 500, inprogress 3400, prev_inprogress 0 -> none; prev_ovlimit
 *     500, prev_last_obj 1500, prev_nq 3500. Queue 100 (nq 3600).
 * t=2 complete 1300: inprogress 2200, prev_inprogress 3400, completed 1400 < 3500 -> busy:
 *     slack = 3000 + 500 - 2600 = 900; last objs = 1500 - 500 = 1000 -> slack 1000;
 *     2 > 0 -> limit = 3000 - 1000 = 2000 (2100 without the floor).
 */
Test(dql, slack_is_at_least_the_last_objects_share)
{
	struct tsq_dql d;

	init_at(&d, 3000, 0);
	PLAY(&d, Q(2000, 0), Q(1500, 0), C(100, 1));
	cr_assert_eq(tsq_dql_limit(&d), 3000);
	PLAY(&d, Q(100, 1), C(1300, 2));
	cr_assert_eq(tsq_dql_limit(&d), 2000);
}

Test(dql, hold_zero_shrinks_on_the_first_busy_round_after_time_passed)
{
	struct tsq_dql d;

	init_at(&d, 10000, 5);
	tsq_dql_set_hold_time(&d, 0);
	cr_assert_eq(stats_of(&d).hold_ns, 0);
	PLAY(&d, Q(3000, 0), C(1000, 0), Q(1000, 0));
	/* busy, slack 8000, but 0 > 0 is false: the clock has not moved since the reset */
	cr_assert_eq(tsq_dql_complete(&d, 1000, 0), 0);
	cr_assert_eq(tsq_dql_limit(&d), 10000);
	PLAY(&d, Q(1000, 1), C(1000, 1));
	cr_assert_eq(tsq_dql_limit(&d), 2000, "lowest slack 8000 over the watch");
}

Test(dql, a_starved_round_restarts_the_slack_watch)
{
	struct tsq_dql d;

	init_at(&d, 10000, 1000);
	PLAY(&d, Q(3000, 0), C(1000, 100), Q(1000, 100),
	     C(1000, 200)); /* busy: lowest 8000, watch from 0 */
	/*
	 * Go over and drain: starved at t=900, limit 10000 + POSDIFF(13000, 4000) + 0 = 19000,
	 * and the watch restarts at 900 (with the old one, lowest 8000 would shrink to 11000).
	 */
	PLAY(&d, Q(9000, 900), /* inflight 11000 */
	     C(11000, 900));
	cr_assert_eq(tsq_dql_limit(&d), 19000, "grew by what completed past last round's queue");
	PLAY(&d, Q(11000, 900), C(1000, 1000), Q(1000, 1000),
	     C(1000, 1500)); /* busy, but 600 < 1000 since 900 */
	cr_assert_eq(tsq_dql_limit(&d), 19000);
	PLAY(&d, Q(1000, 1500), C(1000, 1901)); /* 1001 > 1000: slack 17000 */
	cr_assert_eq(tsq_dql_limit(&d), 2000);
}

/* ---- clamps ------------------------------------------------------------------------------ */

Test(dql, max_limit_clamps_growth)
{
	struct tsq_dql d;
	struct tsq_dql_opts c = cfg_of(0, 1500, 0, 0);

	cr_assert_eq(tsq_dql_init(&d, &c, 0), 0);
	cr_assert_eq(tsq_dql_tx_sent(&d, 2000, 0), TSQ_DQL_STOPPED);
	cr_assert_eq(tsq_dql_tx_completed(&d, 2000, 1), TSQ_DQL_RESTART);
	cr_assert_eq(tsq_dql_limit(&d), 1500, "grew by 2000, clamped to 1500");
}

Test(dql, min_limit_clamps_shrink_and_applies_at_the_next_completion)
{
	struct tsq_dql d;

	init_at(&d, 10000, 0);
	cr_assert_eq(tsq_dql_set_limits(&d, 9000, TSQ_DQL_MAX_LIMIT), 0);
	cr_assert_eq(tsq_dql_limit(&d), 10000, "only a completion moves the limit");
	PLAY(&d, Q(3000, 0), C(1000, 1), Q(1000, 1),
	     C(1000, 2)); /* slack 8000 -> 2000, clamped to 9000 */
	cr_assert_eq(tsq_dql_limit(&d), 9000);
	cr_assert_eq(tsq_dql_set_limits(&d, 20000, 30000), 0);
	cr_assert_eq(tsq_dql_complete(&d, 0, 3), 0);
	cr_assert_eq(tsq_dql_limit(&d), 20000, "raised to the new min");
	cr_assert_eq(tsq_dql_set_limits(&d, 0, 100), 0);
	cr_assert_eq(tsq_dql_complete(&d, 2000, 4), 0); /* drained, not over: only the clamp */
	cr_assert_eq(tsq_dql_limit(&d), 100, "lowered to the new max");
	cr_assert_eq(stats_of(&d).grows, 1);
	cr_assert_eq(stats_of(&d).shrinks, 2);
}

Test(dql, a_limit_change_forgets_the_excess)
{
	struct tsq_dql d;

	/* Over by 500 in a round where the clamp moves the limit: prev_ovlimit must be 0, so
	 * the next round is not "starved by last round's excess". */
	init_at(&d, 1000, 0);
	cr_assert_eq(tsq_dql_set_limits(&d, 1200, TSQ_DQL_MAX_LIMIT), 0);
	PLAY(&d, Q(1500, 0), C(100, 1)); /* clamp: 1000 -> 1200; ovlimit := 0 */
	cr_assert_eq(tsq_dql_limit(&d), 1200);
	PLAY(&d, Q(100, 1), C(1400, 2)); /* all prev done, prev_ovlimit 0 */
	cr_assert_eq(tsq_dql_limit(&d), 1200, "no growth from a forgotten excess");
}

/* ---- avail, reset -------------------------------------------------------------------- */

Test(dql, avail_is_limit_minus_in_flight)
{
	struct tsq_dql d;

	init_at(&d, 5000, 0);
	cr_assert_eq(tsq_dql_avail(&d), 5000);
	cr_assert_eq(tsq_dql_tx_sent(&d, 3000, 0), 0);
	cr_assert_eq(tsq_dql_avail(&d), 2000);
	cr_assert_eq(tsq_dql_tx_sent(&d, 2000, 0), 0, "avail 0 is still room");
	cr_assert_eq(tsq_dql_avail(&d), 0);
	cr_assert_eq(tsq_dql_tx_sent(&d, 1, 0), TSQ_DQL_STOPPED);
	cr_assert_eq(tsq_dql_avail(&d), -1);
	cr_assert_eq(tsq_dql_inflight(&d), 5001);
}

Test(dql, reset_forgets_state_keeps_config_and_counters)
{
	struct tsq_dql d;
	struct tsq_dql_stats s;
	struct tsq_dql_opts c = cfg_of(100, 50000, 777, 0);

	cr_assert_eq(tsq_dql_init(&d, &c, 0), 0);
	cr_assert_eq(tsq_dql_tx_sent(&d, 5000, 0), TSQ_DQL_STOPPED);
	cr_assert_eq(tsq_dql_tx_completed(&d, 1000, 1), 0);
	cr_assert_eq(tsq_dql_limit(&d), 100);
	cr_assert(tsq_dql_stopped(&d), "still over after 1000 of 5000");
	tsq_dql_reset(&d, 50);
	s = stats_of(&d);
	cr_assert_eq(s.limit, 100, "back to min_limit");
	cr_assert_eq(s.inflight, 0);
	cr_assert_eq(s.avail, 100);
	cr_assert(!s.stopped);
	cr_assert_eq(s.min_limit, 100);
	cr_assert_eq(s.max_limit, 50000);
	cr_assert_eq(s.hold_ns, 777);
	cr_assert_eq(s.stops, 1, "counters are kept");
	cr_assert_eq(tsq_dql_complete(&d, 1, 51), -EINVAL, "the old bytes are gone");
	cr_assert_eq(tsq_dql_tx_sent(&d, 100, 51), 0);
	cr_assert_eq(tsq_dql_tx_sent(&d, 1, 51), TSQ_DQL_STOPPED);
	cr_assert_eq(tsq_dql_tx_completed(&d, 101, 52), TSQ_DQL_RESTART);
	cr_assert_eq(tsq_dql_limit(&d), 201, "starved: 100 + 101");
}

/* ---- stop / restart ---------------------------------------------------------------------- */

Test(dql, stop_then_partial_completion_then_restart)
{
	struct tsq_dql d;
	struct tsq_dql_stats s;

	init_at(&d, 1000, TSQ_DQL_HOLD_NS_DEFAULT);
	cr_assert_eq(tsq_dql_tx_sent(&d, 800, 0), 0);
	cr_assert_eq(tsq_dql_tx_sent(&d, 800, 0), TSQ_DQL_STOPPED); /* avail -600 */
	/* 300 back: inflight 1300, still over (no limit change: not drained) -> no restart */
	cr_assert_eq(tsq_dql_tx_completed(&d, 300, 1), 0);
	cr_assert(tsq_dql_stopped(&d));
	cr_assert_eq(tsq_dql_avail(&d), -300);
	/* The rest: drained while over -> grows, and STOPPED -> exactly one restart. */
	cr_assert_eq(tsq_dql_tx_completed(&d, 1300, 2), TSQ_DQL_RESTART);
	cr_assert(!tsq_dql_stopped(&d));
	s = stats_of(&d);
	cr_assert_eq(s.stops, 1);
	cr_assert_eq(s.restarts, 1);
	cr_assert_eq(s.recheck_saves, 0);
}

/* The re-check save: a completion runs between DQL_S1 and DQL_S2 and makes room. */
Test(dql, recheck_finds_room_and_withdraws_the_stop)
{
	struct tsq_dql d;
	struct tsq_dql_stats s;

	init_at(&d, 1000, TSQ_DQL_HOLD_NS_DEFAULT);
	cr_assert_eq(tsq_dql_tx_sent(&d, 900, 0), 0);
	hook_complete = 900; /* the completion sees STOPPED set by DQL_S1 and room */
	hook_rc = -1;
	cr_assert_eq(tsq_dql_tx_sent(&d, 900, 0), 0, "DQL_S2 saw the completion's snapshot");
	cr_assert_eq(hook_rc, TSQ_DQL_RESTART, "the completion also won the clear (harmless)");
	cr_assert(!tsq_dql_stopped(&d));
	s = stats_of(&d);
	cr_assert_eq(s.stops, 0);
	cr_assert_eq(s.recheck_saves, 1);
	cr_assert_eq(s.restarts, 1);
	cr_assert_eq(s.inflight, 900);
}

Test(dql, recheck_still_over_stops)
{
	struct tsq_dql d;

	init_at(&d, 1000, TSQ_DQL_HOLD_NS_DEFAULT);
	cr_assert_eq(tsq_dql_tx_sent(&d, 900, 0), 0);
	hook_complete = 100; /* inflight 1800 -> 1700: still over */
	hook_rc = -1;
	cr_assert_eq(tsq_dql_tx_sent(&d, 900, 0), TSQ_DQL_STOPPED);
	cr_assert_eq(hook_rc, 0, "saw STOPPED, but no room");
	cr_assert(tsq_dql_stopped(&d));
	cr_assert_eq(tsq_dql_tx_completed(&d, 1700, 6), TSQ_DQL_RESTART);
}

/* ---- stall detection ------------------------------------------------------------------ */

/* thrs 6400 ns: tick = 128 ns (the smallest power of two with 6400 / tick <= 64; 50 ticks). */
#define THRS 6400u

static void init_stall(struct tsq_dql *d)
{
	struct tsq_dql_opts c = cfg_of(1u << 20, 0, 0, THRS);

	cr_assert_eq(tsq_dql_init(d, &c, 0), 0);
}

/*
 * Queued at t=1000 (tick 7), completion at 7400: 7400 - 0 >= 6400; window = ticks
 * [0/128 + 1, (7400 - 3200) / 128] = [1, 32] holds tick 7 -> stall, waited 7400 - 896.
 */
Test(dql, stall_detected_with_its_age)
{
	struct tsq_dql d;

	init_stall(&d);
	PLAY(&d, Q(100, 1000), C(100, 7400));
	cr_assert_eq(stats_of(&d).stalls, 1);
	cr_assert_eq(stats_of(&d).stall_max_ns, 7400 - 7 * 128);
	cr_assert_eq(stats_of(&d).stall_thrs_ns, THRS);
}

Test(dql, no_stall_when_completions_come_in_time)
{
	struct tsq_dql d;

	init_stall(&d);
	PLAY(&d, Q(100, 1000), C(50, 6399), /* 6399 < thrs since the reset */
	     Q(100, 6400), C(50, 12000));   /* 5601 since the last completion */
	cr_assert_eq(stats_of(&d).stalls, 0);
}

/* Queued at 4000 (tick 31), completion at 6400: window [1, 25]: it waited 2400 < thrs/2. */
Test(dql, no_stall_for_a_queue_in_the_second_half)
{
	struct tsq_dql d;

	init_stall(&d);
	PLAY(&d, Q(100, 4000), C(100, 6400));
	cr_assert_eq(stats_of(&d).stalls, 0);
}

Test(dql, no_stall_with_nothing_queued_in_the_gap)
{
	struct tsq_dql d;

	init_stall(&d);
	PLAY(&d, Q(200, 0), /* tick 0: not after the reset's tick */
	     C(100, 100000));
	cr_assert_eq(stats_of(&d).stalls, 0);
}

/*
 * Last completion at 5000 (tick 39). A queue at 5100 (tick 39, same tick: not counted, the
 * tick is the resolution) and one at 5200 (tick 40). Completion at 11500: 6500 >= thrs,
 * window [40, (11500 - 3200) / 128 = 64] -> tick 40, waited 11500 - 5120 = 6380.
 */
Test(dql, stall_window_starts_after_the_last_completion)
{
	struct tsq_dql d;

	init_stall(&d);
	PLAY(&d, Q(100, 1000), C(100, 5000), Q(100, 5100), Q(100, 5200), C(200, 11500));
	cr_assert_eq(stats_of(&d).stalls, 1);
	cr_assert_eq(stats_of(&d).stall_max_ns, 6380);
	/* A later, shorter stall keeps the maximum. */
	PLAY(&d, Q(100, 12000), /* tick 93 */
	     C(100, 18000));
	cr_assert_eq(stats_of(&d).stalls, 2);
	cr_assert_eq(stats_of(&d).stall_max_ns, 6380);
}

/* The history moves past its 256 ticks: old words are cleared, so old queues are forgotten. */
Test(dql, stall_history_forgets_what_it_no_longer_holds)
{
	struct tsq_dql d;

	init_stall(&d);
	cr_assert_eq(tsq_dql_charge(&d, 100, 1000), 0);      /* tick 7 */
	cr_assert_eq(tsq_dql_charge(&d, 100, 300 * 128), 0); /* tick 300: word 4 reuses word 0 */
	/* Completion at tick 320: window [1, 295] cut to the 256 held ticks [64, 319]. */
	cr_assert_eq(tsq_dql_complete(&d, 200, 320 * 128), 0);
	cr_assert_eq(stats_of(&d).stalls, 0, "tick 7 fell out; tick 300 waited < thrs/2");
}

Test(dql, stall_detection_off_and_switched_on)
{
	struct tsq_dql d;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	PLAY(&d, Q(100, 1000), C(100, 1000000000));
	cr_assert_eq(stats_of(&d).stalls, 0, "off by default");
	tsq_dql_set_stall_thrs(&d, THRS, 2000000000);
	cr_assert_eq(stats_of(&d).stall_thrs_ns, THRS);
	PLAY(&d, Q(100, 2000001000), C(100, 2000008000));
	cr_assert_eq(stats_of(&d).stalls, 1);
}

Test(dql, stall_tiny_threshold_and_a_clock_that_goes_back)
{
	struct tsq_dql d;
	struct tsq_dql_opts c = cfg_of(0, 0, 0, 2); /* 2 ns: ticks of 1 ns */

	cr_assert_eq(tsq_dql_init(&d, &c, 1000), 0);
	cr_assert_eq(tsq_dql_charge(&d, 10, 1005), 0);
	cr_assert_eq(tsq_dql_charge(&d, 10, 1003), 0, "behind the history head: still held");
	cr_assert_eq(tsq_dql_charge(&d, 10, 10), 0, "far behind: ignored");
	cr_assert_eq(tsq_dql_complete(&d, 30, 1010), 0);
	cr_assert_eq(stats_of(&d).stalls, 1);
	cr_assert_eq(stats_of(&d).stall_max_ns, 7, "the oldest queue in the window: 1003");
	cr_assert_eq(tsq_dql_complete(&d, 0, 500), 0, "a completion before the last one: no stall");
	cr_assert_eq(stats_of(&d).stalls, 1);
}

/* ---- overflow boundaries ------------------------------------------------------------- */

/* 40 rounds of the largest object: 10.7e9 bytes, so the u32 counters wrap twice. */
Test(dql, counters_wrap)
{
	struct tsq_dql d;
	uint64_t t = 0;

	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	for (int i = 0; i < 40; i++) {
		int rc = tsq_dql_tx_sent(&d, TSQ_DQL_MAX_OBJECT, t);

		cr_assert(rc == 0 || rc == TSQ_DQL_STOPPED);
		cr_assert_eq(tsq_dql_inflight(&d), TSQ_DQL_MAX_OBJECT);
		cr_assert_geq(tsq_dql_tx_completed(&d, TSQ_DQL_MAX_OBJECT, ++t), 0);
		cr_assert_eq(tsq_dql_inflight(&d), 0);
		cr_assert(!tsq_dql_stopped(&d));
		cr_assert_eq(tsq_dql_avail(&d), (int64_t)tsq_dql_limit(&d));
	}
	cr_assert_eq(tsq_dql_limit(&d), TSQ_DQL_MAX_OBJECT, "grew once, then never over");
	/* Fill to the in-flight bound across the wrap, then drain. */
	for (int i = 0; i < 8; i++)
		cr_assert_eq(tsq_dql_charge(&d, TSQ_DQL_MAX_OBJECT, t), 0);
	cr_assert_eq(tsq_dql_charge(&d, 8, t), -EOVERFLOW);
	cr_assert_eq(tsq_dql_complete(&d, 8u * TSQ_DQL_MAX_OBJECT, ++t), 0);
	cr_assert_eq(tsq_dql_limit(&d), TSQ_DQL_MAX_LIMIT, "starved: + 8 objects, clamped");
}

/* Fill to TSQ_DQL_MAX_INFLIGHT (2^31 - 1) bytes with the largest objects. */
static void fill_to_the_bound(struct tsq_dql *d, uint32_t bytes, uint64_t t)
{
	while (bytes > 0) {
		uint32_t n = bytes < TSQ_DQL_MAX_OBJECT ? bytes : TSQ_DQL_MAX_OBJECT;

		cr_assert_eq(tsq_dql_charge(d, n, t), 0);
		bytes -= n;
	}
}

/*
 * The largest growth step: limit at the max, a round over by 268435454 (prev_ovlimit), then
 * a starved round that completes 2^31 - 1001 bytes queued after it: limit + POSDIFF +
 * prev_ovlimit = 4294966293, just under 2^32. The result is clamped to the max, no wrap.
 */
Test(dql, grow_step_near_2_to_the_32_is_clamped)
{
	struct tsq_dql d;

	init_at(&d, TSQ_DQL_MAX_LIMIT, UINT64_MAX);
	fill_to_the_bound(&d, TSQ_DQL_MAX_INFLIGHT, 0);
	cr_assert_eq(tsq_dql_complete(&d, TSQ_DQL_MAX_INFLIGHT - 1000, 1), 0); /* busy, no shrink */
	cr_assert_eq(tsq_dql_limit(&d), TSQ_DQL_MAX_LIMIT);
	fill_to_the_bound(&d, TSQ_DQL_MAX_INFLIGHT - 1000, 1);
	cr_assert_eq(tsq_dql_inflight(&d), TSQ_DQL_MAX_INFLIGHT);
	cr_assert_eq(tsq_dql_complete(&d, TSQ_DQL_MAX_INFLIGHT, 2), 0);
	cr_assert_eq(tsq_dql_limit(&d), TSQ_DQL_MAX_LIMIT);
	cr_assert_eq(stats_of(&d).grows + stats_of(&d).shrinks, 0);
}

Test(dql, clock_extremes)
{
	struct tsq_dql d;
	struct tsq_dql_opts c = cfg_of(10000, 0, UINT64_MAX, UINT64_MAX);

	/* Start near the top of the 64-bit clock, hold and stall thresholds at their maximum. */
	cr_assert_eq(tsq_dql_init(&d, &c, UINT64_MAX - 10), 0);
	cr_assert_eq(tsq_dql_set_limits(&d, 0, TSQ_DQL_MAX_LIMIT), 0);
	PLAY(&d, Q(3000, UINT64_MAX - 5), C(1000, UINT64_MAX), Q(1000, 3), /* the clock wrapped */
	     C(1000, 5));
	cr_assert_eq(tsq_dql_limit(&d), 10000, "UINT64_MAX hold never passes");
	tsq_dql_set_hold_time(&d, 10);
	PLAY(&d, Q(1000, 6), C(1000, 6));
	cr_assert_eq(tsq_dql_limit(&d), 2000, "17 ns across the wrap > 10: shrink by 8000");
	cr_assert_eq(stats_of(&d).stalls, 0);
}

/* ---- the usage block of the header, as written ---------------------------------------- */

static uint64_t fake_now;
static uint64_t now_ns(void)
{
	return fake_now += 1000;
}

static int usage_stopped, usage_restarted;

static void stop_feeding_the_ring(void)
{
	usage_stopped++;
}

static void restart_feeding_the_ring(void)
{
	usage_restarted++;
}

Test(dql, usage_block_runs)
{
	/* The Usage block of dql.h, one 1500-byte frame per completion round, 100 rounds. */
	const uint32_t frame_len = 1500, bytes_done = 1500;

	usage_stopped = usage_restarted = 0;
	struct tsq_dql q;
	tsq_dql_init(&q, NULL, now_ns()); // limit 0, max 1,879,048,192, hold 1 s
	for (int i = 0; i < 100; i++) {
		// sender, after placing a frame, before the device can see it:
		int rc = tsq_dql_tx_sent(&q, frame_len, now_ns());
		if (rc == TSQ_DQL_STOPPED)
			stop_feeding_the_ring(); // a completion restarts it
		// completion context, once per completion round:
		if (tsq_dql_tx_completed(&q, bytes_done, now_ns()) == TSQ_DQL_RESTART)
			restart_feeding_the_ring();
	}
	cr_assert_eq(usage_stopped, 1, "only the very first send: the limit learns 1500");
	cr_assert_eq(usage_restarted, 1);
	cr_assert_eq(stats_of(&q).stops, 1);
}

Test(dql, stats_errors)
{
	struct tsq_dql d;
	struct tsq_dql_stats s;

	cr_assert_eq(tsq_dql_stats(NULL, &s), -EINVAL);
	cr_assert_eq(tsq_dql_init(&d, NULL, 0), 0);
	cr_assert_eq(tsq_dql_stats(&d, NULL), -EINVAL);
}

#ifdef TSQ_DEBUG
/* Misuse no return value can report: a queue that was never initialised. */
Test(dql, misuse_uninitialised_queue_aborts, .signal = SIGABRT)
{
	static struct tsq_dql d; /* zeroed: no magic */

	tsq_dql_charge(&d, 1, 0);
}

Test(dql, misuse_uninitialised_completion_aborts, .signal = SIGABRT)
{
	static struct tsq_dql d;

	tsq_dql_complete(&d, 0, 0);
}
#endif
