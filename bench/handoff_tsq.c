/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff_tsq.c - tsq's implementations of the hand-off scenario:
 *   tsq_llist         tsq_llist_push() per item; the owner tsq_llist_take_all()s
 *   tsq_llist_batch   a private chain of HANDOFF_BATCH items spliced with one CAS
 *   tsq_defer         tsq_defer_push() from a non-shard producer to the owner's shard 0;
 *                     the owner tsq_defer_drain()s (items run oldest first)
 *   tsq_defer_batch   tsq_defer_batch_add() / tsq_defer_batch_flush()
 *
 * The llist owner walks the chain newest first, as take_all returns it: the scenario only
 * needs every item touched, and the stack-like peers (lfstack, ck_stack) are walked the
 * same way. tsq_defer_drain() reverses into arrival order itself, as its contract says.
 */
#include "handoff.h"

#include <errno.h>

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

BENCH_INLINE void llist_push(struct handoff_run *run, struct handoff_producer *p, struct handoff_item *it)
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

BENCH_INLINE void llist_batch_push(struct handoff_run *run, struct handoff_producer *p, struct handoff_item *it)
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

/* ---- tsq_defer, tsq_defer_batch ------------------------------------------------------- */

/*
 * Far above anything in flight (P * HANDOFF_ITEMS_PER_PRODUCER at most), so no push falls back; the
 * "fallback" counter is reported anyway to show it. (The default bound, 128, is a
 * memory cap for the kernel's per-CPU lists, not a flow control for a benchmark.)
 */
#define DEFER_BOUND (1u << 30)

struct defer_q {
	struct tsq_defer_set set;
	struct tsq_defer_shard *shards;
};

/* The item function has no context argument: the owner's tally is parked here per drain. */
static struct handoff_acc *defer_acc;

static void defer_touch(struct tsq_defer_item *item, enum tsq_defer_how how)
{
	(void)how;
	handoff_touch(defer_acc, HANDOFF_ITEM(item));
}

static int defer_init(struct handoff_run *run, const char **why)
{
	struct tsq_defer_opts opts = {.size = sizeof(opts), .bound = DEFER_BOUND};
	struct defer_q *q = bench_alloc_lines(sizeof(*q));
	int err;

	if (q == NULL || (q->shards = tsq_defer_shards_alloc(1)) == NULL) {
		free(q);
		*why = "allocation";
		return -ENOMEM;
	}
	/* One shard: the owner's. Producers are application threads (TSQ_DEFER_NO_SHARD). */
	err = tsq_defer_set_init(&q->set, q->shards, 1, &opts);
	if (err != 0) {
		free(q->shards);
		free(q);
		*why = "tsq_defer_set_init";
		return err;
	}
	for (unsigned i = 0; i < run->producers; i++)
		tsq_defer_batch_init((struct tsq_defer_batch *)(void *)run->prod[i].scratch, 0);
	run->impl = q;
	return 0;
}

static void defer_fini(struct handoff_run *run)
{
	struct defer_q *q = run->impl;

	tsq_defer_set_destroy(&q->set);
	free(q->shards);
	free(q);
}

BENCH_INLINE void defer_push(struct handoff_run *run, struct handoff_producer *p, struct handoff_item *it)
{
	struct defer_q *q = run->impl;
	struct tsq_defer_item *d = HANDOFF_LINK(it, struct tsq_defer_item);

	(void)p;
	tsq_defer_item_init(d, defer_touch);
	tsq_defer_push(&q->set, 0, TSQ_DEFER_NO_SHARD, d);
}

static void defer_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, defer_push, handoff_no_flush);
}

static_assert(sizeof(struct tsq_defer_batch) <= HANDOFF_PRODUCER_SCRATCH, "scratch");

BENCH_INLINE void defer_batch_flush(struct handoff_run *run, struct handoff_producer *p)
{
	struct defer_q *q = run->impl;

	tsq_defer_batch_flush(&q->set, (struct tsq_defer_batch *)(void *)p->scratch);
}

BENCH_INLINE void defer_batch_push(struct handoff_run *run, struct handoff_producer *p, struct handoff_item *it)
{
	struct defer_q *q = run->impl;
	struct tsq_defer_item *d = HANDOFF_LINK(it, struct tsq_defer_item);

	tsq_defer_item_init(d, defer_touch);
	/* Splices by itself every TSQ_DEFER_BATCH_MAX (= HANDOFF_BATCH) items. */
	tsq_defer_batch_add(&q->set, (struct tsq_defer_batch *)(void *)p->scratch, TSQ_DEFER_NO_SHARD, d);
}

static void defer_batch_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, defer_batch_push, defer_batch_flush);
}

static uint64_t defer_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	struct defer_q *q = run->impl;
	long n;

	defer_acc = acc;
	n = tsq_defer_drain(&q->set, 0);
	return n > 0 ? (uint64_t)n : 0;
}

static void defer_report(struct handoff_run *run, struct gbench_state *st)
{
	struct defer_q *q = run->impl;
	struct tsq_defer_stats s;

	if (tsq_defer_stats(&q->set, 0, &s) == 0) {
		gbench_counter(st, "fallback", (double)s.fallback, GBENCH_COUNTER_DEFAULT);
		gbench_counter(st, "kicks", (double)s.kicks, GBENCH_COUNTER_DEFAULT);
	}
}

const struct handoff_ops handoff_tsq_defer = {
	.name = "tsq_defer",
	.init = defer_init,
	.fini = defer_fini,
	.produce = defer_produce,
	.drain = defer_drain,
	.report = defer_report,
};

static_assert(TSQ_DEFER_BATCH_MAX == HANDOFF_BATCH, "tsq_defer_batch uses the same batch size");

const struct handoff_ops handoff_tsq_defer_batch = {
	.name = "tsq_defer_batch",
	.init = defer_init,
	.fini = defer_fini,
	.produce = defer_batch_produce,
	.drain = defer_drain,
	.report = defer_report,
};
