/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for tsq/flags.h: every transition of the TSQ flag word, single-threaded, against
 * the contracts in the header (return values, which bits each transition touches and which it
 * leaves alone). The concurrent behaviour is covered by tests/stress/flow.c and, over every
 * interleaving with store buffers, by tests/check/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
		uint32_t b = tsq_flags_user(n); /* a run-time n: the function */

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
	cr_assert_eq(tsq_flags_load(&f),
		     TSQ_F_THROTTLED | TSQ_F_QUEUED | TSQ_F_DEFERRED | TSQ_F_USER(3));
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
	cr_assert_eq(tsq_flags_mark_deferred(&f, TSQ_F_DEFERRED), 0u,
		     "already set: no new reference");
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
	cr_assert_eq(tsq_flags_mark_deferred(&f, ~0u), TSQ_F_DEFERRED_ALL,
		     "~0: every deferred bit");
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
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED,
		     "nothing taken, nothing changed");
}

Test(flags, take_deferred_takes_all_at_once)
{
	uint32_t want = TSQ_F_DEFERRED | TSQ_F_USER(0) | TSQ_F_USER(2) | TSQ_F_USER(23);
	struct tsq_flags f = with(TSQ_F_THROTTLED | TSQ_F_QUEUED | want);

	cr_assert_eq(tsq_flags_take_deferred(&f), want, "every deferred bit in one call");
	cr_assert_eq(tsq_flags_load(&f), TSQ_F_THROTTLED | TSQ_F_QUEUED,
		     "THROTTLED and QUEUED stay");
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

/* ---- misuse and bad input (tests/README.md) ------------------------------------------- */

/* Still integer constant expressions: usable where C and C++ need one. */
enum { USER_22 = TSQ_F_USER(22) };
static const uint32_t user_static = TSQ_F_USER(23);

Test(flags, user_bits_are_constant_expressions_and_the_function_agrees)
{
	switch (user_static) {
	case TSQ_F_USER(23):
		break;
	default:
		cr_assert_fail("TSQ_F_USER(23) as a case label");
	}
	cr_assert_eq((uint32_t)USER_22, 1u << 30);
	for (unsigned n = 0; n < TSQ_F_USER_MAX; n++)
		cr_assert_eq(tsq_flags_user(n), 1u << (8 + n));
	/* A run-time n out of range is no bit at all, never THROTTLED. */
	cr_assert_eq(tsq_flags_user(TSQ_F_USER_MAX), 0u);
	cr_assert_eq(tsq_flags_user(32), 0u);
	cr_assert_eq(tsq_flags_user(~0u), 0u);
}

/*
 * Compile `TSQ_F_USER(<n>)` as C11 and as C++17 with the project's warning flags; returns the
 * compiler's exit status (0: compiled). The include directory is found from this file's path.
 */
static int compile_user_bit(const char *compiler, const char *lang, const char *n)
{
	char inc[4096], cmd[8192], src[] = "/tmp/tsq_flags_userXXXXXX";
	const char *slash = strrchr(__FILE__, '/');
	int fd = mkstemp(src), status;
	FILE *f;

	cr_assert_neq(fd, -1);
	cr_assert_not_null(slash);
	snprintf(inc, sizeof(inc), "%.*s/../../include", (int)(slash - __FILE__), __FILE__);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"#include <tsq/flags.h>\nunsigned bit(void);\nunsigned bit(void) { return TSQ_F_USER(%s); }\n",
		n);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "%s -x %s -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I'%s' %s 2>/dev/null",
		 compiler, lang, inc, src);
	status = system(cmd);
	unlink(src);
	cr_assert_neq(status, -1);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Misuse table: TSQ_F_USER(24) - a shift past the word that equals TSQ_F_THROTTLED. */
Test(flags, user_bit_24_or_negative_does_not_compile_in_c11_or_cxx17)
{
	static const struct {
		const char *cc, *lang;
	} tc[] = { { "cc -std=c11", "c" }, { "c++ -std=c++17", "c++" } };

	if (system("command -v cc >/dev/null 2>&1 && command -v c++ >/dev/null 2>&1") != 0)
		cr_skip_test("no cc/c++ on PATH");
	for (unsigned i = 0; i < 2; i++) {
		/* The control: in range compiles, so a failure below is the check's doing. */
		cr_assert_eq(compile_user_bit(tc[i].cc, tc[i].lang, "23"), 0, "%s: USER(23)",
			     tc[i].cc);
		cr_assert_eq(compile_user_bit(tc[i].cc, tc[i].lang, "TSQ_F_USER_MAX - 1"), 0);
		cr_assert_neq(compile_user_bit(tc[i].cc, tc[i].lang, "24"), 0,
			      "%s: USER(24) compiled", tc[i].cc);
		cr_assert_neq(compile_user_bit(tc[i].cc, tc[i].lang, "TSQ_F_USER_MAX"), 0);
		cr_assert_neq(compile_user_bit(tc[i].cc, tc[i].lang, "31"), 0);
		cr_assert_neq(compile_user_bit(tc[i].cc, tc[i].lang, "-1"), 0,
			      "%s: USER(-1) compiled", tc[i].cc);
	}
}

/* ---- the header's Usage block (and atomic.h's), compiled and run --------------------------- */

static int usage_refs, usage_sends;

static void hold(int *flow)
{
	(*flow)++;
	usage_refs++;
}

static void put(int *flow)
{
	(*flow)--;
	usage_refs--;
}

static void send_more(int *flow)
{
	(void)flow;
	usage_sends++;
}

Test(flags, usage_block_runs)
{
	int flow_refs = 1, *flow = &flow_refs; /* the block's flow: a reference count here */

	usage_refs = usage_sends = 0;
	struct tsq_flags fl = TSQ_FLAGS_INIT;
	if (tsq_flags_mark_deferred(&fl, TSQ_F_DEFERRED))
		hold(flow); // 0 -> 1: one reference
	if (tsq_flags_mark_deferred(&fl, TSQ_F_DEFERRED))
		hold(flow);                           // already set: none
	uint32_t todo = tsq_flags_take_deferred(&fl); // at release
	if (todo & TSQ_F_DEFERRED) {
		send_more(flow);
		put(flow);
	}
	cr_assert_eq(usage_sends, 1);
	cr_assert_eq(usage_refs, 0, "the bit's reference was dropped by whoever ran it");
	cr_assert_eq(flow_refs, 1);
	cr_assert_eq(tsq_flags_load(&fl), 0u);
}

Test(flags, init_and_seqcst_load)
{
	struct tsq_flags f = with(TSQ_F_THROTTLED | TSQ_F_USER(3));

	cr_assert_eq(tsq_flags_load_seqcst(&f), TSQ_F_THROTTLED | TSQ_F_USER(3));
	tsq_flags_init(&f);
	cr_assert_eq(tsq_flags_load(&f), 0u);
	cr_assert_eq(tsq_flags_load_seqcst(&f), 0u);
}

/* atomic.h has no unit test file of its own; its Usage block runs here. */
static uint64_t events;
static uint32_t ready;
static int data;
static int usage_seen;

static void use(int v)
{
	usage_seen = v;
}

Test(atomic_usage, usage_block_runs)
{
	tsq_counter_add_shared(&events, 1); // a relaxed count, no ordering
	data = 42;
	tsq_store(&ready, 1u, TSQ_RELEASE);     // publisher: data first, then the flag
	if (tsq_load(&ready, TSQ_ACQUIRE) == 1) // reader: the flag, then data
		use(data);
	cr_assert_eq(usage_seen, 42);
	cr_assert_eq(tsq_load(&events, TSQ_RELAXED), 1u);
	cr_assert_eq(TSQ_CACHELINE_SIZE, TSQ_CFG_CACHELINE_SIZE);
	tsq_cpu_relax();
}
