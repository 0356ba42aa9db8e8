/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for tsq/flags.h: every transition of the TSQ flag word, single-threaded, against
 * the contracts in the header (return values, which bits each transition touches and which it
 * leaves alone). The concurrent behaviour is covered by tests/stress/flow.c and, over every
 * interleaving with store buffers, by tests/check/.
 */
#include <stdint.h>

#include <criterion/criterion.h>

#include <tsq/flags.h>

#define ALL_USER TSQ_F_USER_ALL

static struct tsq_flags with(uint32_t bits)
{
	struct tsq_flags f = TSQ_FLAGS_INIT;

	f.word = bits;
	return f;
}

Test(flags, static_initializer_is_zero)
{
	struct tsq_flags f = TSQ_FLAGS_INIT;

	cr_assert_eq(tsq_flags_load(&f), 0u);
}

Test(flags, bit_layout)
{
	/* The three kernel bits are distinct and none of them is a user bit. */
	cr_assert_eq(TSQ_F_THROTTLED & TSQ_F_QUEUED, 0u);
	cr_assert_eq(TSQ_F_THROTTLED & TSQ_F_DEFERRED, 0u);
	cr_assert_eq(TSQ_F_QUEUED & TSQ_F_DEFERRED, 0u);
	cr_assert_eq((TSQ_F_THROTTLED | TSQ_F_QUEUED | TSQ_F_DEFERRED) & TSQ_F_USER_ALL, 0u);
	/* DEFERRED_ALL is DEFERRED and the user bits, never THROTTLED or QUEUED. */
	cr_assert_eq(TSQ_F_DEFERRED_ALL, TSQ_F_DEFERRED | TSQ_F_USER_ALL);
	cr_assert_eq(TSQ_F_DEFERRED_ALL & (TSQ_F_THROTTLED | TSQ_F_QUEUED), 0u);
}

Test(flags, user_bits)
{
	uint32_t all = 0;

	cr_assert_eq(TSQ_F_USER(0), 1u << 8);
	cr_assert_eq(TSQ_F_USER(TSQ_F_USER_MAX - 1), 1u << 31);
	for (unsigned n = 0; n < TSQ_F_USER_MAX; n++) {
		uint32_t b = TSQ_F_USER(n);

		cr_assert_eq(b & (b - 1), 0u, "USER(%u) is one bit", n);
		cr_assert_eq(all & b, 0u, "USER(%u) is distinct from the lower user bits", n);
		cr_assert_neq(b & TSQ_F_USER_ALL, 0u, "USER(%u) is in USER_ALL", n);
		cr_assert_neq(b & TSQ_F_DEFERRED_ALL, 0u, "USER(%u) is in DEFERRED_ALL", n);
		all |= b;
	}
	cr_assert_eq(all, TSQ_F_USER_ALL, "the 24 user bits are exactly USER_ALL");
}

Test(flags, throttle_returns_previous)
{
	struct tsq_flags f = TSQ_FLAGS_INIT;

	cr_assert_not(tsq_flags_throttle(&f), "first throttle: was clear");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED);
	cr_assert(tsq_flags_throttle(&f), "second throttle: was set");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED);
}

Test(flags, throttle_keeps_other_bits)
{
	struct tsq_flags f = with(TSQ_F_QUEUED | TSQ_F_DEFERRED | TSQ_F_USER(3));

	cr_assert_not(tsq_flags_throttle(&f));
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED | TSQ_F_DEFERRED | TSQ_F_USER(3));
}

Test(flags, clear_throttled)
{
	struct tsq_flags f = with(TSQ_F_THROTTLED | TSQ_F_QUEUED | TSQ_F_USER(0));

	tsq_flags_clear_throttled(&f);
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED | TSQ_F_USER(0));
	/* Harmless when already clear (a completion queued the flow meanwhile). */
	tsq_flags_clear_throttled(&f);
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED | TSQ_F_USER(0));
}

Test(flags, throttled_to_queued_false_when_not_throttled)
{
	struct tsq_flags f = TSQ_FLAGS_INIT;

	cr_assert_not(tsq_flags_throttled_to_queued(&f));
	cr_assert_eq(tsq_flags_load(&f), 0u, "a loser changes nothing");

	f = with(TSQ_F_DEFERRED | TSQ_F_USER(7));
	cr_assert_not(tsq_flags_throttled_to_queued(&f));
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_DEFERRED | TSQ_F_USER(7));
}

Test(flags, throttled_to_queued_false_when_already_queued)
{
	/* THROTTLED set again by the sender while the flow is still on its list. */
	struct tsq_flags f = with(TSQ_F_THROTTLED | TSQ_F_QUEUED);

	cr_assert_not(tsq_flags_throttled_to_queued(&f));
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED, "both bits stay");
}

Test(flags, throttled_to_queued_true_exactly_once)
{
	struct tsq_flags f = with(TSQ_F_THROTTLED | TSQ_F_DEFERRED | TSQ_F_USER(1));

	cr_assert(tsq_flags_throttled_to_queued(&f), "the first completion wins");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED | TSQ_F_DEFERRED | TSQ_F_USER(1),
		     "THROTTLED -> QUEUED, deferred bits untouched");
	for (int i = 0; i < 3; i++)
		cr_assert_not(tsq_flags_throttled_to_queued(&f), "later completions lose (%d)", i);
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_QUEUED | TSQ_F_DEFERRED | TSQ_F_USER(1));
}

Test(flags, full_restart_cycle)
{
	struct tsq_flags f = TSQ_FLAGS_INIT;

	for (int round = 0; round < 3; round++) {
		cr_assert_not(tsq_flags_throttle(&f));
		cr_assert(tsq_flags_throttled_to_queued(&f));
		/* Sender throttles again while the flow is still queued: no second winner. */
		cr_assert_not(tsq_flags_throttle(&f));
		cr_assert_not(tsq_flags_throttled_to_queued(&f));
		tsq_flags_unqueue(&f);
		cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED);
		/* After the worker's unqueue a completion may queue the flow again. */
		cr_assert(tsq_flags_throttled_to_queued(&f));
		tsq_flags_unqueue(&f);
		cr_assert_eq(tsq_flags_load(&f), 0u, "round %d ends clean", round);
	}
}

Test(flags, unqueue_clears_only_queued)
{
	struct tsq_flags f = with(TSQ_F_THROTTLED | TSQ_F_QUEUED | TSQ_F_DEFERRED | TSQ_F_USER(5));

	tsq_flags_unqueue(&f);
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_DEFERRED | TSQ_F_USER(5));
	tsq_flags_unqueue(&f);
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_DEFERRED | TSQ_F_USER(5));
}

Test(flags, mark_deferred_returns_new_bits)
{
	struct tsq_flags f = TSQ_FLAGS_INIT;

	cr_assert_eq(tsq_flags_mark_deferred(&f, TSQ_F_DEFERRED), TSQ_F_DEFERRED, "0 -> 1");
	cr_assert_eq(tsq_flags_mark_deferred(&f, TSQ_F_DEFERRED), 0u, "already set: no new reference");
	cr_assert_eq(tsq_flags_mark_deferred(&f, TSQ_F_DEFERRED | TSQ_F_USER(0) | TSQ_F_USER(23)),
		     TSQ_F_USER(0) | TSQ_F_USER(23), "only the 0 -> 1 bits");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_DEFERRED | TSQ_F_USER(0) | TSQ_F_USER(23));
	cr_assert_eq(tsq_flags_mark_deferred(&f, 0), 0u, "nothing asked, nothing new");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_DEFERRED | TSQ_F_USER(0) | TSQ_F_USER(23));
}

Test(flags, mark_deferred_ignores_non_deferred_bits)
{
	struct tsq_flags f = TSQ_FLAGS_INIT;

	cr_assert_eq(tsq_flags_mark_deferred(&f, TSQ_F_THROTTLED | TSQ_F_QUEUED), 0u);
	cr_assert_eq(tsq_flags_load(&f), 0u, "THROTTLED/QUEUED cannot be set this way");
	/* Bits 3..7 are not deferred bits either. */
	cr_assert_eq(tsq_flags_mark_deferred(&f, 0xf8u), 0u);
	cr_assert_eq(tsq_flags_load(&f), 0u);
	cr_assert_eq(tsq_flags_mark_deferred(&f, ~0u), TSQ_F_DEFERRED_ALL, "~0: every deferred bit");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_DEFERRED_ALL);
}

Test(flags, mark_deferred_keeps_throttled_and_queued)
{
	struct tsq_flags f = with(TSQ_F_THROTTLED | TSQ_F_QUEUED);

	cr_assert_eq(tsq_flags_mark_deferred(&f, TSQ_F_DEFERRED), TSQ_F_DEFERRED);
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED | TSQ_F_DEFERRED);
}

Test(flags, take_deferred_none_set)
{
	struct tsq_flags f = TSQ_FLAGS_INIT;

	cr_assert_eq(tsq_flags_take_deferred(&f), 0u);
	f = with(TSQ_F_THROTTLED | TSQ_F_QUEUED);
	cr_assert_eq(tsq_flags_take_deferred(&f), 0u);
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED, "nothing taken, nothing changed");
}

Test(flags, take_deferred_takes_all_at_once)
{
	uint32_t want = TSQ_F_DEFERRED | TSQ_F_USER(0) | TSQ_F_USER(2) | TSQ_F_USER(23);
	struct tsq_flags f = with(TSQ_F_THROTTLED | TSQ_F_QUEUED | want);

	cr_assert_eq(tsq_flags_take_deferred(&f), want, "every deferred bit in one call");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED, "THROTTLED and QUEUED stay");
	cr_assert_eq(tsq_flags_take_deferred(&f), 0u, "second take: nothing left");
}

Test(flags, take_deferred_all_bits)
{
	struct tsq_flags f = TSQ_FLAGS_INIT;

	cr_assert_eq(tsq_flags_mark_deferred(&f, TSQ_F_DEFERRED_ALL), TSQ_F_DEFERRED_ALL);
	cr_assert_eq(tsq_flags_take_deferred(&f), TSQ_F_DEFERRED_ALL);
	cr_assert_eq(tsq_flags_load(&f), 0u);
	/* Marked again after the take: new bits, new references. */
	cr_assert_eq(tsq_flags_mark_deferred(&f, TSQ_F_DEFERRED), TSQ_F_DEFERRED);
	cr_assert_eq(tsq_flags_take_deferred(&f), TSQ_F_DEFERRED);
}
