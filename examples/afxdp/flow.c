/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * flow.c - a flow (engine.h): its TSQ and owner callbacks, the RCU flow table, the sender
 * side its application thread calls (acquire, queue, push, release), the application
 * threads' defer shards, and the hand-off functions that bring frames home.
 */
#include "engine_priv.h"

#include <stdlib.h>
#include <string.h>

__thread unsigned xeng_tls_shard = TSQ_DEFER_NO_SHARD;

/* ------------------------------------------------------------------------------------------ */
/* Frames home (defer items)                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* On the application thread: completed TX frames come home, a chain of them per item (the
 * worker hands over the first; the others, of this thread's flows, follow through next). */
void xframe_tx_home_fn(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct xframe *fr = tsq_container_of(it, struct xframe, item);

	if (xframe_requeue_if_fallback(fr, how, fr->flow->shard))
		return;
	while (fr != NULL) {
		struct xframe *next = fr->next;
		struct xflow *f = fr->flow;

		f->pool[f->pool_free++] = fr;
		fr = next;
	}
}

/* On the worker: an RX frame the application is done with goes back to the fill stash. */
void xframe_rx_home_fn(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct xframe *fr = tsq_container_of(it, struct xframe, item);
	struct xworker *w = fr->w;

	if (xframe_requeue_if_fallback(fr, how, w->shard))
		return;
	w->rx_free[w->rx_nfree++] = (uint32_t)(fr - w->frames);
}

/* On the application thread: notices are ready (the drain that runs this woke it). */
static void zc_kick_fn(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct xflow *f = tsq_container_of(it, struct xflow, zc_kick);

	(void)how; /* always drained: queued with tsq_defer_queue() */
	tsq_store(&f->zc_kick_pending, 0u, TSQ_RELEASE);
}

/*
 * Worker: a completion may have queued a notice; wake the flow's application thread once
 * (it reads notices to reuse its buffers). The pending flag is cleared by the drain that
 * runs the item, before the application reads the notices, so a notice queued after that
 * read finds the flag clear and kicks again: none is left unread while the thread sleeps.
 */
void xflow_zc_kick(struct xworker *w, struct xflow *f)
{
	if (tsq_zc_notices_pending(&f->zc) == 0 || tsq_load(&f->zc_kick_pending, TSQ_RELAXED))
		return;
	if (tsq_xchg(&f->zc_kick_pending, 1u, TSQ_ACQ_REL) == 0)
		tsq_defer_queue(&w->e->set, f->shard, &f->zc_kick);
}

static void rx_frame_release(struct xframe *fr)
{
	tsq_defer_item_set_fn(&fr->item, xframe_rx_home_fn);
	/* Inline when the worker itself processed it (direct delivery), else linked. */
	tsq_defer_push(&fr->w->e->set, fr->w->shard, xeng_tls_shard, &fr->item);
}

/* ------------------------------------------------------------------------------------------ */
/* TSQ and owner callbacks                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void flow_send_more(struct tsq_flow *t, enum tsq_flow_how how)
{
	struct xflow *f = tsq_container_of(t, struct xflow, tsq);

	if (how == TSQ_FLOW_DRAINED)
		tsq_counter_add_owner(&f->w->st.restarts, 1);
	xflow_push(f);
}

/* tsq_flow's lock/unlock ops are the short lock: take it, and say whether the flow is owned. */
static bool flow_short_lock(struct tsq_flow *t)
{
	return tsq_owner_lock_check(&tsq_container_of(t, struct xflow, tsq)->own);
}

static void flow_short_unlock(struct tsq_flow *t)
{
	tsq_owner_unlock(&tsq_container_of(t, struct xflow, tsq)->own);
}

/* Flows live until xeng_destroy (after every thread stopped): no hold/put needed. */
static const struct tsq_flow_ops flow_tsq_ops = { flow_send_more, flow_short_lock,
						  flow_short_unlock, NULL, NULL };

/* A received frame: processed by the flow's owner, or under the short lock while nobody owns it. */
static void flow_rx_process(struct tsq_owner *o, struct tsq_owner_work *wk, enum tsq_owner_how how)
{
	struct xflow *f = tsq_container_of(o, struct xflow, own);
	struct xframe *fr = tsq_container_of(wk, struct xframe, work);
	uint64_t seq = fr->seq;

	(void)how;
	if (seq >= f->seen_cap) {
		uint64_t cap = f->seen_cap ? f->seen_cap : 4096;
		uint8_t *n;

		while (cap <= seq)
			cap *= 2;
		n = realloc(f->seen, cap);
		if (n != NULL) {
			memset(n + f->seen_cap, 0, cap - f->seen_cap);
			f->seen = n;
			f->seen_cap = cap;
		}
	}
	if (seq < f->seen_cap) {
		if (f->seen[seq])
			f->rx_dups++;
		f->seen[seq] = 1;
	}
	f->rx_frames++;
	if (seq > f->rx_max_seq || f->rx_frames == 1)
		f->rx_max_seq = seq;
	rx_frame_release(fr);
}

static void flow_release_cb(struct tsq_owner *o)
{
	struct xflow *f = tsq_container_of(o, struct xflow, own);

	if (f->kind != XFLOW_RX)
		tsq_flow_release(&f->tsq); /* DEFERRED: send what the worker could not */
}

static const struct tsq_owner_ops flow_owner_ops = { flow_rx_process, flow_release_cb };

/* ------------------------------------------------------------------------------------------ */
/* Setup, teardown and the flow table                                                          */
/* ------------------------------------------------------------------------------------------ */

int xflow_init(struct xengine *e, struct xflow *f, uint16_t id, enum xflow_kind kind,
	       struct xworker *w, unsigned shard)
{
	struct tsq_budget_opts bcfg = { .size = sizeof(bcfg), .cap = e->cfg.tsq_limit };
	struct tsq_owner_opts ocfg = { .size = sizeof(ocfg), .limit = e->cfg.backlog_limit };
	int err;

	memset(f, 0, offsetof(struct xflow, hnode));
	f->e = e;
	f->w = w;
	f->id = id;
	f->kind = kind;
	f->shard = shard;
	err = tsq_flow_init(&f->tsq, &e->set, w->shard, &flow_tsq_ops, &bcfg);
	if (err == 0)
		err = tsq_owner_init(&f->own, &flow_owner_ops, &ocfg);
	if (err == 0)
		err = tsq_zc_flow_init(&f->zc, f->zc_reserve, XENG_ZC_RESERVE, NULL, NULL);
	tsq_defer_item_init(&f->zc_kick, zc_kick_fn);
	cds_lfht_node_init(&f->hnode);
	return err;
}

/* struct xflow is cache-line aligned (tsq_flow, xflow_txq): calloc would not honour that. */
struct xflow *xflow_alloc(void)
{
	struct xflow *f = aligned_alloc(TSQ_CACHELINE_SIZE, sizeof(*f));

	if (f != NULL)
		memset(f, 0, sizeof(*f));
	return f;
}

void xflow_free_rcu(struct rcu_head *h)
{
	struct xflow *f = caa_container_of(h, struct xflow, rcu);

	tsq_owner_destroy(&f->own);
	free(f->seen);
	free(f->pool);
	free(f->wq);
	free(f);
}

static int flow_match(struct cds_lfht_node *n, const void *key)
{
	return caa_container_of(n, struct xflow, hnode)->id == *(const uint16_t *)key;
}

unsigned long xflow_hash(uint16_t id)
{
	return (unsigned long)id * 0x9e3779b97f4a7c15ull;
}

struct xflow *xeng_rx_flow_find(struct xengine *e, uint16_t id)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	cds_lfht_lookup(e->table, xflow_hash(id), flow_match, &id, &it);
	n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct xflow, hnode) : NULL;
}

/* The flow of a received frame, created on first sight. */
struct xflow *xflow_rx_get(struct xworker *w, uint16_t id)
{
	struct xengine *e = w->e;
	struct xflow *f = xeng_rx_flow_find(e, id), *nf;
	struct cds_lfht_node *got;

	if (f != NULL)
		return f;
	nf = xflow_alloc();
	if (nf == NULL || xflow_init(e, nf, id, XFLOW_RX, w, e->nr_workers) != 0) {
		free(nf);
		return NULL;
	}
	got = cds_lfht_add_unique(e->table, xflow_hash(id), flow_match, &id, &nf->hnode);
	if (got != &nf->hnode) { /* another worker added it first */
		tsq_owner_destroy(&nf->own);
		free(nf);
		return caa_container_of(got, struct xflow, hnode);
	}
	return nf;
}

/* ------------------------------------------------------------------------------------------ */
/* The sender side                                                                             */
/* ------------------------------------------------------------------------------------------ */

struct xframe *xflow_frame_get(struct xflow *f)
{
	if (f->pool_free == 0)
		return NULL;
	return f->pool[--f->pool_free];
}

void xflow_acquire(struct xflow *f)
{
	tsq_owner_acquire(&f->own);
}

void xflow_release(struct xflow *f)
{
	tsq_owner_release(&f->own);
}

void xflow_queue(struct xflow *f, struct xframe *fr)
{
	/* Cannot overflow: the ring has room for every frame of the flow, queued once at most. */
	f->wq[f->wq_tail++ & f->wq_mask] = fr;
}

uint32_t xflow_queued(const struct xflow *f)
{
	return f->wq_tail - f->wq_head;
}

uint64_t xflow_completed(const struct xflow *f)
{
	return tsq_load(&f->txq.completed, TSQ_RELAXED);
}

/* Frames of the write queue a push asks for ahead of the one it charges. */
#define XFLOW_PUSH_AHEAD 8u

/*
 * Take from the write queue, up to XENG_BATCH frames, what the budget allows: check and
 * charge each one, and write nothing into the frames yet. A charge is an atomic RMW, a full
 * barrier on x86: after a write into a frame that is still in the application's cache it
 * would wait for that write's miss, frame after frame. Returns how many went into frs;
 * *stop: the budget said no (THROTTLED is set).
 */
static uint32_t push_charge(struct xflow *f, struct xframe **frs, bool *stop)
{
	uint32_t head = f->wq_head, tail = f->wq_tail, n = 0;

	while (head != tail && n < XENG_BATCH) {
		struct xframe *fr = f->wq[head & f->wq_mask];

		if (f->e->cfg.tsq && !tsq_flow_may_send(&f->tsq, fr->cost, 0)) {
			*stop = true;
			break;
		}
		tsq_flow_charge(&f->tsq, fr->cost);
		if (tail - head > XFLOW_PUSH_AHEAD)
			__builtin_prefetch(f->wq[(head + XFLOW_PUSH_AHEAD) & f->wq_mask], 1, 3);
		head++;
		frs[n++] = fr;
	}
	f->wq_head = head;
	return n;
}

/*
 * The send loop (the kernel's tcp_write_xmit): hand frames down while the budget allows.
 * tsq_flow_may_send() sets THROTTLED and re-checks with a full fence before it says no, so a
 * completion racing with it (tsq_flow_complete) either sees THROTTLED and restarts the flow,
 * or the re-check sees its uncharge. Runs as owner, or on the worker under the short lock;
 * from the worker the hand-off runs inline (same shard) into its queues. From the worker
 * (a restart) every frame was written on the application's CPU: the prefetches ask for the
 * next few at once, so that their misses overlap instead of coming one after the other, and
 * the frames are charged a batch at a time before any of them is written (push_charge).
 * `handed` is a plain sum: every pusher holds the flow (owner or short lock).
 */
void xflow_push(struct xflow *f)
{
	struct xengine *e = f->e;
	struct xframe *frs[XENG_BATCH];
	struct tsq_defer_batch b;
	uint32_t n, handed = 0;
	bool stop = false;

	for (uint32_t i = f->wq_head; i != f->wq_tail && i - f->wq_head < XFLOW_PUSH_AHEAD; i++)
		__builtin_prefetch(f->wq[i & f->wq_mask], 1, 3);
	tsq_defer_batch_init(&b, f->w->shard);
	do {
		n = push_charge(f, frs, &stop);
		for (uint32_t i = 0; i < n; i++) {
			tsq_defer_item_set_fn(&frs[i]->item, xqdisc_enqueue_fn);
			tsq_defer_batch_add(&e->set, &b, xeng_tls_shard, &frs[i]->item);
		}
		handed += n;
	} while (n == XENG_BATCH && !stop);
	tsq_defer_batch_flush(&e->set, &b);
	if (handed)
		tsq_store(&f->handed, tsq_load(&f->handed, TSQ_RELAXED) + handed, TSQ_RELAXED);
}

/* ------------------------------------------------------------------------------------------ */
/* Application threads                                                                         */
/* ------------------------------------------------------------------------------------------ */

void xeng_app_enter(struct xengine *e, unsigned app_slot)
{
	xeng_tls_shard = e->nr_workers + app_slot;
	rcu_register_thread();
}

void xeng_app_leave(void)
{
	rcu_unregister_thread();
	xeng_tls_shard = TSQ_DEFER_NO_SHARD;
}

long xeng_app_reclaim(struct xengine *e)
{
	return tsq_defer_drain(&e->set, xeng_tls_shard);
}

int xeng_app_wait(struct xengine *e, int timeout_ms)
{
	return tsq_defer_wait(&e->set, xeng_tls_shard, timeout_ms);
}
