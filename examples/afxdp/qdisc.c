/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * qdisc.c - the worker's queues in front of its TX ring (engine.h, "The worker's queues"):
 * one queue per flow served round robin (fq), or one FIFO; and the probe's wait in them,
 * counted in frames of other flows. Worker-private: only the worker that owns the queues
 * runs these.
 */
#include "engine_priv.h"

/*
 * A frame the application wrote on its CPU: the kernel's copy in a later kick would miss on
 * each of its lines, one after the other. Asked for here, when the frame joins the queues
 * (a few hundred frames before the TX ring under BQL: well within the cache), the misses
 * overlap with the worker's other work, and the copy finds the lines.
 */
static void frame_prefetch(const struct xframe *fr)
{
	const uint8_t *p = xframe_data(fr);

	for (uint32_t off = 0; off < fr->len; off += TSQ_CACHELINE_SIZE)
		__builtin_prefetch(p + off, 0, 3);
}

/*
 * On the worker: a frame handed down by a flow joins the worker's queues - its flow's queue
 * (fq) or the FIFO; a queue that was empty joins the round at the back.
 */
void xqdisc_enqueue_fn(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct xframe *fr = tsq_container_of(it, struct xframe, item);
	struct xworker *w = fr->w;
	struct xflow *f = fr->flow;
	struct xqueue *q;

	if (xframe_requeue_if_fallback(fr, how, w->shard))
		return;
	q = w->e->cfg.qdisc == XENG_QDISC_FQ ? &f->txq.q : &w->fifo;
	if (f->kind == XFLOW_PROBE) { /* positions for the fairness figure (tx_fill) */
		uint32_t others = w->nr_active - q->active; /* fq: the other flows' queues */

		fr->q_pos = w->dequeued - f->txq.out;
		fr->q_ahead = f->txq.frames;
		if (q != &w->fifo && others > w->qwait_others_max)
			w->qwait_others_max = others;
	}
	if (!fr->build)
		frame_prefetch(fr);
	xframe_append(&q->head, &q->tail, fr);
	if (!q->active) {
		q->active = true;
		q->rr_next = NULL;
		if (w->rr_tail != NULL)
			w->rr_tail->rr_next = q;
		else
			w->rr_head = q;
		w->rr_tail = q;
		w->nr_active++;
	}
	f->txq.frames++;
	if (++w->queued > w->queued_max)
		w->queued_max = w->queued;
}

/*
 * On the worker: the next frame for the TX ring - the head of the queue at the head of the
 * round; that queue goes to the back of the round after its quantum, or leaves it when it is
 * empty.
 */
struct xframe *xqdisc_dequeue(struct xworker *w)
{
	struct xqueue *q = w->rr_head;
	struct xframe *fr = q->head;

	q->head = fr->next;
	if (q->head == NULL) {
		q->tail = NULL;
		q->active = false;
		w->nr_active--;
		w->rr_head = q->rr_next;
		if (w->rr_head == NULL)
			w->rr_tail = NULL;
		w->turn = 0;
	} else if (++w->turn >= w->e->cfg.fq_quantum) {
		w->turn = 0;
		if (q->rr_next != NULL) {
			w->rr_head = q->rr_next;
			q->rr_next = NULL;
			w->rr_tail->rr_next = q;
			w->rr_tail = q;
		} /* else: the only queue in the round stays at its head */
	}
	fr->flow->txq.frames--;
	w->queued--;
	return fr;
}

/* A probe frame leaves the queues: how many other flows' frames left while it waited. */
void xqdisc_wait_sample(struct xworker *w, const struct xframe *fr)
{
	uint64_t wait = w->dequeued - fr->flow->txq.out - fr->q_pos;
	uint64_t bound = (uint64_t)(fr->q_ahead + 1) * w->e->cfg.fq_quantum *
			 (w->nr_tx_flows ? w->nr_tx_flows - 1 : 0);

	w->qwait_hist[wait < XENG_QWAIT_BUCKETS - 1 ? wait : XENG_QWAIT_BUCKETS - 1]++;
	if (wait > w->qwait_max)
		w->qwait_max = (uint32_t)(wait < UINT32_MAX ? wait : UINT32_MAX);
	if (wait > bound)
		w->qwait_over++;
}
