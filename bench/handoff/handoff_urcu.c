/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff/handoff_urcu.c - liburcu's lock-free queues in the hand-off scenario:
 *   urcu_wfcq      cds_wfcq_enqueue() per item (an exchange on the tail, then a store to the
 *                  previous node); the owner __cds_wfcq_splice_blocking()s the whole queue
 *                  into a private one and walks it in FIFO order
 *   urcu_lfstack   cds_lfs_push() per item (a CAS on the head); the owner
 *                  __cds_lfs_pop_all()s (one exchange) and walks newest first
 *
 * _LGPL_SOURCE selects liburcu's static inline fast paths, as an application that cares
 * about speed would build it; without it every operation is a call into liburcu-common.
 *
 * The _blocking splice and iteration wait when they meet a node whose enqueuer has swapped
 * the tail but not yet linked the previous node: 10 cpu_relax rounds, then a 10 ms poll()
 * sleep. An owner that runs right behind its producers meets that window all the time, and
 * with the sleep the queue measured ~0.3 M items/s here. liburcu lets LGPL users replace
 * the sleep (CDS_WFCQ_WAIT_SLEEP); a busy-polling owner would do so, so this one spins.
 * Only the owner dequeues/splices, which is the "single consumer" row of both headers'
 * synchronization tables: no RCU read-side section and no dequeue lock are needed.
 */
#define _LGPL_SOURCE
#include "handoff.h"

#define CDS_WFCQ_WAIT_SLEEP(msec) ((void)(msec), tsq_cpu_relax())

#include <errno.h>

#include <urcu/lfstack.h>
#include <urcu/wfcqueue.h>

HANDOFF_LINK_FITS(struct cds_wfcq_node);
HANDOFF_LINK_FITS(struct cds_lfs_node);

/* ---- urcu_wfcq -------------------------------------------------------------------------- */

struct wfcq_q {
	/* The head is written by the owner's splice, the tail by every enqueue: separate lines. */
	_Alignas(TSQ_CACHELINE_SIZE) struct __cds_wfcq_head head;
	_Alignas(TSQ_CACHELINE_SIZE) struct cds_wfcq_tail tail;
	/* The owner's private queue the shared one is spliced into. */
	_Alignas(TSQ_CACHELINE_SIZE) struct __cds_wfcq_head dhead;
	struct cds_wfcq_tail dtail;
};

static int wfcq_init(struct handoff_run *run, const char **why)
{
	struct wfcq_q *q = bench_alloc_lines(sizeof(*q));

	if (q == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	__cds_wfcq_init(&q->head, &q->tail);
	__cds_wfcq_init(&q->dhead, &q->dtail);
	run->impl = q;
	return 0;
}

static void wfcq_fini(struct handoff_run *run)
{
	free(run->impl);
}

BENCH_INLINE void wfcq_push(struct handoff_run *run, struct handoff_producer *p,
			    struct handoff_item *it)
{
	struct wfcq_q *q = run->impl;
	struct cds_wfcq_node *n = HANDOFF_LINK(it, struct cds_wfcq_node);

	(void)p;
	cds_wfcq_node_init(n);
	cds_wfcq_enqueue(&q->head, &q->tail, n);
}

static void wfcq_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, wfcq_push, handoff_no_flush);
}

static uint64_t wfcq_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	struct wfcq_q *q = run->impl;
	struct cds_wfcq_node *n, *next;
	uint64_t got = 0;

	/* The splice checks for an empty source with loads only before it exchanges anything. */
	if (__cds_wfcq_splice_blocking(&q->dhead, &q->dtail, &q->head, &q->tail) ==
	    CDS_WFCQ_RET_SRC_EMPTY)
		return 0;
	__cds_wfcq_for_each_blocking_safe(&q->dhead, &q->dtail, n, next)
	{
		handoff_touch(acc, HANDOFF_ITEM(n));
		got++;
	}
	/* Every node was consumed: empty the private queue without dequeuing one by one. */
	__cds_wfcq_init(&q->dhead, &q->dtail);
	return got;
}

const struct handoff_ops handoff_urcu_wfcq = {
	.name = "urcu_wfcq",
	.init = wfcq_init,
	.fini = wfcq_fini,
	.produce = wfcq_produce,
	.drain = wfcq_drain,
};

/* ---- urcu_lfstack ----------------------------------------------------------------------- */

struct lfs_q {
	struct __cds_lfs_stack stack; /* alone on its line */
};

static int lfs_init(struct handoff_run *run, const char **why)
{
	struct lfs_q *q = bench_alloc_lines(sizeof(*q));

	if (q == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	__cds_lfs_init(&q->stack);
	run->impl = q;
	return 0;
}

static void lfs_fini(struct handoff_run *run)
{
	free(run->impl);
}

BENCH_INLINE void lfs_push(struct handoff_run *run, struct handoff_producer *p,
			   struct handoff_item *it)
{
	struct lfs_q *q = run->impl;
	struct cds_lfs_node *n = HANDOFF_LINK(it, struct cds_lfs_node);

	(void)p;
	cds_lfs_node_init(n);
	cds_lfs_push(&q->stack, n);
}

static void lfs_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, lfs_push, handoff_no_flush);
}

static uint64_t lfs_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	struct lfs_q *q = run->impl;
	struct cds_lfs_head *h;
	struct cds_lfs_node *n, *next;
	uint64_t got = 0;

	/* __cds_lfs_pop_all exchanges unconditionally: peek first, like every owner here. */
	if (cds_lfs_empty(&q->stack))
		return 0;
	h = __cds_lfs_pop_all(&q->stack);
	if (h == NULL)
		return 0;
	cds_lfs_for_each_safe(h, n, next)
	{
		handoff_touch(acc, HANDOFF_ITEM(n));
		got++;
	}
	return got;
}

const struct handoff_ops handoff_urcu_lfstack = {
	.name = "urcu_lfstack",
	.init = lfs_init,
	.fini = lfs_fini,
	.produce = lfs_produce,
	.drain = lfs_drain,
};
