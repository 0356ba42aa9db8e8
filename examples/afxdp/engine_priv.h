/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * engine_priv.h - private to the engine's files (engine.c, flow.c, frame.c, qdisc.c,
 * worker.c): what one of them gives the others. The engine's users include engine.h only.
 */
#ifndef TSQ_XSK_ENGINE_PRIV_H
#define TSQ_XSK_ENGINE_PRIV_H

#include "engine.h"

/* Frames taken from the worker's queues or read from a ring per round. */
#define XENG_BATCH 64

/* The defer shard of the calling thread (TSQ_DEFER_NO_SHARD for others). */
extern __thread unsigned xeng_tls_shard;

/*
 * A frame never changes owner, so a fallback run (the target's list over its bound, the item
 * run by the *pushing* thread) must not touch the target's structures: it re-links the item
 * with tsq_defer_queue(), which ignores the bound. The bound is sized above the number of
 * frames, so this is a safety net, counted when it happens.
 */
static inline bool xframe_requeue_if_fallback(struct xframe *fr, enum tsq_defer_how how,
					      unsigned target)
{
	if (how != TSQ_DEFER_FALLBACK)
		return false;
	tsq_counter_add_shared(&fr->w->st.defer_requeued, 1);
	tsq_defer_queue(&fr->w->e->set, target, &fr->item);
	return true;
}

/* Append a frame to a worker-private head/tail queue (the per-flow queues, the FIFO, the
 * frames held for going home). */
static inline void xframe_append(struct xframe **head, struct xframe **tail, struct xframe *fr)
{
	fr->next = NULL;
	if (*tail != NULL)
		(*tail)->next = fr;
	else
		*head = fr;
	*tail = fr;
}

/* engine.c: e->err gets the message; returns err as a negative errno. */
int xeng_fail(struct xengine *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* flow.c: a flow's setup and teardown, the flow table, and the frames' hand-off functions. */
int xflow_init(struct xengine *e, struct xflow *f, uint16_t id, enum xflow_kind kind,
	       struct xworker *w, unsigned shard);
struct xflow *xflow_alloc(void);
void xflow_free_rcu(struct rcu_head *h);
unsigned long xflow_hash(uint16_t id);
struct xflow *xflow_rx_get(struct xworker *w, uint16_t id); /* worker, under rcu_read_lock */
void xframe_tx_home_fn(struct tsq_defer_item *it, enum tsq_defer_how how);
void xframe_rx_home_fn(struct tsq_defer_item *it, enum tsq_defer_how how);
void xflow_zc_kick(struct xworker *w, struct xflow *f);

/* frame.c: the worker writes a described frame just before its descriptor. */
void xframe_build_late(const struct xengine *e, struct xframe *fr);

/* qdisc.c: the worker's queues in front of its TX ring (worker-private). */
void xqdisc_enqueue_fn(struct tsq_defer_item *it, enum tsq_defer_how how);
struct xframe *xqdisc_dequeue(struct xworker *w); /* only with w->queued != 0 */
void xqdisc_wait_sample(struct xworker *w, const struct xframe *fr);

/* worker.c */
void *xworker_main(void *arg);
void xworker_fill_refill(struct xworker *w);

#endif
