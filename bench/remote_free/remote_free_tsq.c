/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/remote_free/remote_free_tsq.c - tsq's implementations of the remote-free scenario
 * (see remote_free.h for what each does and how it differs from the hand-written one):
 *   tsq_defer, tsq_defer_batch, tsq_defer_shard, tsq_defer_shard_batch, tsq_defer_burst
 *                     B hands each buffer back to A's shard with tsq/defer.h; A's drain
 *                     recycles them into its private free list
 *   tsq_llist_batch   the hand-written pattern built from tsq/llist.h
 */
#include "remote_free.h"

#include <errno.h>

#include <tsq/defer.h>
#include <tsq/llist.h>

/* ---- tsq_defer and its variants ------------------------------------------------------- */

enum { RF_SHARD_A = 0, RF_SHARD_B = 1 };

struct defer_pool {
	/* Read-mostly after init. */
	struct tsq_defer_set set;
	struct tsq_defer_shard *shards;
	/* B's private chain (tsq_defer_batch). */
	_Alignas(TSQ_CACHELINE_SIZE) struct tsq_defer_batch batch;
};

/*
 * A's private free list. The item function has no context argument and only ever runs on
 * A (drained) or, past the bound, on B (fallback, which does not touch it): a file-scope
 * owner-only variable is exactly right.
 */
static struct rf_hdr *defer_a_pool;

/*
 * The list's bound and the ring's size cover every buffer there is (the preallocation, with
 * room to grow), rather than tsq's default bound of 128: a push over it falls back to running
 * the item on B, which here means free() into glibc and a malloc() on A later - a different
 * benchmark. The "fallback" counter says whether that happened.
 */
#define RF_DEFER_BOUND (2 * RF_POOL_PREALLOC)

static void defer_recycle(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct rf_hdr *b = RF_HDR_OF(it);

	if (how == TSQ_DEFER_FALLBACK) {
		/* On B, over the bound: A's pool is not ours to touch, give it back to libc. */
		free(b);
		return;
	}
	RF_LINK(b, struct rf_next)->next = defer_a_pool;
	defer_a_pool = b;
}

/* A busy-polls and never sleeps: no wake-up needed (kicks are still counted). */
static void defer_no_kick(void *ctx, unsigned shard)
{
	(void)ctx;
	(void)shard;
}

static int defer_pool_init(struct rf_run *run, const char **why)
{
	struct tsq_defer_opts opts = { .size = sizeof(opts),
				       .bound = RF_DEFER_BOUND,
				       .kick = defer_no_kick };
	struct defer_pool *dp = bench_alloc_lines(sizeof(*dp));
	int err;

	/*
	 * The rings are the defaults (TSQ_DEFER_RING_DEFAULT slots, allocated at B's first push,
	 * the membarrier fence where the kernel has it): a full ring spills to the list, whose
	 * bound above keeps every buffer in the pool.
	 */
	if (dp == NULL || (dp->shards = tsq_defer_shards_alloc(2)) == NULL) {
		free(dp);
		*why = "allocation";
		return -ENOMEM;
	}
	err = tsq_defer_set_init(&dp->set, dp->shards, 2, &opts);
	if (err != 0) {
		free(dp->shards);
		free(dp);
		*why = "tsq_defer_set_init";
		return err;
	}
	tsq_defer_batch_init(&dp->batch, RF_SHARD_A);
	defer_a_pool = rf_pool_fill(run, NULL);
	run->impl = dp;
	return 0;
}

static void defer_pool_fini(struct rf_run *run)
{
	struct defer_pool *dp = run->impl;

	/* B has flushed and exited: whatever is queued comes home now. */
	tsq_defer_drain(&dp->set, RF_SHARD_A);
	rf_free_chain(defer_a_pool);
	defer_a_pool = NULL;
	tsq_defer_set_destroy(&dp->set);
	free(dp->shards);
	free(dp);
}

typedef void defer_refill_fn(struct defer_pool *dp);

/* A's refill: run every queued item's function (defer_recycle links it into A's list). */
BENCH_INLINE void defer_refill_drain(struct defer_pool *dp)
{
	tsq_defer_drain(&dp->set, RF_SHARD_A);
}

#ifdef TSQ_DEFER_RINGS_OFF
/* A's refill from arrays: link each buffer into A's list; no call per buffer. */
static void defer_burst_refill(void *ctx, struct tsq_defer_item **items, unsigned n)
{
	struct rf_hdr *pool = defer_a_pool;

	(void)ctx;
	for (unsigned i = 0; i < n; i++) {
		struct rf_hdr *b = RF_HDR_OF(items[i]);

		RF_LINK(b, struct rf_next)->next = pool;
		pool = b;
	}
	defer_a_pool = pool;
}

BENCH_INLINE void defer_refill_burst(struct defer_pool *dp)
{
	tsq_defer_drain_burst(&dp->set, RF_SHARD_A, defer_burst_refill, NULL);
}
#endif

/* A allocates from its private list and refills it only when it is empty (see the top). */
BENCH_INLINE struct rf_hdr *defer_pool_alloc(struct rf_run *run, defer_refill_fn *refill)
{
	struct defer_pool *dp = run->impl;
	struct rf_hdr *b = defer_a_pool;

	if (tsq_unlikely(b == NULL)) {
		refill(dp);
		b = defer_a_pool;
		if (b == NULL) {
			run->grown++;
			return rf_pool_buf_new(run);
		}
	}
	defer_a_pool = RF_LINK(b, struct rf_next)->next;
	return b;
}

BENCH_INLINE struct rf_hdr *defer_alloc_drain(struct rf_run *run)
{
	return defer_pool_alloc(run, defer_refill_drain);
}

#ifdef TSQ_DEFER_RINGS_OFF
BENCH_INLINE struct rf_hdr *defer_alloc_burst(struct rf_run *run)
{
	return defer_pool_alloc(run, defer_refill_burst);
}
#endif

/* B: `self` is TSQ_DEFER_NO_SHARD (the shared list) or RF_SHARD_B (its ring, with rings). */
BENCH_INLINE void defer_pool_push(struct rf_run *run, struct rf_hdr *b, unsigned self)
{
	struct defer_pool *dp = run->impl;
	struct tsq_defer_item *it = RF_LINK(b, struct tsq_defer_item);

	tsq_defer_item_init(it, defer_recycle);
	tsq_defer_push(&dp->set, RF_SHARD_A, self, it);
}

BENCH_INLINE void defer_pool_batch_add(struct rf_run *run, struct rf_hdr *b, unsigned self)
{
	struct defer_pool *dp = run->impl;
	struct tsq_defer_item *it = RF_LINK(b, struct tsq_defer_item);

	tsq_defer_item_init(it, defer_recycle);
	tsq_defer_batch_add(&dp->set, &dp->batch, self, it);
}

BENCH_INLINE void defer_free_any(struct rf_run *run, struct rf_hdr *b)
{
	defer_pool_push(run, b, TSQ_DEFER_NO_SHARD);
}

BENCH_INLINE void defer_free_shard(struct rf_run *run, struct rf_hdr *b)
{
	defer_pool_push(run, b, RF_SHARD_B);
}

BENCH_INLINE void defer_batch_free_any(struct rf_run *run, struct rf_hdr *b)
{
	defer_pool_batch_add(run, b, TSQ_DEFER_NO_SHARD);
}

BENCH_INLINE void defer_batch_free_shard(struct rf_run *run, struct rf_hdr *b)
{
	defer_pool_batch_add(run, b, RF_SHARD_B);
}

/* B, with nothing to do: hand back what its batch holds, so A is not left waiting. */
BENCH_INLINE void defer_pool_b_idle(struct rf_run *run)
{
	struct defer_pool *dp = run->impl;

	tsq_defer_batch_flush(&dp->set, &dp->batch);
}

static void defer_pool_report(struct rf_run *run, struct gbench_state *st)
{
	struct defer_pool *dp = run->impl;
	struct tsq_defer_stats s;

	if (tsq_defer_stats(&dp->set, RF_SHARD_A, &s) == 0) {
		gbench_counter(st, "fallback", (double)s.fallback, GBENCH_COUNTER_DEFAULT);
		gbench_counter(st, "kicks", (double)s.kicks, GBENCH_COUNTER_DEFAULT);
	}
}

/* One tsq_defer variant: A's allocation (its refill), B's free, B's idle flush. */
#define RF_DEFER_VARIANT(var, alloc, free_fn, b_idle)           \
	RF_INSTANTIATE(var, alloc, rf_nothing, free_fn, b_idle) \
	const struct rf_ops rf_##var = {                        \
		.name = #var,                                   \
		.pool = true,                                   \
		.init = defer_pool_init,                        \
		.fini = defer_pool_fini,                        \
		.a_iteration = var##_a_iteration,               \
		.b_main = var##_b_main,                         \
		.report = defer_pool_report,                    \
	};

RF_DEFER_VARIANT(tsq_defer, defer_alloc_drain, defer_free_any, rf_nothing)
RF_DEFER_VARIANT(tsq_defer_batch, defer_alloc_drain, defer_batch_free_any, defer_pool_b_idle)
RF_DEFER_VARIANT(tsq_defer_shard, defer_alloc_drain, defer_free_shard, rf_nothing)
RF_DEFER_VARIANT(tsq_defer_shard_batch, defer_alloc_drain, defer_batch_free_shard,
		 defer_pool_b_idle)
#ifdef TSQ_DEFER_RINGS_OFF
RF_DEFER_VARIANT(tsq_defer_burst, defer_alloc_burst, defer_batch_free_shard, defer_pool_b_idle)
#endif

/* ---- tsq_llist_batch ------------------------------------------------------------------ */

struct llist_pool {
	/* B -> A: B's chains (tsq_llist_push_batch), taken whole by A (tsq_llist_take_all). */
	_Alignas(TSQ_CACHELINE_SIZE) struct tsq_llist_head ret;
	/* A's private free list: a chain taken from ret, used as it is. */
	_Alignas(TSQ_CACHELINE_SIZE) struct tsq_llist_node *pool;
	/* B's private chain. */
	_Alignas(TSQ_CACHELINE_SIZE) struct tsq_llist_node *first, *last;
	unsigned n;
};
static_assert(sizeof(struct tsq_llist_node) <= sizeof(((struct rf_hdr *)0)->link), "fits the link");
static_assert(sizeof(struct tsq_defer_item) <= sizeof(((struct rf_hdr *)0)->link), "fits the link");

static int llist_pool_init(struct rf_run *run, const char **why)
{
	struct llist_pool *lp = bench_alloc_lines(sizeof(*lp));

	if (lp == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	tsq_llist_init(&lp->ret);
	for (unsigned i = 0; i < RF_POOL_PREALLOC; i++) {
		struct rf_hdr *b = rf_pool_buf_new(run);

		if (b == NULL)
			break;
		RF_LINK(b, struct tsq_llist_node)->next = lp->pool;
		lp->pool = RF_LINK(b, struct tsq_llist_node);
	}
	run->impl = lp;
	return 0;
}

static void llist_pool_free_chain(struct tsq_llist_node *n)
{
	struct tsq_llist_node *next;

	tsq_llist_for_each_safe(n, next, n)
		free(RF_HDR_OF(n));
}

static void llist_pool_fini(struct rf_run *run)
{
	struct llist_pool *lp = run->impl;

	llist_pool_free_chain(lp->pool);
	llist_pool_free_chain(tsq_llist_take_all(&lp->ret));
	free(lp);
}

BENCH_INLINE struct rf_hdr *llist_pool_alloc(struct rf_run *run)
{
	struct llist_pool *lp = run->impl;
	struct tsq_llist_node *n = lp->pool;

	if (tsq_unlikely(n == NULL)) {
		/* Order does not matter to a free list: no tsq_llist_reverse(). */
		n = tsq_llist_take_all(&lp->ret);
		if (n == NULL) {
			run->grown++;
			return rf_pool_buf_new(run);
		}
	}
	lp->pool = n->next;
	return RF_HDR_OF(n);
}

BENCH_INLINE void llist_pool_flush(struct rf_run *run)
{
	struct llist_pool *lp = run->impl;

	if (lp->n == 0)
		return;
	tsq_llist_push_batch(&lp->ret, lp->first, lp->last);
	lp->first = lp->last = NULL;
	lp->n = 0;
}

BENCH_INLINE void llist_pool_free(struct rf_run *run, struct rf_hdr *b)
{
	struct llist_pool *lp = run->impl;

	tsq_llist_link_local(&lp->first, &lp->last, RF_LINK(b, struct tsq_llist_node));
	if (++lp->n == RF_BATCH)
		llist_pool_flush(run);
}

RF_INSTANTIATE(tsq_llist_batch, llist_pool_alloc, rf_nothing, llist_pool_free, llist_pool_flush)

const struct rf_ops rf_tsq_llist_batch = {
	.name = "tsq_llist_batch",
	.pool = true,
	.init = llist_pool_init,
	.fini = llist_pool_fini,
	.a_iteration = tsq_llist_batch_a_iteration,
	.b_main = tsq_llist_batch_b_main,
};
