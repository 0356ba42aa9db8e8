/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for tsq/zc.h, one rule per test (KERNEL-SEMANTICS.md §4.4-4.8, 4.11):
 *   ids from 0, +1 per send, u32 wrap (set_next_id near the top), notices and
 *   tsq_zc_notice_covers across the wrap; append (newest and alive only, the 65,534-send and
 *   512 KiB caps, stream fallback vs TSQ_ZC_APPEND_ONLY -EMSGSIZE); tail-only merge of exactly
 *   adjacent ranges, gaps on out-of-order completion, the u32 limit of a merged range; COPIED
 *   (exact by default, the tail's mark with TSQ_ZC_MERGE_IGNORE_COPIED); TSQ_ZC_NO_COALESCE
 *   (one notice per context, also over IGNORE_COPIED); abort (id given back,
 *   no notice, shortened append, -EINVAL when not the newest); the reserve (-ENOBUFS, nothing
 *   changed, contexts back when notices are merged away or read); the pinned-memory account
 *   (pages + 2 per send, never past the limit, shared by flows, released at completion);
 *   -EINVAL for bad arguments; every stats counter.
 *
 * A "frame" in these tests is a tsq_zc_get() reference that the test puts later: it keeps a
 * context alive after tsq_zc_send_done(), as an skb in flight does.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include <tsq/zc.h>

#define NRES 8
/* Options as compound literals (they live until the end of the caller's block). */
#define ACCT_LIMIT(n) \
	(&(struct tsq_zc_account_opts){ .size = sizeof(struct tsq_zc_account_opts), .limit = (n) })
#define FLOW_FLAGS(f) \
	(&(struct tsq_zc_flow_opts){ .size = sizeof(struct tsq_zc_flow_opts), .flags = (f) })

static struct tsq_zc_ctx reserve[NRES];
static struct tsq_zc_flow zf;

static void setup_flags(unsigned flags, struct tsq_zc_account *acct)
{
	memset(reserve, 0, sizeof(reserve));
	cr_assert_eq(tsq_zc_flow_init(&zf, reserve, NRES, acct, FLOW_FLAGS(flags)), 0);
}

static void setup(void)
{
	setup_flags(0, NULL);
}

/* Start a send; assert success and its id. */
static struct tsq_zc_ctx *start(struct tsq_zc_flow *f, uint32_t bytes, unsigned flags, uint32_t id)
{
	struct tsq_zc_ctx *c = NULL;
	int rc = tsq_zc_send_start(f, bytes, flags, &c);

	cr_assert_eq(rc, 0, "send_start(%u, %u) = %d", bytes, flags, rc);
	cr_assert_not_null(c);
	cr_assert_eq(tsq_zc_send_id(c), id, "send id %u, want %u", tsq_zc_send_id(c), id);
	return c;
}

/* A send whose data is still in flight: one frame reference, the call already returned. */
static struct tsq_zc_ctx *send_inflight(struct tsq_zc_flow *f, uint32_t bytes, unsigned flags,
					uint32_t id)
{
	struct tsq_zc_ctx *c = start(f, bytes, flags, id);

	tsq_zc_get(c);
	tsq_zc_send_done(f, c);
	return c;
}

/* A send that completes at once (its data went out and was freed inside the call). */
static void send_now(struct tsq_zc_flow *f, uint32_t bytes, unsigned flags, uint32_t id)
{
	tsq_zc_send_done(f, start(f, bytes, flags, id));
}

static int read_all(struct tsq_zc_flow *f, struct tsq_zc_notice *n, int max)
{
	int k = tsq_zc_read(f, n, max);

	cr_assert_geq(k, 0);
	return k;
}

static void expect_notice(const struct tsq_zc_notice *n, uint32_t lo, uint32_t hi, bool copied)
{
	cr_expect_eq(n->lo, lo, "notice lo %u, want %u", n->lo, lo);
	cr_expect_eq(n->hi, hi, "notice hi %u, want %u", n->hi, hi);
	cr_expect_eq(n->copied, copied, "notice [%u, %u] copied %d, want %d", n->lo, n->hi,
		     n->copied, copied);
}

static struct tsq_zc_stats stats(const struct tsq_zc_flow *f)
{
	struct tsq_zc_stats st;

	cr_assert_eq(tsq_zc_stats(f, &st), 0);
	return st;
}

/* ---- ids ---------------------------------------------------------------------------------- */

Test(zc, ids_start_at_zero_and_increment_per_send, .init = setup)
{
	struct tsq_zc_notice n[4];

	for (uint32_t i = 0; i < 5; i++)
		send_now(&zf, 100, 0, i);
	/* In-order completions coalesce into one range: the selftest counts hi - lo + 1. */
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 4, false);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 0);
	cr_expect_eq(read_all(&zf, n, 4), 0);
}

Test(zc, ids_wrap_at_2_32_and_a_notice_spans_the_wrap, .init = setup)
{
	struct tsq_zc_notice n[4];

	tsq_zc_flow_set_next_id(&zf, UINT32_MAX - 1);
	send_now(&zf, 1, 0, UINT32_MAX - 1);
	send_now(&zf, 1, 0, UINT32_MAX);
	send_now(&zf, 1, 0, 0);
	send_now(&zf, 1, 0, 1);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], UINT32_MAX - 1, 1, false);
	/* The selftest's range: hi - lo + 1 in u32. */
	cr_expect_eq((uint32_t)(n[0].hi - n[0].lo + 1), 4u);
	cr_expect(tsq_zc_notice_covers(&n[0], UINT32_MAX - 1));
	cr_expect(tsq_zc_notice_covers(&n[0], UINT32_MAX));
	cr_expect(tsq_zc_notice_covers(&n[0], 0));
	cr_expect(tsq_zc_notice_covers(&n[0], 1));
	cr_expect_not(tsq_zc_notice_covers(&n[0], 2));
	cr_expect_not(tsq_zc_notice_covers(&n[0], UINT32_MAX - 2));
	cr_expect_not(tsq_zc_notice_covers(&n[0], 0x80000000u));
}

Test(zc, append_across_the_wrap_keeps_one_context, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a;

	tsq_zc_flow_set_next_id(&zf, UINT32_MAX);
	a = send_inflight(&zf, 10, 0, UINT32_MAX);
	/* The "still the newest" test (id + len == next id) is in u32: 0xffffffff + 1 == 0. */
	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, 0), a);
	tsq_zc_send_done(&zf, a);
	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, 1), a);
	tsq_zc_send_done(&zf, a);
	cr_expect_eq(stats(&zf).sends_appended, 2);
	tsq_zc_put(&zf, a, false);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], UINT32_MAX, 1, false);
}

Test(zc, notice_covers_is_modular)
{
	struct tsq_zc_notice one = { 7, 7, false };
	struct tsq_zc_notice mid = { 100, 200, false };
	struct tsq_zc_notice wrap = { 0xfffffff0u, 0x10u, false };
	struct tsq_zc_notice top = { UINT32_MAX, UINT32_MAX, false };

	cr_expect(tsq_zc_notice_covers(&one, 7));
	cr_expect_not(tsq_zc_notice_covers(&one, 6));
	cr_expect_not(tsq_zc_notice_covers(&one, 8));
	cr_expect(tsq_zc_notice_covers(&mid, 100));
	cr_expect(tsq_zc_notice_covers(&mid, 150));
	cr_expect(tsq_zc_notice_covers(&mid, 200));
	cr_expect_not(tsq_zc_notice_covers(&mid, 99));
	cr_expect_not(tsq_zc_notice_covers(&mid, 201));
	cr_expect(tsq_zc_notice_covers(&wrap, 0xfffffff0u));
	cr_expect(tsq_zc_notice_covers(&wrap, UINT32_MAX));
	cr_expect(tsq_zc_notice_covers(&wrap, 0));
	cr_expect(tsq_zc_notice_covers(&wrap, 0x10u));
	cr_expect_not(tsq_zc_notice_covers(&wrap, 0x11u));
	cr_expect_not(tsq_zc_notice_covers(&wrap, 0xffffffefu));
	cr_expect(tsq_zc_notice_covers(&top, UINT32_MAX));
	cr_expect_not(tsq_zc_notice_covers(&top, 0));
}

/* ---- append ------------------------------------------------------------------------------- */

Test(zc, append_extends_the_newest_live_context, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = send_inflight(&zf, 1000, 0, 0);
	struct tsq_zc_ctx *b;

	b = start(&zf, 2000, TSQ_ZC_APPEND, 1);
	cr_assert_eq(b, a, "an append must extend the live newest context");
	tsq_zc_get(b);
	tsq_zc_send_done(&zf, b);
	b = start(&zf, 3000, TSQ_ZC_APPEND_ONLY, 2);
	cr_assert_eq(b, a);
	tsq_zc_send_done(&zf, b);
	cr_expect_eq(stats(&zf).sends, 3);
	cr_expect_eq(stats(&zf).sends_appended, 2);
	/* Two frame references left: no notice until both are gone. */
	tsq_zc_put(&zf, a, false);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 0);
	tsq_zc_put(&zf, a, false);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 2, false);
	cr_expect_eq(stats(&zf).notices_queued, 1);
	cr_expect_eq(stats(&zf).notices_merged, 0);
}

Test(zc, append_after_the_newest_completed_starts_a_new_context, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *b;

	send_now(&zf, 10, 0, 0); /* completed: its notice is queued */
	b = start(&zf, 10, TSQ_ZC_APPEND, 1);
	cr_expect_eq(stats(&zf).sends_appended, 0, "appended to a completed context");
	tsq_zc_send_done(&zf, b);
	/* The new context's notice is adjacent to the tail: merged, not appended. */
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 1, false);
	cr_expect_eq(stats(&zf).notices_queued, 1);
	cr_expect_eq(stats(&zf).notices_merged, 1);
}

Test(zc, append_only_fails_with_emsgsize_when_nothing_can_be_extended, .init = setup)
{
	struct tsq_zc_ctx *c = (struct tsq_zc_ctx *)0x1;

	/* No newest context at all. */
	cr_expect_eq(tsq_zc_send_start(&zf, 10, TSQ_ZC_APPEND_ONLY, &c), -EMSGSIZE);
	cr_expect_eq(c, (struct tsq_zc_ctx *)0x1, "-EMSGSIZE wrote *out");
	/* The newest context completed. */
	send_now(&zf, 10, 0, 0);
	cr_expect_eq(tsq_zc_send_start(&zf, 10, TSQ_ZC_APPEND_ONLY, &c), -EMSGSIZE);
	/* Nothing changed: the next send still gets id 1. */
	send_now(&zf, 10, 0, 1);
	cr_expect_eq(stats(&zf).sends, 2);
}

Test(zc, append_only_the_newest_context_not_an_older_live_one, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = send_inflight(&zf, 10, 0, 0);
	struct tsq_zc_ctx *b = send_inflight(&zf, 10, 0, 1); /* flags 0: always a new context */

	cr_assert_neq(a, b);
	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, 2), b);
	tsq_zc_send_done(&zf, b);
	tsq_zc_put(&zf, a, false);
	tsq_zc_put(&zf, b, false);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 2, false);
}

Test(zc, append_after_set_next_id_starts_a_new_context, .init = setup)
{
	struct tsq_zc_ctx *a = send_inflight(&zf, 10, 0, 0);

	tsq_zc_put(&zf, a, false);
	a = send_inflight(&zf, 10, 0, 1);
	tsq_zc_put(&zf, a, false);
	struct tsq_zc_notice n[4];
	cr_assert_eq(read_all(&zf, n, 4), 1);
	tsq_zc_flow_set_next_id(&zf, 1000);
	a = start(&zf, 10, TSQ_ZC_APPEND, 1000);
	tsq_zc_send_done(&zf, a);
	cr_expect_eq(stats(&zf).sends_appended, 0);
}

Test(zc, append_cap_65534_sends_then_a_new_context, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = send_inflight(&zf, 1, 0, 0);
	struct tsq_zc_ctx *c = NULL;
	uint32_t id;

	for (id = 1; id < TSQ_ZC_MAX_SENDS; id++)
		tsq_zc_send_done(&zf, start(&zf, 1, TSQ_ZC_APPEND, id));
	cr_assert_eq(id, 65534u);
	cr_expect_eq(stats(&zf).sends_appended, TSQ_ZC_MAX_SENDS - 1);
	/* Full (the kernel's USHRT_MAX - 1): a datagram cork fails, nothing changes... */
	cr_expect_eq(tsq_zc_send_start(&zf, 1, TSQ_ZC_APPEND_ONLY, &c), -EMSGSIZE);
	/* ...and a stream falls back to a new context with the next id. */
	c = start(&zf, 1, TSQ_ZC_APPEND, 65534);
	cr_assert_neq(c, a);
	tsq_zc_send_done(&zf, c);
	cr_expect_eq(stats(&zf).sends_appended, TSQ_ZC_MAX_SENDS - 1);
	/* The new context completed first: a gap, then the full one. */
	tsq_zc_put(&zf, a, false);
	cr_assert_eq(read_all(&zf, n, 4), 2);
	expect_notice(&n[0], 65534, 65534, false);
	expect_notice(&n[1], 0, 65533, false);
}

Test(zc, append_cap_512_kib_then_a_new_context, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = send_inflight(&zf, 256u << 10, 0, 0);
	struct tsq_zc_ctx *c = NULL;

	/* Exactly 512 KiB still fits. */
	cr_assert_eq(start(&zf, 256u << 10, TSQ_ZC_APPEND, 1), a);
	tsq_zc_send_done(&zf, a);
	/* One byte more does not: -EMSGSIZE for a cork, a new context for a stream. */
	cr_expect_eq(tsq_zc_send_start(&zf, 1, TSQ_ZC_APPEND_ONLY, &c), -EMSGSIZE);
	c = start(&zf, 1, TSQ_ZC_APPEND, 2);
	cr_assert_neq(c, a);
	tsq_zc_get(c);
	tsq_zc_send_done(&zf, c);
	/* The new context takes appends now: it is the newest. */
	cr_assert_eq(start(&zf, TSQ_ZC_MAX_BYTES - 1, TSQ_ZC_APPEND_ONLY, 3), c);
	tsq_zc_send_done(&zf, c);
	cr_expect_eq(stats(&zf).sends_appended, 2);
	tsq_zc_put(&zf, a, false);
	tsq_zc_put(&zf, c, false);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 3, false);
}

Test(zc, bytes_over_the_cap_are_einval_and_the_cap_itself_is_fine, .init = setup)
{
	struct tsq_zc_ctx *c = NULL;

	cr_expect_eq(tsq_zc_send_start(&zf, TSQ_ZC_MAX_BYTES + 1, 0, &c), -EINVAL);
	cr_expect_eq(tsq_zc_send_start(&zf, UINT32_MAX, TSQ_ZC_APPEND, &c), -EINVAL);
	send_now(&zf, TSQ_ZC_MAX_BYTES, 0, 0);
	cr_expect_eq(stats(&zf).sends, 1);
}

/* ---- merge -------------------------------------------------------------------------------- */

Test(zc, out_of_order_completions_give_separate_notices_gaps, .init = setup)
{
	struct tsq_zc_notice n[8];
	struct tsq_zc_ctx *a = send_inflight(&zf, 10, 0, 0);
	struct tsq_zc_ctx *b = send_inflight(&zf, 10, 0, 1);
	struct tsq_zc_ctx *c = send_inflight(&zf, 10, 0, 2);

	tsq_zc_put(&zf, c, false); /* [2]          */
	tsq_zc_put(&zf, a, false); /* [2] [0]      : 0 does not follow 2 */
	tsq_zc_put(&zf, b, false); /* [2] [0, 1]   : 1 follows the tail 0 */
	cr_expect_eq(tsq_zc_notices_pending(&zf), 2);
	cr_assert_eq(read_all(&zf, n, 8), 2);
	expect_notice(&n[0], 2, 2, false);
	expect_notice(&n[1], 0, 1, false);
	cr_expect_eq(stats(&zf).notices_queued, 2);
	cr_expect_eq(stats(&zf).notices_merged, 1);
}

Test(zc, merging_looks_at_the_tail_only, .init = setup)
{
	struct tsq_zc_notice n[8];
	struct tsq_zc_ctx *a = send_inflight(&zf, 10, 0, 0);
	struct tsq_zc_ctx *b = send_inflight(&zf, 10, 0, 1);
	struct tsq_zc_ctx *c = send_inflight(&zf, 10, 0, 2);

	tsq_zc_put(&zf, b, false); /* [1]             */
	tsq_zc_put(&zf, a, false); /* [1] [0]         */
	tsq_zc_put(&zf, c, false); /* [1] [0] [2]: 2 follows [1], but [1] is not the tail */
	cr_assert_eq(read_all(&zf, n, 8), 3);
	expect_notice(&n[0], 1, 1, false);
	expect_notice(&n[1], 0, 0, false);
	expect_notice(&n[2], 2, 2, false);
	cr_expect_eq(stats(&zf).notices_queued, 3);
	cr_expect_eq(stats(&zf).notices_merged, 0);
	/* The sum of the ranges is still the number of sends (the selftest's check). */
	uint64_t sum = 0;
	for (int i = 0; i < 3; i++)
		sum += (uint32_t)(n[i].hi - n[i].lo + 1);
	cr_expect_eq(sum, 3);
}

Test(zc, reading_the_tail_stops_merging_into_it, .init = setup)
{
	struct tsq_zc_notice n[8];

	send_now(&zf, 10, 0, 0);
	cr_assert_eq(read_all(&zf, n, 8), 1);
	send_now(&zf, 10, 0, 1); /* adjacent to a notice already read: a new one */
	cr_assert_eq(read_all(&zf, n, 8), 1);
	expect_notice(&n[0], 1, 1, false);
}

Test(zc, partial_reads_return_the_oldest_first, .init = setup)
{
	struct tsq_zc_notice n[8];
	struct tsq_zc_ctx *c[4];

	for (uint32_t i = 0; i < 4; i++)
		c[i] = send_inflight(&zf, 10, 0, i);
	for (int i = 3; i >= 0; i--)
		tsq_zc_put(&zf, c[i], false); /* reverse order: four notices */
	cr_expect_eq(tsq_zc_notices_pending(&zf), 4);
	cr_expect_eq(tsq_zc_read(&zf, n, 0), 0);
	cr_assert_eq(read_all(&zf, n, 1), 1);
	expect_notice(&n[0], 3, 3, false);
	cr_assert_eq(read_all(&zf, n, 2), 2);
	expect_notice(&n[0], 2, 2, false);
	expect_notice(&n[1], 1, 1, false);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 1);
	/* The remaining one is still the tail: the next send merges into it. */
	send_now(&zf, 10, 0, 4);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 2);
	send_now(&zf, 10, 0, 5);
	cr_assert_eq(read_all(&zf, n, 8), 2);
	expect_notice(&n[0], 0, 0, false);
	expect_notice(&n[1], 4, 5, false);
}

/*
 * The u32 limit of a merged range (skb_zerocopy_notify_extend: a merge must leave
 * hi - lo + 1 < 2^32). Reaching it through the API takes 2^32 sends (minutes even at a few
 * ns each: 65,536 contexts of 65,534 sends), so this test builds the state directly: one
 * queued notice whose private `span` field is set to cover 2^32 - 2 ids, as if that many
 * adjacent completions had merged into it. Everything else goes through the API.
 */
Test(zc, a_merged_range_must_fit_in_u32, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *t;

	t = start(&zf, 10, 0, 0);
	tsq_zc_send_done(&zf, t); /* queued: [0, 0], span 1 */
	cr_assert_eq(tsq_zc_notices_pending(&zf), 1);
	t->span = (uint64_t)UINT32_MAX - 1; /* [0, 0xfffffffd]: 2^32 - 2 ids */
	/* One more id brings the range to 2^32 - 1 ids: still fits. */
	tsq_zc_flow_set_next_id(&zf, UINT32_MAX - 1);
	send_now(&zf, 10, 0, UINT32_MAX - 1);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 1);
	cr_expect_eq(stats(&zf).notices_merged, 1);
	/* The next one would make 2^32 ids [0, 0xffffffff], hi - lo + 1 == 0: a new notice. */
	send_now(&zf, 10, 0, UINT32_MAX);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 2);
	cr_expect_eq(stats(&zf).notices_merged, 1);
	cr_assert_eq(read_all(&zf, n, 4), 2);
	expect_notice(&n[0], 0, UINT32_MAX - 1, false);
	expect_notice(&n[1], UINT32_MAX, UINT32_MAX, false);
}

Test(zc, a_merge_of_several_sends_must_fit_in_u32_too, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *t, *c;

	t = start(&zf, 10, 0, 0);
	tsq_zc_send_done(&zf, t);
	t->span = (uint64_t)UINT32_MAX - 2; /* 2^32 - 3 ids: [0, 0xfffffffc] (built directly) */
	tsq_zc_flow_set_next_id(&zf, UINT32_MAX - 2);
	/* A context of 3 sends would make 2^32 ids: refused, a separate notice. */
	c = send_inflight(&zf, 10, 0, UINT32_MAX - 2);
	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, UINT32_MAX - 1), c);
	tsq_zc_send_done(&zf, c);
	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, UINT32_MAX), c);
	tsq_zc_send_done(&zf, c);
	tsq_zc_put(&zf, c, false);
	cr_assert_eq(read_all(&zf, n, 4), 2);
	expect_notice(&n[0], 0, UINT32_MAX - 3, false);
	expect_notice(&n[1], UINT32_MAX - 2, UINT32_MAX, false);
	cr_expect_eq(stats(&zf).notices_merged, 0);
}

/* ---- COPIED ------------------------------------------------------------------------------- */

Test(zc, a_copied_put_marks_the_notice, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = start(&zf, 10, 0, 0);

	tsq_zc_get(a);
	tsq_zc_get(a);
	tsq_zc_send_done(&zf, a);
	tsq_zc_put(&zf, a, false);
	tsq_zc_put(&zf, a, true); /* one frame of two was copied: the whole send is COPIED */
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 0, true);
	cr_expect_eq(stats(&zf).copied, 1);
}

Test(zc, exact_copied_by_default_splits_on_a_mark_change, .init = setup)
{
	struct tsq_zc_notice n[8];
	struct tsq_zc_ctx *c[5];
	const bool cp[5] = { false, false, true, true, false };

	for (uint32_t i = 0; i < 5; i++)
		c[i] = send_inflight(&zf, 10, 0, i);
	for (int i = 0; i < 5; i++)
		tsq_zc_put(&zf, c[i], cp[i]);
	cr_assert_eq(read_all(&zf, n, 8), 3);
	expect_notice(&n[0], 0, 1, false);
	expect_notice(&n[1], 2, 3, true);
	expect_notice(&n[2], 4, 4, false);
	cr_expect_eq(stats(&zf).notices_queued, 3);
	cr_expect_eq(stats(&zf).notices_merged, 2);
	cr_expect_eq(stats(&zf).copied, 2);
}

Test(zc, ignore_copied_merges_and_keeps_the_tails_mark)
{
	struct tsq_zc_notice n[8];
	struct tsq_zc_ctx *c[5];
	const bool cp[5] = { false, true, true, false, true };

	setup_flags(TSQ_ZC_MERGE_IGNORE_COPIED, NULL);
	for (uint32_t i = 0; i < 5; i++)
		c[i] = send_inflight(&zf, 10, 0, i);
	for (int i = 0; i < 5; i++)
		tsq_zc_put(&zf, c[i], cp[i]);
	/* The kernel's rule: one range, the tail's (first context's) mark - not COPIED. */
	cr_assert_eq(read_all(&zf, n, 8), 1);
	expect_notice(&n[0], 0, 4, false);
	cr_expect_eq(stats(&zf).copied, 3, "copied counts contexts, merged or not");
	cr_expect_eq(stats(&zf).notices_merged, 4);
	/* A copied tail keeps COPIED over zerocopy completions merged into it. */
	c[0] = send_inflight(&zf, 10, 0, 5);
	c[1] = send_inflight(&zf, 10, 0, 6);
	tsq_zc_put(&zf, c[0], true);
	tsq_zc_put(&zf, c[1], false);
	cr_assert_eq(read_all(&zf, n, 8), 1);
	expect_notice(&n[0], 5, 6, true);
}

Test(zc, copied_marks_a_whole_appended_context, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = send_inflight(&zf, 10, 0, 0);

	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, 1), a);
	tsq_zc_get(a);
	tsq_zc_send_done(&zf, a);
	tsq_zc_put(&zf, a, true);
	tsq_zc_put(&zf, a, false);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 1, true);
}

Test(zc, flow_init_rejects_unknown_flags)
{
	memset(reserve, 0, sizeof(reserve));
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL, FLOW_FLAGS(2)), -EINVAL);
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL, FLOW_FLAGS(~0u)), -EINVAL);
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL, FLOW_FLAGS(8)), -EINVAL);
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL, FLOW_FLAGS(TSQ_ZC_NO_COALESCE | 2)),
		     -EINVAL);
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL,
				      FLOW_FLAGS(TSQ_ZC_MERGE_IGNORE_COPIED)),
		     0);
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL, FLOW_FLAGS(TSQ_ZC_NO_COALESCE)), 0);
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL,
				      FLOW_FLAGS(TSQ_ZC_NO_COALESCE | TSQ_ZC_MERGE_IGNORE_COPIED)),
		     0);
}

/* ---- no coalescing (the one-notice-per-send baseline) ------------------------------------- */

static void no_coalesce_one_notice_per_context(unsigned flags)
{
	struct tsq_zc_notice n[NRES];
	struct tsq_zc_ctx *a, *b;

	setup_flags(flags, NULL);
	/* In-order completions that would all merge by default: one notice each. */
	for (uint32_t i = 0; i < 4; i++)
		send_now(&zf, 10, 0, i);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 4);
	cr_assert_eq(read_all(&zf, n, NRES), 4);
	for (uint32_t i = 0; i < 4; i++)
		expect_notice(&n[i], i, i, false);
	cr_expect_eq(stats(&zf).notices_queued, 4);
	cr_expect_eq(stats(&zf).notices_merged, 0);
	/* An appended context is still one notice for all of its sends. */
	a = send_inflight(&zf, 10, 0, 4);
	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, 5), a);
	tsq_zc_send_done(&zf, a);
	b = send_inflight(&zf, 10, 0, 6);
	tsq_zc_put(&zf, a, false);
	tsq_zc_put(&zf, b, false);
	cr_assert_eq(read_all(&zf, n, NRES), 2);
	expect_notice(&n[0], 4, 5, false);
	expect_notice(&n[1], 6, 6, false);
	cr_expect_eq(stats(&zf).notices_merged, 0);
	cr_expect_eq(stats(&zf).sends_appended, 1);
	/* Every context came back to the reserve: NRES sends in flight fit again. */
	for (uint32_t i = 0; i < NRES; i++)
		send_now(&zf, 10, 0, 7 + i);
	cr_assert_eq(read_all(&zf, n, NRES), NRES);
	expect_notice(&n[NRES - 1], 7 + NRES - 1, 7 + NRES - 1, false);
}

Test(zc, no_coalesce_gives_one_notice_per_context)
{
	no_coalesce_one_notice_per_context(TSQ_ZC_NO_COALESCE);
}

Test(zc, no_coalesce_overrides_merge_ignore_copied)
{
	no_coalesce_one_notice_per_context(TSQ_ZC_NO_COALESCE | TSQ_ZC_MERGE_IGNORE_COPIED);
}

Test(zc, no_coalesce_fills_the_reserve_with_unread_notices)
{
	struct tsq_zc_ctx *c = NULL;
	struct tsq_zc_notice n[NRES];

	setup_flags(TSQ_ZC_NO_COALESCE, NULL);
	for (uint32_t i = 0; i < NRES; i++)
		send_now(&zf, 10, 0, i);
	/* By default these would be one notice holding one context; here each holds its own. */
	cr_expect_eq(tsq_zc_send_start(&zf, 10, 0, &c), -ENOBUFS);
	cr_expect_eq(stats(&zf).refused_reserve, 1);
	cr_assert_eq(read_all(&zf, n, 1), 1);
	send_now(&zf, 10, 0, NRES);
}

/* ---- abort -------------------------------------------------------------------------------- */

Test(zc, abort_gives_the_id_back_and_queues_nothing, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = start(&zf, 10, 0, 0);

	cr_assert_eq(tsq_zc_send_abort(&zf, a), 0);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 0);
	cr_expect_eq(read_all(&zf, n, 4), 0);
	cr_expect_eq(stats(&zf).aborted, 1);
	cr_expect_eq(stats(&zf).notices_queued, 0);
	/* The id is reused, and an append has nothing to extend. */
	a = start(&zf, 10, TSQ_ZC_APPEND, 0);
	cr_expect_eq(stats(&zf).sends_appended, 0);
	tsq_zc_send_done(&zf, a);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 0, false);
}

Test(zc, abort_of_an_appended_send_shortens_the_range, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = send_inflight(&zf, 10, 0, 0);

	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, 1), a);
	cr_assert_eq(tsq_zc_send_abort(&zf, a), 0);
	/* id 1 comes back, still in the same context (it is the newest and alive). */
	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, 1), a);
	cr_assert_eq(tsq_zc_send_abort(&zf, a), 0);
	tsq_zc_put(&zf, a, false);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 0, false);
	cr_expect_eq(stats(&zf).aborted, 2);
	send_now(&zf, 10, 0, 1);
}

Test(zc, abort_of_a_send_that_is_not_the_newest_is_einval, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = start(&zf, 10, 0, 0);
	struct tsq_zc_ctx *b = start(&zf, 10, 0, 1);

	cr_expect_eq(tsq_zc_send_abort(&zf, a), -EINVAL);
	cr_expect_eq(stats(&zf).aborted, 0);
	/* Nothing changed: b is still the newest, a still holds its reference. */
	cr_expect_eq(tsq_zc_notices_pending(&zf), 0);
	cr_assert_eq(tsq_zc_send_abort(&zf, b), 0);
	/* b's context is gone: a is not the newest either (newest is none now). */
	cr_expect_eq(tsq_zc_send_abort(&zf, a), -EINVAL);
	tsq_zc_send_done(&zf, a);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 0, false);
	send_now(&zf, 10, 0, 1);
}

Test(zc, abort_returns_the_context_and_the_pin)
{
	struct tsq_zc_account acct;
	struct tsq_zc_ctx *c[NRES];

	tsq_zc_account_init(&acct, ACCT_LIMIT(TSQ_ZC_UNLIMITED));
	setup_flags(0, &acct);
	for (int round = 0; round < 3 * NRES; round++) {
		c[0] = start(&zf, 5000, 0, 0);
		cr_expect_eq(tsq_zc_account_pinned(&acct), tsq_zc_pin_cost(5000));
		cr_assert_eq(tsq_zc_send_abort(&zf, c[0]), 0);
		cr_expect_eq(tsq_zc_account_pinned(&acct), 0);
	}
	/* All contexts are still in the reserve. */
	for (uint32_t i = 0; i < NRES; i++)
		c[i] = start(&zf, 1, 0, i);
	for (int i = 0; i < NRES; i++)
		tsq_zc_send_done(&zf, c[i]);
}

/* ---- the reserve -------------------------------------------------------------------------- */

Test(zc, the_reserve_bounds_uncompleted_sends, .init = setup)
{
	struct tsq_zc_notice n[NRES];
	struct tsq_zc_ctx *c[NRES], *x = (struct tsq_zc_ctx *)0x1;

	for (uint32_t i = 0; i < NRES; i++)
		c[i] = send_inflight(&zf, 10, 0, i);
	cr_expect_eq(tsq_zc_send_start(&zf, 10, 0, &x), -ENOBUFS);
	cr_expect_eq(x, (struct tsq_zc_ctx *)0x1, "-ENOBUFS wrote *out");
	cr_expect_eq(stats(&zf).refused_reserve, 1);
	cr_expect_eq(stats(&zf).sends, NRES);
	/* An append to the live newest context needs no new context. */
	cr_assert_eq(start(&zf, 10, TSQ_ZC_APPEND, NRES), c[NRES - 1]);
	tsq_zc_send_done(&zf, c[NRES - 1]);
	cr_expect_eq(tsq_zc_send_start(&zf, 10, 0, &x), -ENOBUFS);
	cr_expect_eq(stats(&zf).refused_reserve, 2);
	/* A completion that queues a notice keeps its context... */
	tsq_zc_put(&zf, c[3], false);
	cr_expect_eq(tsq_zc_send_start(&zf, 10, 0, &x), -ENOBUFS);
	/* ...one that merges into the tail gives it back at once... */
	tsq_zc_put(&zf, c[4], false);
	x = start(&zf, 10, 0, NRES + 1); /* next_id unchanged by the refusals */
	tsq_zc_get(x);
	tsq_zc_send_done(&zf, x);
	cr_expect_eq(tsq_zc_send_start(&zf, 10, 0, &x), -ENOBUFS);
	/* ...and reading a notice gives its context back. */
	cr_assert_eq(read_all(&zf, n, NRES), 1);
	expect_notice(&n[0], 3, 4, false);
	struct tsq_zc_ctx *y = start(&zf, 10, 0, NRES + 2);
	tsq_zc_send_done(&zf, y);
	for (int i = 0; i < NRES; i++)
		if (i != 3 && i != 4)
			tsq_zc_put(&zf, c[i], false);
	tsq_zc_put(&zf, x, false);
	uint64_t sum = 0;
	int k;
	while ((k = read_all(&zf, n, NRES)) > 0)
		for (int i = 0; i < k; i++)
			sum += (uint32_t)(n[i].hi - n[i].lo + 1);
	cr_expect_eq(sum + 2, NRES + 3, "ranges cover every send once");
	/* Everything back: NRES concurrent sends fit again. */
	for (uint32_t i = 0; i < NRES; i++)
		c[i] = start(&zf, 10, 0, NRES + 3 + i);
	cr_expect_eq(tsq_zc_send_start(&zf, 10, 0, &x), -ENOBUFS);
	cr_expect_eq(stats(&zf).refused_reserve, 5);
	for (int i = 0; i < NRES; i++)
		tsq_zc_send_done(&zf, c[i]);
}

Test(zc, a_reserve_of_one_context)
{
	struct tsq_zc_ctx one;
	struct tsq_zc_flow f;
	struct tsq_zc_notice n[2];
	struct tsq_zc_ctx *c, *x;

	cr_assert_eq(tsq_zc_flow_init(&f, &one, 1, NULL, NULL), 0);
	c = start(&f, 10, 0, 0);
	cr_expect_eq(tsq_zc_send_start(&f, 10, 0, &x), -ENOBUFS);
	tsq_zc_send_done(&f, c);
	cr_expect_eq(tsq_zc_send_start(&f, 10, 0, &x), -ENOBUFS, "the queued notice holds it");
	cr_assert_eq(tsq_zc_read(&f, n, 2), 1);
	c = start(&f, 10, 0, 1);
	tsq_zc_send_done(&f, c);
	cr_assert_eq(tsq_zc_read(&f, n, 2), 1);
	expect_notice(&n[0], 1, 1, false);
}

/* ---- pinned memory ------------------------------------------------------------------------ */

Test(zc, pin_cost_is_pages_plus_two)
{
	cr_expect_eq(tsq_zc_pin_cost(0), 2 * 4096);
	cr_expect_eq(tsq_zc_pin_cost(1), 2 * 4096);
	cr_expect_eq(tsq_zc_pin_cost(4095), 2 * 4096);
	cr_expect_eq(tsq_zc_pin_cost(4096), 3 * 4096);
	cr_expect_eq(tsq_zc_pin_cost(8191), 3 * 4096);
	cr_expect_eq(tsq_zc_pin_cost(TSQ_ZC_MAX_BYTES), (128 + 2) * 4096);
	cr_expect_eq(tsq_zc_pin_cost(UINT32_MAX), ((uint64_t)UINT32_MAX / 4096 + 2) * 4096);
}

Test(zc, account_charge_never_passes_the_limit)
{
	struct tsq_zc_account a;

	cr_assert_eq(tsq_zc_account_init(&a, ACCT_LIMIT(10 * 4096)), 0);
	cr_expect_eq(tsq_zc_account_charge(&a, 6 * 4096), 0);
	cr_expect_eq(tsq_zc_account_charge(&a, 5 * 4096), -ENOBUFS);
	cr_expect_eq(tsq_zc_account_pinned(&a), 6 * 4096);
	cr_expect_eq(tsq_zc_account_charge(&a, 4 * 4096), 0, "exactly the limit is fine");
	cr_expect_eq(tsq_zc_account_charge(&a, 1), -ENOBUFS);
	cr_expect_eq(tsq_zc_account_pinned(&a), 10 * 4096);
	tsq_zc_account_uncharge(&a, 6 * 4096);
	cr_expect_eq(tsq_zc_account_pinned(&a), 4 * 4096);
	cr_expect_eq(tsq_zc_account_charge(&a, 11 * 4096), -ENOBUFS, "more than the limit itself");
	/* No wrap-around in the comparison. */
	cr_expect_eq(tsq_zc_account_charge(&a, UINT64_MAX), -ENOBUFS);
	cr_expect_eq(tsq_zc_account_charge(&a, UINT64_MAX - 4096), -ENOBUFS);
	cr_expect_eq(tsq_zc_account_pinned(&a), 4 * 4096);
	cr_assert_eq(tsq_zc_account_init(&a, ACCT_LIMIT(TSQ_ZC_UNLIMITED)), 0);
	cr_expect_eq(tsq_zc_account_charge(&a, UINT64_MAX / 2), 0);
	cr_expect_eq(tsq_zc_account_charge(&a, UINT64_MAX / 2), 0);
	cr_expect_eq(tsq_zc_account_charge(&a, 2), -ENOBUFS, "even unlimited cannot overflow");
	/* Limit 0 and no opts are the default: no limit. */
	for (int with_opts = 0; with_opts <= 1; with_opts++) {
		struct tsq_zc_account_stats as;

		cr_assert_eq(tsq_zc_account_init(&a, with_opts ? ACCT_LIMIT(0) : NULL), 0);
		cr_expect_eq(tsq_zc_account_charge(&a, UINT64_MAX - 1), 0);
		cr_assert_eq(tsq_zc_account_stats(&a, &as), 0);
		cr_expect_eq(as.limit, TSQ_ZC_UNLIMITED);
	}
	cr_expect_eq(tsq_zc_account_init(&a, &(struct tsq_zc_account_opts){ .size = 1 }), -EINVAL);
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL,
				      &(struct tsq_zc_flow_opts){ .size = 1 }),
		     -EINVAL);
}

Test(zc, sends_charge_pages_plus_two_and_completion_unpins)
{
	struct tsq_zc_account acct;
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a;

	tsq_zc_account_init(&acct, ACCT_LIMIT(TSQ_ZC_UNLIMITED));
	setup_flags(0, &acct);
	a = send_inflight(&zf, 10000, 0, 0); /* 2 pages + 2 */
	cr_expect_eq(tsq_zc_account_pinned(&acct), 4 * 4096);
	cr_assert_eq(start(&zf, 100, TSQ_ZC_APPEND, 1), a); /* 0 pages + 2, on the same context */
	tsq_zc_send_done(&zf, a);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 6 * 4096);
	tsq_zc_put(&zf, a, false);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 0, "the completion unpins everything");
	cr_assert_eq(read_all(&zf, n, 4), 1);
}

Test(zc, the_pin_limit_refuses_with_enobufs_and_changes_nothing)
{
	struct tsq_zc_account acct;
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a, *b, *x = (struct tsq_zc_ctx *)0x1;

	tsq_zc_account_init(&acct, ACCT_LIMIT(7 * 4096));
	setup_flags(0, &acct);
	a = send_inflight(&zf, 3 * 4096, 0, 0); /* 5 pages */
	/* A new context of 3 pages would pass 7. */
	cr_expect_eq(tsq_zc_send_start(&zf, 4096, 0, &x), -ENOBUFS);
	cr_expect_eq(x, (struct tsq_zc_ctx *)0x1);
	/* An append of 3 pages too: refused, and the context is not extended. */
	cr_expect_eq(tsq_zc_send_start(&zf, 4096, TSQ_ZC_APPEND, &x), -ENOBUFS);
	cr_expect_eq(tsq_zc_send_start(&zf, 4096, TSQ_ZC_APPEND_ONLY, &x), -ENOBUFS);
	cr_expect_eq(stats(&zf).refused_pin, 3);
	cr_expect_eq(stats(&zf).refused_reserve, 0);
	cr_expect_eq(stats(&zf).sends, 1);
	cr_expect_eq(stats(&zf).sends_appended, 0);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 5 * 4096);
	/* Exactly up to the limit is fine, as an append with the next id. */
	b = start(&zf, 1, TSQ_ZC_APPEND, 1);
	cr_assert_eq(b, a);
	tsq_zc_send_done(&zf, b);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 7 * 4096);
	cr_expect_eq(tsq_zc_send_start(&zf, 1, 0, &x), -ENOBUFS);
	tsq_zc_put(&zf, a, false);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 0);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 1, false);
	/* The refused new-context sends did not leak contexts from the reserve. */
	struct tsq_zc_ctx *c[NRES];
	tsq_zc_account_init(&acct, ACCT_LIMIT(TSQ_ZC_UNLIMITED));
	for (uint32_t i = 0; i < NRES; i++)
		c[i] = start(&zf, 1, 0, 2 + i);
	for (int i = 0; i < NRES; i++)
		tsq_zc_send_done(&zf, c[i]);
}

Test(zc, a_refused_append_does_not_complete_a_live_context_early)
{
	struct tsq_zc_account acct;
	struct tsq_zc_ctx *a, *x;

	tsq_zc_account_init(&acct, ACCT_LIMIT(2 * 4096));
	setup_flags(0, &acct);
	a = send_inflight(&zf, 1, 0, 0);
	cr_expect_eq(tsq_zc_send_start(&zf, 1, TSQ_ZC_APPEND, &x), -ENOBUFS);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 0,
		     "the refused append dropped a reference too many");
	tsq_zc_put(&zf, a, false);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 1);
}

Test(zc, two_flows_share_one_account)
{
	struct tsq_zc_account acct;
	struct tsq_zc_ctx r2[4];
	struct tsq_zc_flow f2;
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a, *b, *x;

	tsq_zc_account_init(&acct, ACCT_LIMIT(6 * 4096));
	setup_flags(0, &acct);
	cr_assert_eq(tsq_zc_flow_init(&f2, r2, 4, &acct, NULL), 0);
	a = send_inflight(&zf, 4096, 0, 0); /* 3 pages */
	b = send_inflight(&f2, 4096, 0, 0); /* 3 pages: the account is full */
	cr_expect_eq(tsq_zc_account_pinned(&acct), 6 * 4096);
	cr_expect_eq(tsq_zc_send_start(&zf, 1, 0, &x), -ENOBUFS);
	cr_expect_eq(tsq_zc_send_start(&f2, 1, 0, &x), -ENOBUFS);
	cr_expect_eq(stats(&zf).refused_pin, 1);
	cr_expect_eq(stats(&f2).refused_pin, 1);
	/* Flow 1's completion makes room for flow 2. */
	tsq_zc_put(&zf, a, false);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 3 * 4096);
	x = start(&f2, 4096, 0, 1);
	tsq_zc_send_done(&f2, x);
	tsq_zc_put(&f2, b, false);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 0);
	cr_assert_eq(tsq_zc_read(&f2, n, 4), 2); /* 1 completed before 0: two notices */
	expect_notice(&n[0], 1, 1, false);
	expect_notice(&n[1], 0, 0, false);
	cr_assert_eq(tsq_zc_read(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 0, false);
}

Test(zc, a_flow_without_account_pins_nothing)
{
	struct tsq_zc_notice n[4];

	setup_flags(0, NULL);
	send_now(&zf, TSQ_ZC_MAX_BYTES, 0, 0);
	cr_assert_eq(read_all(&zf, n, 4), 1);
}

/* ---- bad arguments ------------------------------------------------------------------------ */

Test(zc, einval_for_null_and_bad_arguments, .init = setup)
{
	struct tsq_zc_ctx *c = (struct tsq_zc_ctx *)0x1;
	struct tsq_zc_notice n[2];
	struct tsq_zc_stats st;
	struct tsq_zc_flow f;

	cr_expect_eq(tsq_zc_account_init(NULL, ACCT_LIMIT(1)), -EINVAL);
	cr_expect_eq(tsq_zc_flow_init(NULL, reserve, NRES, NULL, NULL), -EINVAL);
	cr_expect_eq(tsq_zc_flow_init(&f, NULL, NRES, NULL, NULL), -EINVAL);
	cr_expect_eq(tsq_zc_flow_init(&f, reserve, 0, NULL, NULL), -EINVAL);
	cr_expect_eq(tsq_zc_send_start(NULL, 1, 0, &c), -EINVAL);
	cr_expect_eq(tsq_zc_send_start(&zf, 1, 0, NULL), -EINVAL);
	cr_expect_eq(tsq_zc_send_start(&zf, 1, 4, &c), -EINVAL);
	cr_expect_eq(tsq_zc_send_start(&zf, 1, ~0u, &c), -EINVAL);
	cr_expect_eq(tsq_zc_send_start(&zf, TSQ_ZC_MAX_BYTES + 1, 0, &c), -EINVAL);
	cr_expect_eq(c, (struct tsq_zc_ctx *)0x1, "-EINVAL wrote *out");
	cr_expect_eq(tsq_zc_read(NULL, n, 2), -EINVAL);
	cr_expect_eq(tsq_zc_read(&zf, NULL, 2), -EINVAL);
	cr_expect_eq(tsq_zc_read(&zf, n, -1), -EINVAL);
	cr_expect_eq(tsq_zc_stats(NULL, &st), -EINVAL);
	cr_expect_eq(tsq_zc_stats(&zf, NULL), -EINVAL);
	/* None of that touched the flow. */
	st = stats(&zf);
	cr_expect_eq(st.sends + st.refused_reserve + st.refused_pin + st.aborted, 0);
	send_now(&zf, 1, 0, 0);
}

/* ---- misuse and bad input (tests/README.md) ---------------------------------------------- */

/* Misuse table: send_done twice on one send (the refcount used to wrap; id 1 was never notified). */
Test(zc, send_done_twice_is_einval_and_changes_nothing, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_stats before;
	struct tsq_zc_ctx *a = start(&zf, 10, 0, 0);

	cr_assert_eq(tsq_zc_send_done(&zf, a), 0);
	before = stats(&zf);
	cr_assert_eq(tsq_zc_send_done(&zf, a), -EINVAL, "the call ended already");
	cr_expect_eq(a->refcnt, 0u, "no wrap");
	cr_expect_eq(stats(&zf).notices_queued, before.notices_queued);
	cr_expect_eq(stats(&zf).sends, before.sends);
	/* The next id is notified as usual (merged with 0: adjacent, both zerocopy). */
	send_now(&zf, 10, 0, 1);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 1, false);
}

Test(zc, send_done_twice_with_a_frame_in_flight_is_einval, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = send_inflight(&zf, 10, 0, 0); /* one frame holds a reference */

	cr_assert_eq(tsq_zc_send_done(&zf, a), -EINVAL, "would have stolen the frame's reference");
	cr_expect_eq(a->refcnt, 1u);
	cr_expect_eq(tsq_zc_notices_pending(&zf), 0, "not completed early");
	cr_assert_eq(tsq_zc_put(&zf, a, false), 0);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 0, false);
}

Test(zc, a_put_with_no_reference_left_is_einval_and_changes_nothing, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = start(&zf, 10, 0, 0);

	cr_assert_eq(tsq_zc_send_done(&zf, a), 0); /* completed: a notice [0] */
	cr_assert_eq(tsq_zc_put(&zf, a, false), -EINVAL);
	cr_assert_eq(tsq_zc_put(&zf, a, true), -EINVAL, "and the notice's mark is left alone");
	cr_expect_eq(a->refcnt, 0u);
	cr_expect_eq(stats(&zf).copied, 0);
	cr_expect_eq(stats(&zf).notices_queued, 1);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 0, false);
	/* A put on a context back in the reserve is refused the same way. */
	cr_assert_eq(tsq_zc_put(&zf, a, false), -EINVAL);
	send_now(&zf, 10, 0, 1);
}

/* Misuse table: abort after send_done (the id was given back: two sends carried it). */
Test(zc, abort_after_send_done_is_einval, .init = setup)
{
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *a = start(&zf, 10, 0, 0), *b;

	cr_assert_eq(tsq_zc_send_done(&zf, a), 0);
	cr_assert_eq(tsq_zc_send_abort(&zf, a), -EINVAL);
	cr_expect_eq(zf.next_id, 1u, "id 0 is not given back");
	cr_expect_eq(stats(&zf).aborted, 0);
	/* With a frame still holding the context (alive, still the newest): refused too. */
	b = send_inflight(&zf, 10, TSQ_ZC_APPEND, 1);
	cr_assert_eq(tsq_zc_send_abort(&zf, b), -EINVAL);
	cr_expect_eq(zf.next_id, 2u);
	cr_assert_eq(tsq_zc_put(&zf, b, false), 0);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 1, false); /* each id once */
	send_now(&zf, 10, 0, 2);
}

Test(zc, null_context_or_flow_is_einval, .init = setup)
{
	struct tsq_zc_ctx *a = start(&zf, 10, 0, 0);

	cr_expect_eq(tsq_zc_send_abort(&zf, NULL), -EINVAL);
	cr_expect_eq(tsq_zc_send_abort(NULL, a), -EINVAL);
	cr_expect_eq(tsq_zc_send_done(&zf, NULL), -EINVAL);
	cr_expect_eq(tsq_zc_send_done(NULL, a), -EINVAL);
	cr_expect_eq(tsq_zc_put(&zf, NULL, false), -EINVAL);
	cr_expect_eq(tsq_zc_put(NULL, a, true), -EINVAL);
	cr_expect_eq(a->refcnt, 1u, "nothing changed");
	cr_expect_eq(a->zerocopy, 1u);
	cr_assert_eq(tsq_zc_send_done(&zf, a), 0);
}

/* Misuse table: a 0-byte send - the kernel's rule: no zerocopy, no charge, no notice. */
Test(zc, a_zero_byte_send_takes_no_id_no_context_and_no_pin)
{
	struct tsq_zc_account acct;
	struct tsq_zc_notice n[4];
	struct tsq_zc_ctx *c[NRES], *x;
	static const unsigned fl[] = { 0, TSQ_ZC_APPEND, TSQ_ZC_APPEND_ONLY };

	tsq_zc_account_init(&acct, ACCT_LIMIT(4 * 4096));
	setup_flags(0, &acct);
	c[0] = start(&zf, 10, 0, 0); /* a live newest context to (not) append to */
	for (unsigned i = 0; i < 3; i++) {
		x = (struct tsq_zc_ctx *)0x1;
		cr_assert_eq(tsq_zc_send_start(&zf, 0, fl[i], &x), TSQ_ZC_NO_ZEROCOPY);
		cr_expect_null(x, "*out is NULL: there is no context to hold or end");
	}
	cr_expect_eq(zf.next_id, 1u, "no id taken");
	cr_expect_eq(c[0]->len, 1u, "nothing appended");
	cr_expect_eq(tsq_zc_account_pinned(&acct), 2 * 4096u, "only send 0 pins");
	cr_expect_eq(stats(&zf).sends, 1);
	cr_expect_eq(stats(&zf).sends_appended, 0);
	cr_expect_eq(stats(&zf).sends_empty, 3);
	cr_assert_eq(tsq_zc_send_done(&zf, c[0]), 0);
	cr_assert_eq(read_all(&zf, n, 4), 1);
	expect_notice(&n[0], 0, 0, false);
	cr_expect_eq(read_all(&zf, n, 4), 0, "no notice for the empty sends");
	/* Even with the reserve and the pin limit used up, a 0-byte send is fine. */
	tsq_zc_account_init(&acct, ACCT_LIMIT(TSQ_ZC_UNLIMITED));
	setup_flags(0, &acct);
	for (uint32_t i = 0; i < NRES; i++)
		c[i] = start(&zf, 1, 0, i);
	cr_expect_eq(tsq_zc_send_start(&zf, 0, 0, &x), TSQ_ZC_NO_ZEROCOPY);
	cr_expect_eq(stats(&zf).refused_reserve, 0);
	for (int i = 0; i < NRES; i++)
		cr_assert_eq(tsq_zc_send_done(&zf, c[i]), 0);
}

/* Misuse table: uncharge of more than was charged (pinned used to wrap to 2^64 - 4096). */
Test(zc, uncharge_of_more_than_charged_is_refused_and_counted)
{
	struct tsq_zc_account acct;
	struct tsq_zc_account_stats as;
	struct tsq_zc_ctx *c;

	tsq_zc_account_init(&acct, ACCT_LIMIT(16 * 4096));
	setup_flags(0, &acct);
	cr_assert_eq(tsq_zc_account_charge(&acct, 4096), 0);
	cr_assert_eq(tsq_zc_account_uncharge(&acct, 8192), -EINVAL);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 4096u, "nothing uncharged");
	cr_assert_eq(tsq_zc_account_uncharge(&acct, 4096), 0);
	cr_assert_eq(tsq_zc_account_uncharge(&acct, 4096), -EINVAL, "a second uncharge");
	cr_assert_eq(tsq_zc_account_uncharge(&acct, UINT64_MAX), -EINVAL);
	cr_assert_eq(tsq_zc_account_uncharge(&acct, 0), 0, "0 is never too much");
	cr_assert_eq(tsq_zc_account_stats(&acct, &as), 0);
	cr_expect_eq(as.pinned, 0u);
	cr_expect_eq(as.limit, 16 * 4096u);
	cr_expect_eq(as.uncharge_refused, 3u);
	/* Sends still work: no wrapped "2^64 pinned" refusing everything. */
	c = start(&zf, 4096, 0, 0);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 3 * 4096u);
	cr_assert_eq(tsq_zc_send_done(&zf, c), 0);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 0u);
	cr_expect_eq(tsq_zc_account_uncharge(NULL, 1), -EINVAL);
	cr_expect_eq(tsq_zc_account_stats(NULL, &as), -EINVAL);
	cr_expect_eq(tsq_zc_account_stats(&acct, NULL), -EINVAL);
}

#ifdef TSQ_DEBUG
Test(zc, debug_get_on_a_completed_context_aborts, .init = setup, .signal = SIGABRT)
{
	struct tsq_zc_ctx *a = start(&zf, 10, 0, 0);

	cr_assert_eq(tsq_zc_send_done(&zf, a), 0);
	tsq_zc_get(a);
	cr_assert_fail("get on a completed context returned");
}
#endif

/* ---- stats -------------------------------------------------------------------------------- */

Test(zc, stats_start_at_zero_and_count_each_event)
{
	struct tsq_zc_account acct;
	struct tsq_zc_notice n[8];
	struct tsq_zc_stats st;
	struct tsq_zc_ctx *a, *b, *x;

	tsq_zc_account_init(&acct, ACCT_LIMIT(7 * 4096));
	setup_flags(0, &acct);
	st = stats(&zf);
	cr_expect_eq(st.notices_queued + st.notices_merged + st.sends + st.sends_appended +
			     st.copied + st.refused_reserve + st.refused_pin + st.aborted +
			     st.sends_empty,
		     0);
	/* Each send pins 2 pages (1 byte); the limit is 7 pages. */
	a = send_inflight(&zf, 1, 0, 0);                  /* sends 1; 2 pages */
	cr_assert_eq(start(&zf, 1, TSQ_ZC_APPEND, 1), a); /* sends 2, appended 1; 4 pages */
	tsq_zc_send_done(&zf, a);
	b = start(&zf, 1, 0, 2);                                  /* sends 3; 6 pages */
	cr_assert_eq(tsq_zc_send_abort(&zf, b), 0);               /* aborted 1; 4 pages */
	b = send_inflight(&zf, 1, 0, 2);                          /* sends 4; 6 pages */
	cr_expect_eq(tsq_zc_send_start(&zf, 1, 0, &x), -ENOBUFS); /* refused_pin 1 (8 > 7) */
	tsq_zc_put(&zf, b, true);                                 /* copied 1, queued 1: [2] */
	tsq_zc_put(&zf, a, false);                                /* queued 2: [2] [0,1] */
	x = start(&zf, 1, 0, 3);                                  /* sends 5 */
	tsq_zc_send_done(&zf, x); /* queued 3: 3 does not follow [0,1] */
	st = stats(&zf);
	cr_expect_eq(st.sends, 5);
	cr_expect_eq(st.sends_appended, 1);
	cr_expect_eq(st.aborted, 1);
	cr_expect_eq(st.refused_pin, 1);
	cr_expect_eq(st.refused_reserve, 0);
	cr_expect_eq(st.copied, 1);
	cr_expect_eq(st.notices_queued, 3);
	cr_expect_eq(st.notices_merged, 0);
	cr_assert_eq(read_all(&zf, n, 8), 3);
	expect_notice(&n[0], 2, 2, true);
	expect_notice(&n[1], 0, 1, false);
	expect_notice(&n[2], 3, 3, false);
	cr_expect_eq(tsq_zc_account_pinned(&acct), 0);
}

/* ---- flags of the wrong call are refused (distinct bit ranges) --------------------------- */

Test(zc, flag_ranges_are_disjoint_and_the_wrong_call_refuses)
{
	struct tsq_zc_ctx *c = NULL;

	cr_assert_eq(TSQ_ZC_SEND_FLAGS & TSQ_ZC_FLOW_FLAGS, 0u);
	cr_assert_eq((TSQ_ZC_APPEND | TSQ_ZC_APPEND_ONLY) & ~TSQ_ZC_SEND_FLAGS, 0u);
	cr_assert_eq((TSQ_ZC_MERGE_IGNORE_COPIED | TSQ_ZC_NO_COALESCE) & ~TSQ_ZC_FLOW_FLAGS, 0u);
	memset(reserve, 0, sizeof(reserve));
	/* Send flags given to flow_init: refused (TSQ_ZC_APPEND used to read as IGNORE_COPIED). */
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL, FLOW_FLAGS(TSQ_ZC_APPEND)),
		     -EINVAL);
	cr_expect_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL, FLOW_FLAGS(TSQ_ZC_APPEND_ONLY)),
		     -EINVAL);
	cr_assert_eq(tsq_zc_flow_init(&zf, reserve, NRES, NULL, NULL), 0);
	/* Flow flags given to send_start: refused, nothing taken. */
	cr_expect_eq(tsq_zc_send_start(&zf, 10, TSQ_ZC_MERGE_IGNORE_COPIED, &c), -EINVAL);
	cr_expect_eq(tsq_zc_send_start(&zf, 10, TSQ_ZC_NO_COALESCE, &c), -EINVAL);
	cr_expect_null(c);
	cr_assert_eq(tsq_zc_send_start(&zf, 10, 0, &c), 0);
	cr_expect_eq(tsq_zc_send_id(c), 0u, "the refused calls took no id");
	cr_assert_eq(tsq_zc_send_done(&zf, c), 0);
}

/* ---- the header's Usage block, compiled and run ----------------------------------------- */

struct usage_frame {
	struct tsq_zc_ctx *zc;
};

static unsigned usage_copies, usage_plain;

static void copy_instead(void)
{
	usage_copies++;
}

static void send_normally(void)
{
	usage_plain++;
}

static int usage_send(struct tsq_zc_flow *f, uint32_t len, unsigned nframes,
		      struct usage_frame *frames)
{
	/* The Usage block's sender part, one send call (zf is the block's flow). */
	struct tsq_zc_flow *const fl = f;
#define zf (*fl)
	struct tsq_zc_ctx *c;
	int rc = tsq_zc_send_start(&zf, len, TSQ_ZC_APPEND, &c);
	if (rc < 0) {
		copy_instead(); // -ENOBUFS: reserve or pinned memory
	} else if (rc == TSQ_ZC_NO_ZEROCOPY) {
		send_normally(); // len 0: no id, no notice, no c
	} else {
		for (unsigned i = 0; i < nframes; i++) { // each frame carrying the data
			tsq_zc_get(c);
			frames[i].zc = c; // its completion: tsq_zc_put(&zf, c, copied)
		}
		tsq_zc_send_done(&zf, c); // or tsq_zc_send_abort(&zf, c) if nothing was sent
	}
#undef zf
	return rc;
}

Test(zc_usage, usage_block_runs)
{
	static struct tsq_zc_account acct;
	static struct tsq_zc_flow uzf;
	static struct tsq_zc_ctx ureserve[64];
	struct usage_frame frames[3];
	bool frame_was_copied = false;

	struct tsq_zc_account_opts ao = { .size = sizeof(ao), .limit = 64 << 20 };
	tsq_zc_account_init(&acct, &ao);
	tsq_zc_flow_init(&uzf, ureserve, 64, &acct, NULL); // NULL: the default merge rule
	cr_assert_eq(usage_send(&uzf, 3000, 2, frames), 0);
	cr_assert_eq(usage_send(&uzf, 0, 0, frames), TSQ_ZC_NO_ZEROCOPY);
	cr_assert_eq(usage_send(&uzf, 1000, 1, &frames[2]), 0, "appended to the first context");
	cr_assert_eq(frames[2].zc, frames[0].zc);
	cr_assert_eq(usage_plain, 1u);
	cr_assert_eq(usage_copies, 0u);
	// completion context, per frame: tsq_zc_put(&zf, frames[i].zc, frame_was_copied);
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(tsq_zc_put(&uzf, frames[i].zc, frame_was_copied), 0);
	// application:
	struct tsq_zc_notice n[16];
	int k = tsq_zc_read(&uzf, n, 16); // [lo, hi] ranges; buffers with those ids are free
	cr_assert_eq(k, 1);
	cr_assert_eq(n[0].lo, 0u);
	cr_assert_eq(n[0].hi, 1u);
	cr_assert_not(n[0].copied);
	cr_assert_eq(tsq_zc_account_pinned(&acct), 0u, "everything unpinned");
}
