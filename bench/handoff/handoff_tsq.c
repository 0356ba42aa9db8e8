/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff/handoff_tsq.c - tsq's implementations of the hand-off scenario:
 *   tsq_llist               tsq_llist_push() per item; the owner tsq_llist_take_all()s
 *   tsq_llist_batch         a private chain of HANDOFF_BATCH items spliced with one CAS
 *   tsq_defer               tsq_defer_push() from a non-shard producer (TSQ_DEFER_NO_SHARD)
 *                           to the owner's shard 0: the shared list; the owner
 *                           tsq_defer_drain()s (items run oldest first, one call each)
 *   tsq_defer_batch         tsq_defer_batch_add() / tsq_defer_batch_flush(), non-shard
 *   tsq_defer_shard         tsq_defer_push() from a producer that is itself a shard (producer
 *                           i is shard i + 1) and so takes its per-pair ring (the default
 *                           ring, allocated at the first push; spills to the list); built
 *                           against a defer.h without rings, the same list as tsq_defer
 *   tsq_defer_shard_batch   the same with tsq_defer_batch_add()
 *   tsq_defer_reg           tsq_defer_push() from an application thread registered with
 *                           tsq_defer_producer_register(): a ring of its own, no shard
 *   tsq_defer_burst         (with rings only) tsq_defer_shard_batch's producer, and an owner
 *                           that tsq_defer_drain_burst()s: arrays of items, no call per item
 * Each defer variant is one DEFER_VARIANT() line: a push, a flush and a drain.
 *
 * The llist owner walks the chain newest first, as take_all returns it: the scenario only
 * needs every item touched, and the stack-like peers (lfstack, ck_stack) are walked the
 * same way. tsq_defer_drain() reverses into arrival order itself, as its contract says.
 */
#include "handoff.h"

#include <errno.h>
#include <stdio.h>

#include <tsq/defer.h>
#include <tsq/llist.h>

HANDOFF_LINK_FITS(struct tsq_llist_node);
HANDOFF_LINK_FITS(struct tsq_defer_item);

/* ---- tsq_llist, tsq_llist_batch ------------------------------------------------------- */

struct llist_q {
	struct tsq_llist_head head; /* alone on its line (bench_alloc_lines) */
};

/* A producer's private chain (tsq_llist_batch). */
struct llist_chain {
	struct tsq_llist_node *first, *last;
	unsigned n;
};
static_assert(sizeof(struct llist_chain) <= HANDOFF_PRODUCER_SCRATCH, "scratch");

static int llist_init(struct handoff_run *run, const char **why)
{
	struct llist_q *q = bench_alloc_lines(sizeof(*q));

	if (q == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	tsq_llist_init(&q->head);
	for (unsigned i = 0; i < run->producers; i++)
		memset(run->prod[i].scratch, 0, sizeof(struct llist_chain));
	run->impl = q;
	return 0;
}

static void llist_fini(struct handoff_run *run)
{
	free(run->impl);
}

BENCH_INLINE void llist_push(struct handoff_run *run, struct handoff_producer *p,
			     struct handoff_item *it)
{
	struct llist_q *q = run->impl;

	(void)p;
	tsq_llist_push(&q->head, HANDOFF_LINK(it, struct tsq_llist_node));
}

static void llist_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, llist_push, handoff_no_flush);
}

BENCH_INLINE void llist_batch_flush(struct handoff_run *run, struct handoff_producer *p)
{
	struct llist_q *q = run->impl;
	struct llist_chain *c = (struct llist_chain *)(void *)p->scratch;

	if (c->n == 0)
		return;
	tsq_llist_push_batch(&q->head, c->first, c->last);
	c->first = c->last = NULL;
	c->n = 0;
}

BENCH_INLINE void llist_batch_push(struct handoff_run *run, struct handoff_producer *p,
				   struct handoff_item *it)
{
	struct llist_chain *c = (struct llist_chain *)(void *)p->scratch;

	tsq_llist_link_local(&c->first, &c->last, HANDOFF_LINK(it, struct tsq_llist_node));
	if (++c->n == HANDOFF_BATCH)
		llist_batch_flush(run, p);
}

static void llist_batch_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, llist_batch_push, llist_batch_flush);
}

static uint64_t llist_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	struct llist_q *q = run->impl;
	struct tsq_llist_node *n, *next;
	uint64_t got = 0;

	tsq_llist_for_each_safe(n, next, tsq_llist_take_all(&q->head)) {
		handoff_touch(acc, HANDOFF_ITEM(n));
		got++;
	}
	return got;
}

const struct handoff_ops handoff_tsq_llist = {
	.name = "tsq_llist",
	.init = llist_init,
	.fini = llist_fini,
	.produce = llist_produce,
	.drain = llist_drain,
};

const struct handoff_ops handoff_tsq_llist_batch = {
	.name = "tsq_llist_batch",
	.init = llist_init,
	.fini = llist_fini,
	.produce = llist_batch_produce,
	.drain = llist_drain,
};

/* ---- tsq_defer and its variants ------------------------------------------------------ */

/*
 * Far above anything in flight (P * HANDOFF_ITEMS_PER_PRODUCER at most), so no push falls back; the
 * "fallback" counter is reported anyway to show it. (The default bound, 128, is a
 * memory cap for the kernel's per-CPU lists, not a flow control for a benchmark.)
 */
#define DEFER_BOUND (1u << 30)
/* The owner's shard; producer i, where it is a shard, is shard i + 1. */
#define DEFER_OWNER 0u

struct defer_q {
	struct tsq_defer_set set;
	struct tsq_defer_shard *shards;
};

/* The item function has no context argument: the owner's tally is parked here per drain. */
static struct handoff_acc *defer_acc;

static void defer_touch(struct tsq_defer_item *item, enum tsq_defer_how how)
{
	/*
	 * A fallback runs on the producer, which must not touch the owner's tally, and the owner
	 * would then wait forever for the item: the bound and the rings are sized so that it
	 * cannot happen, and if it does the run stops loudly instead of hanging.
	 */
	if (how == TSQ_DEFER_FALLBACK) {
		fprintf(stderr,
			"tsq-bench: handoff: a tsq_defer push fell back (bound or ring too small)\n");
		abort();
	}
	handoff_touch(defer_acc, HANDOFF_ITEM(item));
}

/*
 * The owner busy-polls and never sleeps, so it needs no wake-up: a real poll loop would pass
 * such a hook, and the peers have none. (The default eventfd kick costs the producer a
 * write() each time a path crosses half its capacity; the counter still counts kicks.)
 */
static void defer_no_kick(void *ctx, unsigned shard)
{
	(void)ctx;
	(void)shard;
}

static void defer_fini_set(struct defer_q *q)
{
	tsq_defer_set_destroy(&q->set);
	free(q->shards);
	free(q);
}

static int defer_init(struct handoff_run *run, const char **why)
{
	struct tsq_defer_opts opts = { .size = sizeof(opts),
				       .bound = DEFER_BOUND,
				       .kick = defer_no_kick };
	struct defer_q *q = bench_alloc_lines(sizeof(*q));
	int err;

	/*
	 * The default rings (TSQ_DEFER_RING_DEFAULT slots per pair, allocated at the pair's first
	 * push) and the default fence (membarrier where the kernel has it): what a user gets.
	 * A producer more than a ring ahead spills to the list (only free-running). Registered
	 * producer ids for tsq_defer_reg: producer i is nr_shards + i, in registration order.
	 */
	opts.producers = run->producers;
	if (q == NULL || (q->shards = tsq_defer_shards_alloc(run->producers + 1)) == NULL) {
		free(q);
		*why = "allocation";
		return -ENOMEM;
	}
	/* The owner's shard, and one per producer (used by the _shard variants only). */
	err = tsq_defer_set_init(&q->set, q->shards, run->producers + 1, &opts);
	if (err != 0) {
		free(q->shards);
		free(q);
		*why = "tsq_defer_set_init";
		return err;
	}
	for (unsigned i = 0; i < run->producers; i++) {
		if (tsq_defer_producer_register(&q->set) != (int)(run->producers + 1 + i)) {
			defer_fini_set(q);
			*why = "tsq_defer_producer_register";
			return -ENOSPC;
		}
	}
	for (unsigned i = 0; i < run->producers; i++) {
		memset(run->prod[i].scratch, 0, sizeof(run->prod[i].scratch));
		tsq_defer_batch_init((struct tsq_defer_batch *)(void *)run->prod[i].scratch,
				     DEFER_OWNER);
	}
	run->impl = q;
	return 0;
}

static void defer_fini(struct handoff_run *run)
{
	defer_fini_set(run->impl);
}

/*
 * Each item's function is set once, at its first push (the producer zeroes its items when it
 * starts), as an application sets it when it creates the object: later pushes write nothing
 * into the item on the ring path, and a drain_burst owner never calls it.
 */
BENCH_INLINE struct tsq_defer_item *defer_item_of(struct handoff_item *it)
{
	struct tsq_defer_item *d = HANDOFF_LINK(it, struct tsq_defer_item);

	if (tsq_unlikely(d->fn == NULL))
		tsq_defer_item_init(d, defer_touch);
	return d;
}

/* The producer's `self`: a shard of its own, or none. */
BENCH_INLINE unsigned defer_self_none(const struct handoff_producer *p)
{
	(void)p;
	return TSQ_DEFER_NO_SHARD;
}

BENCH_INLINE unsigned defer_self_shard(const struct handoff_producer *p)
{
	return p->id + 1;
}

/* A registered application producer (tsq_defer_producer_register()): rings, no shard. */
BENCH_INLINE unsigned defer_self_reg(const struct handoff_producer *p)
{
	return p->run->producers + 1 + p->id;
}

typedef unsigned defer_self_fn(const struct handoff_producer *p);

BENCH_INLINE void defer_push(struct handoff_run *run, struct handoff_producer *p,
			     struct handoff_item *it, defer_self_fn *self)
{
	struct defer_q *q = run->impl;
	struct tsq_defer_item *d = defer_item_of(it);

	tsq_defer_push(&q->set, DEFER_OWNER, self(p), d);
}

static_assert(sizeof(struct tsq_defer_batch) <= HANDOFF_PRODUCER_SCRATCH, "scratch");
static_assert(TSQ_DEFER_BATCH_MAX == HANDOFF_BATCH, "tsq_defer_batch uses the same batch size");

BENCH_INLINE void defer_batch_flush(struct handoff_run *run, struct handoff_producer *p)
{
	struct defer_q *q = run->impl;

	tsq_defer_batch_flush(&q->set, (struct tsq_defer_batch *)(void *)p->scratch);
}

BENCH_INLINE void defer_batch_push(struct handoff_run *run, struct handoff_producer *p,
				   struct handoff_item *it, defer_self_fn *self)
{
	struct defer_q *q = run->impl;
	struct tsq_defer_item *d = defer_item_of(it);

	/* Splices by itself every TSQ_DEFER_BATCH_MAX (= HANDOFF_BATCH) items. */
	tsq_defer_batch_add(&q->set, (struct tsq_defer_batch *)(void *)p->scratch, self(p), d);
}

BENCH_INLINE void defer_push_none(struct handoff_run *run, struct handoff_producer *p,
				  struct handoff_item *it)
{
	defer_push(run, p, it, defer_self_none);
}

BENCH_INLINE void defer_push_shard(struct handoff_run *run, struct handoff_producer *p,
				   struct handoff_item *it)
{
	defer_push(run, p, it, defer_self_shard);
}

BENCH_INLINE void defer_push_reg(struct handoff_run *run, struct handoff_producer *p,
				 struct handoff_item *it)
{
	defer_push(run, p, it, defer_self_reg);
}

BENCH_INLINE void defer_batch_push_none(struct handoff_run *run, struct handoff_producer *p,
					struct handoff_item *it)
{
	defer_batch_push(run, p, it, defer_self_none);
}

BENCH_INLINE void defer_batch_push_shard(struct handoff_run *run, struct handoff_producer *p,
					 struct handoff_item *it)
{
	defer_batch_push(run, p, it, defer_self_shard);
}

static uint64_t defer_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	struct defer_q *q = run->impl;
	long n;

	defer_acc = acc;
	n = tsq_defer_drain(&q->set, DEFER_OWNER);
	return n > 0 ? (uint64_t)n : 0;
}

#ifdef TSQ_DEFER_RINGS_OFF
/* The owner gets arrays of items: it touches them as a ring owner does, no call per item. */
static void defer_burst_touch(void *ctx, struct tsq_defer_item **items, unsigned n)
{
	struct handoff_acc *acc = ctx;

	for (unsigned i = 0; i < n; i++)
		handoff_touch(acc, HANDOFF_ITEM(items[i]));
}

static uint64_t defer_burst_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	struct defer_q *q = run->impl;
	long n = tsq_defer_drain_burst(&q->set, DEFER_OWNER, defer_burst_touch, acc);

	return n > 0 ? (uint64_t)n : 0;
}
#endif

static void defer_report(struct handoff_run *run, struct gbench_state *st)
{
	struct defer_q *q = run->impl;
	struct tsq_defer_stats s;

	if (tsq_defer_stats(&q->set, DEFER_OWNER, &s) == 0) {
		gbench_counter(st, "fallback", (double)s.fallback, GBENCH_COUNTER_DEFAULT);
		gbench_counter(st, "kicks", (double)s.kicks, GBENCH_COUNTER_DEFAULT);
	}
}

/* One tsq_defer variant: its producer loop (push and flush inlined) and its ops. */
#define DEFER_VARIANT(var, push_fn, flush_fn, drain_fn)                                \
	static void var##_produce(struct handoff_run *run, struct handoff_producer *p) \
	{                                                                              \
		handoff_produce(run, p, push_fn, flush_fn);                            \
	}                                                                              \
	const struct handoff_ops handoff_##var = {                                     \
		.name = #var,                                                          \
		.init = defer_init,                                                    \
		.fini = defer_fini,                                                    \
		.produce = var##_produce,                                              \
		.drain = drain_fn,                                                     \
		.report = defer_report,                                                \
	};

DEFER_VARIANT(tsq_defer, defer_push_none, handoff_no_flush, defer_drain)
DEFER_VARIANT(tsq_defer_batch, defer_batch_push_none, defer_batch_flush, defer_drain)
DEFER_VARIANT(tsq_defer_shard, defer_push_shard, handoff_no_flush, defer_drain)
DEFER_VARIANT(tsq_defer_shard_batch, defer_batch_push_shard, defer_batch_flush, defer_drain)
DEFER_VARIANT(tsq_defer_reg, defer_push_reg, handoff_no_flush, defer_drain)
#ifdef TSQ_DEFER_RINGS_OFF
DEFER_VARIANT(tsq_defer_burst, defer_batch_push_shard, defer_batch_flush, defer_burst_drain)

/*
 * tsq_defer_bulk: the producer keeps its own array of HANDOFF_BATCH items and hands it over
 * with tsq_defer_push_bulk(), as the DPDK bulk variant does with rte_ring_mp_enqueue_bulk();
 * the owner drain_burst()s. The same scratch as the batch variants (never both at once).
 */
struct defer_bulk {
	struct tsq_defer_item *objs[HANDOFF_BATCH];
	unsigned n;
};
static_assert(sizeof(struct defer_bulk) <= HANDOFF_PRODUCER_SCRATCH, "scratch");

BENCH_INLINE void defer_bulk_flush(struct handoff_run *run, struct handoff_producer *p)
{
	struct defer_q *q = run->impl;
	struct defer_bulk *b = (struct defer_bulk *)(void *)p->scratch;

	if (b->n == 0)
		return;
	tsq_defer_push_bulk(&q->set, DEFER_OWNER, defer_self_shard(p), b->objs, b->n);
	b->n = 0;
}

BENCH_INLINE void defer_bulk_push(struct handoff_run *run, struct handoff_producer *p,
				  struct handoff_item *it)
{
	struct defer_bulk *b = (struct defer_bulk *)(void *)p->scratch;
	struct tsq_defer_item *d = defer_item_of(it);

	b->objs[b->n++] = d;
	if (b->n == HANDOFF_BATCH)
		defer_bulk_flush(run, p);
}

DEFER_VARIANT(tsq_defer_bulk, defer_bulk_push, defer_bulk_flush, defer_burst_drain)
#endif
