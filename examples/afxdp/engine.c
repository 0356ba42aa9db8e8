/* SPDX-License-Identifier: BSD-2-Clause */
/* engine.c - see engine.h for the threads, what each owns, and the paths of a frame. */
#include "engine.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_xdp.h>

#define BATCH 64
/* Prefetch frame records and frame data written on the application's CPU (tx_fill,
 * xflow_push). Off: on the shared 2-vCPU test machine 4 alternating matrix rounds could not
 * tell it apart from the noise (TSQ+BQL / bare 0.67-1.01 without, 0.54-1.70 with); measure
 * it where the machine is quiet (-DXENG_PREFETCH=1). */
#ifndef XENG_PREFETCH
#define XENG_PREFETCH 0
#endif

/* The defer shard of the calling thread (TSQ_DEFER_NO_SHARD for others). */
static __thread unsigned tls_shard = TSQ_DEFER_NO_SHARD;

uint64_t xeng_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(struct xengine *e, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}

void *xframe_data(const struct xframe *fr)
{
	return (uint8_t *)fr->w->area + fr->addr;
}

/* ------------------------------------------------------------------------------------------ */
/* Frame hand-offs (defer items)                                                               */
/* ------------------------------------------------------------------------------------------ */

/*
 * A frame never changes owner, so a fallback run (the target's list over its bound, the item
 * run by the *pushing* thread) must not touch the target's structures: it re-links the item
 * with tsq_defer_queue(), which ignores the bound. The bound is sized above the number of
 * frames, so this is a safety net, counted when it happens.
 */
static bool requeue_if_fallback(struct xframe *fr, enum tsq_defer_how how, unsigned target)
{
	if (how != TSQ_DEFER_FALLBACK)
		return false;
	tsq_counter_add_shared(&fr->w->st.defer_requeued, 1);
	tsq_defer_queue(&fr->w->e->set, target, &fr->item);
	return true;
}

/*
 * On the worker: a frame handed down by a flow joins the worker's queues - its flow's queue
 * (fq) or the FIFO; a queue that was empty joins the round at the back (engine.h).
 */
static void xmit_fn(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct xframe *fr = tsq_container_of(it, struct xframe, item);
	struct xworker *w = fr->w;
	struct xflow *f = fr->flow;
	struct xqueue *q;

	if (requeue_if_fallback(fr, how, w->shard))
		return;
	q = w->e->cfg.qdisc == XENG_QDISC_FQ ? &f->txq.q : &w->fifo;
	if (f->kind == XFLOW_PROBE) { /* positions for the fairness figure (tx_fill) */
		uint32_t others = w->nr_active - q->active; /* fq: the other flows' queues */

		fr->q_pos = w->dequeued - f->txq.out;
		fr->q_ahead = f->txq.frames;
		if (q != &w->fifo && others > w->qwait_others_max)
			w->qwait_others_max = others;
	}
	fr->next = NULL;
	if (q->tail != NULL)
		q->tail->next = fr;
	else
		q->head = fr;
	q->tail = fr;
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
 * round; that queue goes to the back of the round (one frame per turn), or leaves it when it
 * is empty. Only called with w->queued != 0.
 */
static struct xframe *txq_dequeue(struct xworker *w)
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

/* On the flow's application thread: a completed TX frame comes home. */
static void tx_home_fn(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct xframe *fr = tsq_container_of(it, struct xframe, item);
	struct xflow *f = fr->flow;

	if (requeue_if_fallback(fr, how, f->shard))
		return;
	f->pool[f->pool_free++] = fr;
}

/* On the worker: an RX frame the application is done with goes back to the fill stash. */
static void rx_home_fn(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct xframe *fr = tsq_container_of(it, struct xframe, item);
	struct xworker *w = fr->w;

	if (requeue_if_fallback(fr, how, w->shard))
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
static void zc_kick(struct xworker *w, struct xflow *f)
{
	if (tsq_zc_notices_pending(&f->zc) == 0 || tsq_load(&f->zc_kick_pending, TSQ_RELAXED))
		return;
	if (tsq_xchg(&f->zc_kick_pending, 1u, TSQ_ACQ_REL) == 0)
		tsq_defer_queue(&w->e->set, f->shard, &f->zc_kick);
}

static void rx_frame_release(struct xframe *fr)
{
	tsq_defer_item_set_fn(&fr->item, rx_home_fn);
	/* Inline when the worker itself processed it (direct delivery), else linked. */
	tsq_defer_push(&fr->w->e->set, fr->w->shard, tls_shard, &fr->item);
}

/* ------------------------------------------------------------------------------------------ */
/* Flows: TSQ and owner callbacks                                                              */
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
static const struct tsq_flow_ops flow_tsq_ops = {flow_send_more, flow_short_lock,
						  flow_short_unlock, NULL, NULL};

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

static const struct tsq_owner_ops flow_owner_ops = {flow_rx_process, flow_release_cb};

static int flow_init(struct xengine *e, struct xflow *f, uint16_t id, enum xflow_kind kind,
		     struct xworker *w, unsigned shard)
{
	struct tsq_budget_opts bcfg = {.size = sizeof(bcfg), .cap = e->cfg.tsq_limit};
	struct tsq_owner_opts ocfg = {.size = sizeof(ocfg), .limit = e->cfg.backlog_limit};
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
static struct xflow *flow_alloc(void)
{
	struct xflow *f = aligned_alloc(TSQ_CACHELINE_SIZE, sizeof(*f));

	if (f != NULL)
		memset(f, 0, sizeof(*f));
	return f;
}

static void flow_free_rcu(struct rcu_head *h)
{
	struct xflow *f = caa_container_of(h, struct xflow, rcu);

	tsq_owner_destroy(&f->own);
	free(f->seen);
	free(f->pool);
	free(f);
}

static int flow_match(struct cds_lfht_node *n, const void *key)
{
	return caa_container_of(n, struct xflow, hnode)->id == *(const uint16_t *)key;
}

static unsigned long flow_hash(uint16_t id)
{
	return (unsigned long)id * 0x9e3779b97f4a7c15ull;
}

struct xflow *xeng_rx_flow_find(struct xengine *e, uint16_t id)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	cds_lfht_lookup(e->table, flow_hash(id), flow_match, &id, &it);
	n = cds_lfht_iter_get_node(&it);
	return n ? caa_container_of(n, struct xflow, hnode) : NULL;
}

/* Worker, under rcu_read_lock: the flow of a received frame, created on first sight. */
static struct xflow *rx_flow_get(struct xworker *w, uint16_t id)
{
	struct xengine *e = w->e;
	struct xflow *f = xeng_rx_flow_find(e, id), *nf;
	struct cds_lfht_node *got;

	if (f != NULL)
		return f;
	nf = flow_alloc();
	if (nf == NULL || flow_init(e, nf, id, XFLOW_RX, w, e->nr_workers) != 0) {
		free(nf);
		return NULL;
	}
	got = cds_lfht_add_unique(e->table, flow_hash(id), flow_match, &id, &nf->hnode);
	if (got != &nf->hnode) { /* another worker added it first */
		tsq_owner_destroy(&nf->own);
		free(nf);
		return caa_container_of(got, struct xflow, hnode);
	}
	return nf;
}

/* ------------------------------------------------------------------------------------------ */
/* Frame format                                                                                */
/* ------------------------------------------------------------------------------------------ */

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		sum += (uint32_t)(p[0] << 8);
	return sum;
}

void xeng_frame_build(const struct xeng_cfg *c, uint8_t *p, uint32_t len, uint16_t flow,
		      uint8_t kind, uint64_t seq)
{
	uint8_t *ip6 = p + 14, *udp = ip6 + 40;
	uint32_t ulen = len - 14 - 40;
	struct xeng_payload pl = {XENG_MAGIC, flow, kind, 0, seq};
	uint64_t sum;
	uint16_t ck;

	memcpy(p, c->dst_mac, 6);
	memcpy(p + 6, c->src_mac, 6);
	p[12] = 0x86;
	p[13] = 0xdd;
	ip6[0] = 0x60;
	ip6[1] = ip6[2] = ip6[3] = 0;
	ip6[4] = (uint8_t)(ulen >> 8);
	ip6[5] = (uint8_t)ulen;
	ip6[6] = 17; /* UDP */
	ip6[7] = 64;
	memcpy(ip6 + 8, c->src_ip, 16);
	memcpy(ip6 + 24, c->dst_ip, 16);
	udp[0] = (uint8_t)(c->port >> 8);
	udp[1] = (uint8_t)c->port;
	udp[2] = (uint8_t)(c->port >> 8);
	udp[3] = (uint8_t)c->port;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	udp[6] = udp[7] = 0;
	memcpy(udp + 8, &pl, sizeof(pl));
	memset(udp + 8 + sizeof(pl), 0xa5, ulen - 8 - sizeof(pl));
	/* UDP over IPv6 must carry a checksum: pseudo header (addresses, length, next header). */
	sum = csum_add(0, ip6 + 8, 32);
	sum += ulen + 17;
	sum = csum_add(sum, udp, ulen);
	ck = csum_fold(sum);
	if (ck == 0)
		ck = 0xffff;
	udp[6] = (uint8_t)(ck >> 8);
	udp[7] = (uint8_t)ck;
}

uint32_t xflow_build(struct xflow *f, struct xframe *fr, uint32_t len)
{
	const struct xeng_cfg *c = &f->e->cfg;

	xeng_frame_build(c, xframe_data(fr), len, f->id, (uint8_t)f->kind, f->next_seq);
	fr->len = len;
	fr->seq = f->next_seq++;
	fr->flow = f;
	fr->cost = c->frame_size; /* what the frame pins, like an skb's truesize */
	fr->build = 0;
	return len;
}

uint32_t xflow_describe(struct xflow *f, struct xframe *fr, uint32_t len)
{
	fr->len = len;
	fr->seq = f->next_seq++;
	fr->flow = f;
	fr->cost = f->e->cfg.frame_size;
	fr->build = 1;
	return len;
}

/* On the worker (tx_fill): write a described frame just before its descriptor. */
static void frame_build_late(const struct xengine *e, struct xframe *fr)
{
	const struct xflow *f = fr->flow;

	xeng_frame_build(&e->cfg, xframe_data(fr), fr->len, f->id, (uint8_t)f->kind, fr->seq);
	fr->build = 0;
}

int xeng_parse(const uint8_t *p, uint32_t len, uint16_t port, struct xeng_payload *out)
{
	const uint8_t *udp = p + 14 + 40;

	if (len < XENG_MIN_LEN || p[12] != 0x86 || p[13] != 0xdd || p[14 + 6] != 17)
		return -EINVAL;
	if ((uint16_t)(udp[2] << 8 | udp[3]) != port)
		return -EINVAL;
	memcpy(out, udp + 8, sizeof(*out));
	return out->magic == XENG_MAGIC ? 0 : -EINVAL;
}

/* ------------------------------------------------------------------------------------------ */
/* Sender side of a flow                                                                       */
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
	fr->next = NULL;
	if (f->wq_tail != NULL)
		f->wq_tail->next = fr;
	else
		f->wq_head = fr;
	f->wq_tail = fr;
	f->wq_len++;
}

/*
 * The send loop (the kernel's tcp_write_xmit): hand frames down while the budget allows.
 * tsq_flow_may_send() sets THROTTLED and re-checks with a full fence before it says no, so a
 * completion racing with it either sees THROTTLED and restarts the flow, or the re-check
 * sees its uncharge (budget.h: F1/B1 against C1/C2). Runs as owner, or on the worker under
 * the short lock; from the worker the hand-off runs inline (same shard) into its FIFO.
 */
void xflow_push(struct xflow *f)
{
	struct xengine *e = f->e;
	struct tsq_defer_batch b;
	uint64_t handed = 0;

	tsq_defer_batch_init(&b, f->w->shard);
	while (f->wq_head != NULL) {
		struct xframe *fr = f->wq_head;

#if XENG_PREFETCH
		/* From the worker (a restart) every record was written on the application's CPU:
		 * fetch the next one while this one is handed over. */
		if (fr->next != NULL)
			__builtin_prefetch(fr->next, 1, 3);
#endif

		if (e->cfg.tsq && !tsq_flow_may_send(&f->tsq, fr->cost, 0))
			break;
		tsq_flow_charge(&f->tsq, fr->cost);
		f->wq_head = fr->next;
		if (f->wq_head == NULL)
			f->wq_tail = NULL;
		f->wq_len--;
		tsq_defer_item_set_fn(&fr->item, xmit_fn);
		tsq_defer_batch_add(&e->set, &b, tls_shard, &fr->item);
		handed++;
	}
	tsq_defer_batch_flush(&e->set, &b);
	if (handed)
		tsq_fetch_add(&f->handed, handed, TSQ_RELAXED);
}

/* ------------------------------------------------------------------------------------------ */
/* Application threads                                                                         */
/* ------------------------------------------------------------------------------------------ */

void xeng_app_enter(struct xengine *e, unsigned app_slot)
{
	tls_shard = e->nr_workers + app_slot;
	rcu_register_thread();
}

void xeng_app_leave(void)
{
	rcu_unregister_thread();
	tls_shard = TSQ_DEFER_NO_SHARD;
}

long xeng_app_reclaim(struct xengine *e)
{
	return tsq_defer_drain(&e->set, tls_shard);
}

int xeng_app_wait(struct xengine *e, int timeout_ms)
{
	return tsq_defer_wait(&e->set, tls_shard, timeout_ms);
}

/* ------------------------------------------------------------------------------------------ */
/* The worker                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void occ_sample(struct xworker *w)
{
	uint32_t o = w->outstanding, max = 2 * w->e->cfg.ring_size;

	w->occ_hist[o < max ? o : max]++;
	if (o > w->occ_max)
		w->occ_max = o;
}

/* A probe frame leaves the queues: how many other flows' frames left while it waited. */
static void qwait_sample(struct xworker *w, const struct xframe *fr)
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

/*
 * Queues -> TX ring, as far as the ring has room and, with BQL, the queue's limit allows: up
 * to and including the frame that takes the queue over its limit (the kernel sends the skb
 * that crosses it, then stops). Exact: the worker is the queue's only sender and its only
 * completion context. Frames are taken from the queues a batch at a time and then reserved:
 * reserve() is all-or-nothing, and a batch never asks for more than the ring has free.
 */
static unsigned tx_fill(struct xworker *w)
{
	struct xframe *frs[BATCH];
	uint32_t room, total = 0;
	int64_t avail = 0;
	uint64_t now = 0;
	bool bql = w->dql != NULL;

	if (w->queued == 0)
		return 0;
	if (bql) {
		if (tsq_dql_stopped(w->dql)) { /* a completion restarts it (tx_complete) */
			tsq_counter_add_owner(&w->st.bql_blocked, 1);
			return 0;
		}
		now = xeng_now_ns();
		avail = tsq_dql_avail(w->dql);
	}
	room = xsk_prod_nb_free(&w->tx, w->queued);
	if (room > w->queued)
		room = w->queued;
	while (room > 0 && (!bql || avail >= 0)) {
		uint32_t idx, n = 0;

		while (n < BATCH && n < room && (!bql || avail >= 0)) {
			struct xframe *fr = txq_dequeue(w);

			if (fr->flow->kind == XFLOW_PROBE) {
				fr->t_ring = now ? now : xeng_now_ns();
				qwait_sample(w, fr);
			}
			fr->flow->txq.out++;
			w->dequeued++;
			avail -= fr->len;
			if (fr->build)
				frame_build_late(w->e, fr);
#if XENG_PREFETCH
			/* The kernel copies the frame in the kick that follows; it was built on
			 * the application's CPU: start fetching its lines now, all at once. */
			__builtin_prefetch(xframe_data(fr), 0, 3);
			if (fr->len > 64)
				__builtin_prefetch((const uint8_t *)xframe_data(fr) + 64, 0, 3);
#endif
			frs[n++] = fr;
		}
		if (xsk_ring_prod__reserve(&w->tx, n, &idx) != n) /* n <= room: cannot fail */
			abort();
		for (uint32_t i = 0; i < n; i++) {
			struct xdp_desc *d = xsk_ring_prod__tx_desc(&w->tx, idx + i);

			d->addr = frs[i]->addr;
			d->len = frs[i]->len;
			d->options = 0;
			/* Before the submit: the kernel cannot complete what BQL has not counted.
			 * The last frame taken is the one that stops the queue. */
			if (bql)
				tsq_dql_tx_sent(w->dql, frs[i]->len, now);
		}
		room -= n;
		total += n;
	}
	if (total == 0) {
		tsq_counter_add_owner(&w->st.ring_full, 1);
		return 0;
	}
	xsk_ring_prod__submit(&w->tx, total);
	tsq_store(&w->outstanding, w->outstanding + total, TSQ_RELAXED);
	tsq_counter_add_owner(&w->st.tx_submitted, total);
	w->tx_dirty = true;
	occ_sample(w);
	return total;
}

/*
 * The link is gone under the socket: the interface is down (ENETDOWN) or the socket lost its
 * device (ENXIO). Kicking again at once would spin millions of failing sendto() calls a
 * second, so the worker backs off (50 us doubling to 20 ms) and records since when; the
 * application reads that with xeng_link_error() and decides when to give up.
 */
static void tx_kick_link_up(struct xworker *w)
{
	if (w->link_down_since != 0)
		tsq_store(&w->link_down_since, 0, TSQ_RELAXED);
	w->link_backoff_us = 0;
}

static void tx_kick_link_down(struct xworker *w, int err)
{
	tsq_counter_add_owner(&w->st.kick_link_down, 1);
	tsq_store(&w->link_errno, err, TSQ_RELAXED);
	if (w->link_down_since == 0)
		tsq_store(&w->link_down_since, xeng_now_ns(), TSQ_RELAXED);
	w->link_backoff_us = w->link_backoff_us ? w->link_backoff_us * 2 : 50;
	if (w->link_backoff_us > 20000)
		w->link_backoff_us = 20000;
}

/* Tell the kernel there is TX work: every time in copy mode, when asked in zero-copy mode. */
static void tx_kick(struct xworker *w)
{
	if (!w->tx_dirty)
		return;
	if (w->e->zerocopy && w->e->cfg.need_wakeup && !xsk_ring_prod__needs_wakeup(&w->tx)) {
		w->tx_dirty = false;
		tx_kick_link_up(w);
		return;
	}
	tsq_counter_add_owner(&w->st.kicks, 1);
	if (sendto(xsk_socket__fd(w->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) {
		/* Copy mode moves at most 32 descriptors per call: clean only when all consumed. */
		w->tx_dirty = *w->tx.consumer != w->tx.cached_prod;
		tx_kick_link_up(w);
		return;
	}
	if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS || errno == EINTR) {
		/* More to move, or the driver is busy: kick again next round. */
		tsq_counter_add_owner(&w->st.kick_again, 1);
		return;
	}
	tsq_counter_add_owner(&w->st.kick_errors, 1);
	if (errno == ENETDOWN || errno == ENXIO)
		tx_kick_link_down(w, errno);
}

/* Hand application shard i's held frames over: back-to-back defer batches, one wake-up. */
static void tx_home_one(struct xworker *w, unsigned i)
{
	struct xengine *e = w->e;
	struct xhome *h = &w->home[i];
	struct xframe *fr = h->head;

	while (fr != NULL) {
		struct xframe *next = fr->next;

		tsq_defer_item_set_fn(&fr->item, tx_home_fn);
		tsq_defer_batch_add(&e->set, &w->ret[i], w->shard, &fr->item); /* 32: hands over */
		fr = next;
	}
	tsq_defer_batch_flush(&e->set, &w->ret[i]);
	tsq_counter_add_owner(&w->st.ret_flushes, 1);
	h->head = h->tail = NULL;
	h->n = 0;
}

/* Everything held goes home (the oldest is ret_hold_ns old, or the worker is idle). */
static void tx_home_flush(struct xworker *w)
{
	if (w->ret_since == 0)
		return;
	for (unsigned i = 0; i < w->e->cfg.nr_app_shards; i++)
		if (w->home[i].n != 0)
			tx_home_one(w, i);
	/* Release: xeng_quiesce() reads 0 (acquire), then lets the applications take their
	 * frames back; the hand-overs above must be visible to them by then. */
	tsq_store(&w->ret_since, 0, TSQ_RELEASE);
}

/* A completed TX frame joins its application's held chain; a full chain goes home. */
static void tx_home_add(struct xworker *w, struct xframe *fr, unsigned i, uint64_t now)
{
	struct xhome *h = &w->home[i];

	fr->next = NULL;
	if (h->tail != NULL)
		h->tail->next = fr;
	else
		h->head = fr;
	h->tail = fr;
	if (w->ret_since == 0)
		tsq_store(&w->ret_since, now, TSQ_RELAXED);
	if (++h->n >= h->max)
		tx_home_one(w, i);
}

/*
 * Completion ring: uncharge (TSQ per flow, BQL for the queue), drop zerocopy references,
 * send frames home. Up to the whole ring per round: BQL's completion runs once per round,
 * as the kernel's once per NAPI poll.
 */
static unsigned tx_complete(struct xworker *w)
{
	struct xengine *e = w->e;
	uint32_t idx, n, i, bytes = 0;
	uint64_t now = 0;

	n = xsk_ring_cons__peek(&w->cq, e->cfg.ring_size, &idx);
	if (n == 0) {
		if (w->ret_since != 0 && xeng_now_ns() - w->ret_since >= e->cfg.ret_hold_ns)
			tx_home_flush(w);
		return 0;
	}
	now = xeng_now_ns();
	tsq_counter_add_owner(&w->st.complete_rounds, 1);
	for (i = 0; i < n; i++) {
		uint64_t addr = *xsk_ring_cons__comp_addr(&w->cq, idx + i);
		struct xframe *fr = &w->frames[addr / e->cfg.frame_size];
		struct xflow *f = fr->flow;

		if (f->kind == XFLOW_PROBE && w->nlat < w->lat_cap) {
			w->lat_ring[w->nlat] = now - fr->t_ring;
			w->lat_send[w->nlat] = now - fr->t_send;
			w->nlat++;
		}
		bytes += fr->len;
		tsq_counter_add_owner(&f->completed, 1);
		tsq_counter_add_owner(&f->completed_bytes, fr->len);
		/* May restart the flow: queued to its home shard (this worker), run by the next drain. */
		tsq_flow_complete(&f->tsq, fr->cost);
		if (fr->zc != NULL) {
			struct tsq_zc_ctx *c = fr->zc;

			fr->zc = NULL;
			tsq_zc_put(&f->zc, c, fr->copied);
			zc_kick(w, f);
		}
		if (fr->kind == XFRAME_TX)
			tx_home_add(w, fr, f->shard - e->nr_workers, now);
	}
	xsk_ring_cons__release(&w->cq, n);
	tsq_store(&w->outstanding, w->outstanding - n, TSQ_RELAXED);
	tsq_counter_add_owner(&w->st.tx_completed, n);
	/* The restart itself is the next tx_fill: the loop goes round again (work != 0). */
	if (w->dql != NULL)
		tsq_dql_tx_completed(w->dql, bytes, now);
	if (w->ret_since != 0 && now - w->ret_since >= e->cfg.ret_hold_ns)
		tx_home_flush(w);
	return n;
}

static void fill_refill(struct xworker *w)
{
	uint32_t idx, got, i;

	if (w->rx_nfree == 0)
		return;
	got = xsk_prod_nb_free(&w->fq, w->rx_nfree); /* reserve() is all-or-nothing */
	if (got > w->rx_nfree)
		got = w->rx_nfree;
	got = got ? xsk_ring_prod__reserve(&w->fq, got, &idx) : 0;
	for (i = 0; i < got; i++)
		*xsk_ring_prod__fill_addr(&w->fq, idx + i) = w->frames[w->rx_free[--w->rx_nfree]].addr;
	if (got)
		xsk_ring_prod__submit(&w->fq, got);
	if (got && xsk_ring_prod__needs_wakeup(&w->fq)) {
		tsq_counter_add_owner(&w->st.fill_kicks, 1);
		recvfrom(xsk_socket__fd(w->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
}

static unsigned rx_poll(struct xworker *w)
{
	struct xengine *e = w->e;
	uint32_t idx, n, i;

	n = xsk_ring_cons__peek(&w->rx, BATCH, &idx);
	if (n == 0)
		return 0;
	rcu_read_lock();
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&w->rx, idx + i);
		uint64_t base = xsk_umem__extract_addr(d->addr);
		struct xframe *fr = &w->frames[base / e->cfg.frame_size];
		struct xeng_payload pl;
		struct xflow *f;
		int r;

		tsq_counter_add_owner(&w->st.rx_frames, 1);
		if (xeng_parse((uint8_t *)w->area + xsk_umem__add_offset_to_addr(d->addr), d->len,
			       e->cfg.port, &pl) != 0 ||
		    (f = rx_flow_get(w, pl.flow)) == NULL) {
			tsq_counter_add_owner(&w->st.rx_invalid, 1);
			w->rx_free[w->rx_nfree++] = (uint32_t)(fr - w->frames);
			continue;
		}
		fr->seq = pl.seq;
		fr->len = d->len;
		r = tsq_owner_deliver(&f->own, &fr->work, fr->len, 0);
		if (r == TSQ_OWNER_PROCESSED) {
			tsq_counter_add_owner(&w->st.rx_direct, 1);
		} else if (r == TSQ_OWNER_BACKLOGGED) {
			tsq_counter_add_owner(&w->st.rx_backlogged, 1);
		} else { /* -ENOBUFS: the backlog is full; the frame is ours again */
			tsq_counter_add_owner(&w->st.rx_backlog_drops, 1);
			w->rx_free[w->rx_nfree++] = (uint32_t)(fr - w->frames);
		}
	}
	rcu_read_unlock();
	xsk_ring_cons__release(&w->rx, n);
	return n;
}

/* Sleep until a hand-off or a received frame, without losing the defer kick (defer.h I1/I2). */
static void worker_idle(struct xworker *w)
{
	struct xengine *e = w->e;
	struct pollfd pfd[2];
	uint64_t v;
	int n = 0;

	if (!tsq_defer_idle_enter(&e->set, w->shard))
		return;
	pfd[n].fd = tsq_defer_fd(&e->set, w->shard);
	pfd[n++].events = POLLIN;
	if (e->cfg.rx) {
		pfd[n].fd = xsk_socket__fd(w->xsk);
		pfd[n++].events = POLLIN;
	}
	if (poll(pfd, (nfds_t)n, 2) > 0 && (pfd[0].revents & POLLIN)) {
		ssize_t got = read(pfd[0].fd, &v, sizeof(v)); /* before idle_exit re-arms the kick */

		(void)got;
	}
	tsq_defer_idle_exit(&e->set, w->shard);
}

static void *worker_main(void *arg)
{
	struct xworker *w = arg;
	struct xengine *e = w->e;
	unsigned idle = 0;

	tls_shard = w->shard;
	rcu_register_thread();
	if (e->cfg.pin_cpus) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		cpu_set_t set;

		if ((long)w->idx < ncpu) {
			CPU_ZERO(&set);
			CPU_SET(w->idx, &set);
			pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		}
	}
	while (!tsq_load(&e->stop, TSQ_ACQUIRE)) {
		unsigned work = 0;

		work += (unsigned)tsq_defer_drain(&e->set, w->shard); /* hand-offs, restarts, RX frames home */
		work += tx_fill(w);
		tx_kick(w);
		work += tx_complete(w);
		if (e->cfg.rx) {
			work += rx_poll(w);
			fill_refill(w);
		}
		if (w->link_backoff_us != 0) { /* the link is down: do not spin on failing kicks */
			usleep(w->link_backoff_us);
			continue;
		}
		if (work != 0 || w->tx_dirty) {
			idle = 0;
			continue;
		}
		tx_home_flush(w); /* nothing else to do: the frames held for a fuller batch go home */
		/* Nothing moved: spin a little (completions may be on their way), then sleep. */
		if (++idle < 64 || (w->outstanding != 0 && idle < 4096)) {
			tsq_counter_add_owner(&w->st.idle_yields, 1);
			sched_yield();
			continue;
		}
		tsq_counter_add_owner(&w->st.idle_sleeps, 1);
		worker_idle(w);
	}
	rcu_unregister_thread();
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Setup                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/* The frames of worker w: its RX frames, then the pool and arena of each flow homed on it. */
static uint32_t worker_nframes(const struct xengine *e, const struct xworker *w,
			       const struct xflow_spec *specs, unsigned nr_specs)
{
	uint32_t n = e->cfg.rx_frames;

	for (unsigned i = 0; i < nr_specs; i++)
		if (i % e->nr_workers == w->idx)
			n += specs[i].pool_frames + specs[i].arena_frames;
	return n;
}

/* Step 1: the UMEM area and the worker's private arrays. */
static int worker_alloc(struct xengine *e, struct xworker *w, uint32_t nframes)
{
	const struct xeng_cfg *c = &e->cfg;

	w->nr_frames = nframes;
	w->area_size = (size_t)nframes * c->frame_size;
	w->area = mmap(NULL, w->area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->area == MAP_FAILED) {
		w->area = NULL;
		return fail(e, -errno, "mmap of %zu bytes of UMEM failed", w->area_size);
	}
	w->frames = calloc(nframes, sizeof(*w->frames));
	w->rx_free = calloc(c->rx_frames ? c->rx_frames : 1, sizeof(*w->rx_free));
	w->ret = calloc(c->nr_app_shards ? c->nr_app_shards : 1, sizeof(*w->ret));
	w->home = calloc(c->nr_app_shards ? c->nr_app_shards : 1, sizeof(*w->home));
	w->occ_hist = calloc(2 * c->ring_size + 1, sizeof(*w->occ_hist));
	w->qwait_hist = calloc(XENG_QWAIT_BUCKETS, sizeof(*w->qwait_hist));
	w->lat_cap = 1u << 20;
	w->lat_ring = calloc(w->lat_cap, sizeof(uint64_t));
	w->lat_send = calloc(w->lat_cap, sizeof(uint64_t));
	if (!w->frames || !w->rx_free || !w->ret || !w->home || !w->occ_hist || !w->qwait_hist ||
	    !w->lat_ring || !w->lat_send)
		return fail(e, -ENOMEM, "out of memory");
	if (c->bql) {
		struct tsq_dql_opts qcfg = {.size = sizeof(qcfg), .max_limit = c->bql_limit_max};
		int err;

		w->dql = aligned_alloc(TSQ_CACHELINE_SIZE, sizeof(*w->dql));
		if (w->dql == NULL)
			return fail(e, -ENOMEM, "out of memory");
		err = tsq_dql_init(w->dql, &qcfg, xeng_now_ns());
		if (err)
			return fail(e, err, "BQL: %s", strerror(-err));
	}
	for (unsigned i = 0; i < c->nr_app_shards; i++)
		tsq_defer_batch_init(&w->ret[i], e->nr_workers + i);
	return 0;
}

/* Step 2: give every chunk its owner - the worker's RX frames first, then each flow homed
 * here gets its TX pool and its zerocopy arena. */
static int worker_frames_assign(struct xengine *e, struct xworker *w,
				const struct xflow_spec *specs, unsigned nr_specs)
{
	const struct xeng_cfg *c = &e->cfg;
	uint32_t i, next = c->rx_frames;

	for (i = 0; i < w->nr_frames; i++) {
		w->frames[i].w = w;
		w->frames[i].addr = (uint64_t)i * c->frame_size;
		tsq_defer_item_init(&w->frames[i].item, rx_home_fn);
	}
	for (i = 0; i < c->rx_frames; i++) {
		w->frames[i].kind = XFRAME_RX;
		w->rx_free[w->rx_nfree++] = i;
	}
	for (i = 0; i < nr_specs; i++) {
		struct xflow *f = e->flows[i];

		if (i % e->nr_workers != w->idx)
			continue;
		w->nr_tx_flows++;
		f->pool = calloc(specs[i].pool_frames ? specs[i].pool_frames : 1, sizeof(*f->pool));
		if (f->pool == NULL)
			return fail(e, -ENOMEM, "out of memory");
		f->pool_frames = specs[i].pool_frames;
		for (uint32_t k = 0; k < specs[i].pool_frames; k++) {
			w->frames[next].kind = XFRAME_TX;
			w->frames[next].flow = f;
			f->pool[f->pool_free++] = &w->frames[next++];
		}
		{ /* a quarter of the pools this application shard serves here, at most a batch */
			struct xhome *h = &w->home[specs[i].app_slot];
			uint32_t q = specs[i].pool_frames / 4;

			h->max += q ? q : 1;
			if (h->max > XENG_RET_BATCH)
				h->max = XENG_RET_BATCH;
		}
		f->arena_first = next;
		f->arena_frames = specs[i].arena_frames;
		for (uint32_t k = 0; k < specs[i].arena_frames; k++) {
			w->frames[next].kind = XFRAME_ARENA;
			w->frames[next++].flow = f;
		}
	}
	return 0;
}

/* Step 3: register the area as the worker's UMEM (with its fill and completion rings). */
static int worker_umem_create(struct xengine *e, struct xworker *w)
{
	const struct xeng_cfg *c = &e->cfg;
	struct xsk_umem_config ucfg = {
		.fill_size = c->ring_size, .comp_size = c->ring_size,
		.frame_size = c->frame_size, .frame_headroom = 0, .flags = 0};
	int err = xsk_umem__create(&w->umem, w->area, w->area_size, &w->fq, &w->cq, &ucfg);

	if (err)
		return fail(e, err,
			    "registering %zu bytes of UMEM failed (%s): the memory is locked against "
			    "RLIMIT_MEMLOCK (ulimit -l) unless the process has CAP_IPC_LOCK; raise the "
			    "limit or run with that capability",
			    w->area_size, strerror(-err));
	return 0;
}

/* One bind attempt; EBUSY is retried for up to a second: a socket that just closed on this
 * queue may still hold it for a moment. */
static int worker_bind_try(struct xengine *e, struct xworker *w, bool zc)
{
	const struct xeng_cfg *c = &e->cfg;
	struct xsk_socket_config scfg = {
		.rx_size = c->ring_size, .tx_size = c->ring_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD, .xdp_flags = 0,
		.bind_flags = (uint16_t)((zc ? XDP_ZEROCOPY : XDP_COPY) |
					 (c->need_wakeup ? XDP_USE_NEED_WAKEUP : 0))};
	int err = -EBUSY;

	for (int tries = 0; tries < 50 && err == -EBUSY; tries++) {
		if (tries)
			usleep(20000);
		err = xsk_socket__create(&w->xsk, c->ifname, w->queue, w->umem, c->rx ? &w->rx : NULL,
					 &w->tx, &scfg);
	}
	return err;
}

/* Step 4: the socket on the worker's queue - zero-copy when asked or possible, else copy. */
static int worker_bind(struct xengine *e, struct xworker *w)
{
	const struct xeng_cfg *c = &e->cfg;
	int err = -EINVAL;

	if (c->bind != XENG_BIND_COPY) {
		err = worker_bind_try(e, w, true);
		if (err == 0)
			e->zerocopy = true;
	}
	if (err != 0 && c->bind != XENG_BIND_ZEROCOPY) {
		err = worker_bind_try(e, w, false);
		if (err == 0)
			e->zerocopy = false;
	}
	if (err)
		return fail(e, err, "binding an AF_XDP socket to %s queue %u failed (%s)%s", c->ifname,
			    w->queue, strerror(-err),
			    c->bind == XENG_BIND_ZEROCOPY ? ": the driver may not support XDP_ZEROCOPY" :
			    err == -EINVAL ? ": does the interface have that queue? (ethtool -l)" : "");
	return 0;
}

/* Step 5 (receivers): the socket into the XSKMAP slot of its queue, the fill ring full. */
static int worker_rx_start(struct xengine *e, struct xworker *w)
{
	int err = xdp_prog_set_xsk(&e->prog, w->queue, xsk_socket__fd(w->xsk));

	if (err)
		return fail(e, err, "XSKMAP update failed (%s)", strerror(-err));
	fill_refill(w);
	return 0;
}

static int worker_setup(struct xengine *e, struct xworker *w, const struct xflow_spec *specs,
			unsigned nr_specs)
{
	int err = worker_alloc(e, w, worker_nframes(e, w, specs, nr_specs));

	if (err == 0)
		err = worker_frames_assign(e, w, specs, nr_specs);
	if (err == 0)
		err = worker_umem_create(e, w);
	if (err == 0)
		err = worker_bind(e, w);
	if (err == 0 && e->cfg.rx)
		err = worker_rx_start(e, w);
	return err;
}

/* The TX flows: flow i is homed on worker i % workers, served by its application shard. */
static int flows_create(struct xengine *e, const struct xflow_spec *specs, unsigned nr_flows)
{
	e->nr_flows = nr_flows;
	e->flows = calloc(nr_flows ? nr_flows : 1, sizeof(*e->flows));
	if (e->flows == NULL)
		return fail(e, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < nr_flows; i++) {
		struct xflow *f = flow_alloc();
		int err;

		if (f == NULL)
			return fail(e, -ENOMEM, "out of memory");
		e->flows[i] = f;
		if (specs[i].app_slot >= e->cfg.nr_app_shards)
			return fail(e, -EINVAL, "flow %u: no application shard %u", i, specs[i].app_slot);
		err = flow_init(e, f, (uint16_t)i, specs[i].kind, &e->workers[i % e->nr_workers],
				e->nr_workers + specs[i].app_slot);
		if (err)
			return fail(e, err, "flow %u: %s", i, strerror(-err));
		rcu_read_lock();
		cds_lfht_add(e->table, flow_hash(f->id), &f->hnode);
		rcu_read_unlock();
	}
	return 0;
}

/* Receivers: the redirect program, one XSKMAP slot per queue up to the last one we bind. */
static int xdp_redirect_setup(struct xengine *e)
{
	const struct xeng_cfg *c = &e->cfg;
	int err = xdp_prog_load_redirect(&e->prog, c->queue + c->nr_queues);

	if (err)
		return fail(e, err, "loading the XDP redirect program failed (%s)", strerror(-err));
	err = xdp_prog_attach(&e->prog, e->ifindex, c->attach);
	if (err)
		return fail(e, err, "attaching XDP to %s failed (%s)", c->ifname, strerror(-err));
	return 0;
}

int xeng_create(struct xengine *e, const struct xeng_cfg *cfg, const struct xflow_spec *specs,
		unsigned nr_flows)
{
	struct tsq_defer_opts dopts = {.size = sizeof(dopts)};
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	uint64_t frames = 0;
	unsigned i;
	int err;

	memset(e, 0, sizeof(*e));
	e->prog.prog_fd = e->prog.map_fd = -1;
	e->cfg = *cfg;
	if (cfg->nr_queues == 0 || cfg->nr_queues > XENG_MAX_WORKERS)
		return fail(e, -EINVAL, "queues must be 1..%d", XENG_MAX_WORKERS);
	if (cfg->frame_size != 2048 && cfg->frame_size != 4096)
		return fail(e, -EINVAL, "frame size must be 2048 or 4096");
	if (cfg->ring_size == 0 || (cfg->ring_size & (cfg->ring_size - 1)))
		return fail(e, -EINVAL, "ring size must be a power of two");
	if (e->cfg.fq_quantum == 0)
		e->cfg.fq_quantum = 1;
	e->ifindex = (int)if_nametoindex(cfg->ifname);
	if (e->ifindex == 0)
		return fail(e, -ENODEV, "no interface '%s' in this network namespace", cfg->ifname);
	/* Lift the memlock limit (CAP_SYS_RESOURCE), else the soft limit to the hard one; carry
	 * on either way: with CAP_IPC_LOCK the UMEM is not charged against it. */
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0 && getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}

	e->nr_workers = cfg->nr_queues;
	e->nr_shards = e->nr_workers + (cfg->nr_app_shards ? cfg->nr_app_shards : 1);
	e->cfg.nr_app_shards = e->nr_shards - e->nr_workers;
	for (i = 0; i < nr_flows; i++)
		frames += specs[i].pool_frames + specs[i].arena_frames;
	frames += (uint64_t)cfg->rx_frames * e->nr_workers;
	/* Above any number of frames that can be in flight: fallbacks stay a safety net. */
	dopts.bound = (uint32_t)(frames * 2 + 1024);
	e->shards = tsq_defer_shards_alloc(e->nr_shards);
	if (e->shards == NULL)
		return fail(e, -ENOMEM, "out of memory");
	err = tsq_defer_set_init(&e->set, e->shards, e->nr_shards, &dopts);
	if (err)
		return fail(e, err, "defer set: %s", strerror(-err));
	e->table = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE, NULL);
	if (e->table == NULL)
		return fail(e, -ENOMEM, "out of memory (flow table)");

	for (i = 0; i < e->nr_workers; i++) {
		e->workers[i].e = e;
		e->workers[i].idx = i;
		e->workers[i].shard = i;
		e->workers[i].queue = cfg->queue + i;
	}
	err = flows_create(e, specs, nr_flows);
	if (err == 0 && cfg->rx)
		err = xdp_redirect_setup(e);
	if (err)
		return err;
	for (i = 0; i < e->nr_workers; i++) {
		err = worker_setup(e, &e->workers[i], specs, nr_flows);
		if (err)
			return err;
	}
	return 0;
}

int xeng_start(struct xengine *e)
{
	for (unsigned i = 0; i < e->nr_workers; i++) {
		int err = pthread_create(&e->workers[i].thread, NULL, worker_main, &e->workers[i]);

		if (err)
			return fail(e, -err, "pthread_create: %s", strerror(err));
		e->workers[i].started = true;
	}
	return 0;
}

int xeng_quiesce(struct xengine *e, int timeout_ms)
{
	uint64_t deadline = xeng_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	tsq_store(&e->app_stopped, 1, TSQ_RELEASE);
	for (;;) {
		bool busy = false;

		for (unsigned i = 0; i < e->nr_flows; i++) {
			struct xflow *f = e->flows[i];

			/* Every frame handed down has completed, and nothing waits to be sent. */
			if (tsq_load(&f->handed, TSQ_RELAXED) != tsq_load(&f->completed, TSQ_RELAXED))
				busy = true;
			if (tsq_owner_lock_check(&f->own) || f->wq_head != NULL)
				busy = true;
			tsq_owner_unlock(&f->own);
		}
		/* ... and no worker holds completed frames back from their application. */
		for (unsigned i = 0; i < e->nr_workers; i++)
			if (tsq_load(&e->workers[i].ret_since, TSQ_ACQUIRE) != 0)
				busy = true;
		if (!busy)
			return 0;
		if (xeng_now_ns() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

void xeng_stop(struct xengine *e)
{
	/* Workers see it within one poll-loop round; an idle worker sleeps at most 2 ms. */
	tsq_store(&e->stop, 1, TSQ_RELEASE);
}

void xeng_destroy(struct xengine *e)
{
	struct cds_lfht_iter it;
	struct xflow *f;

	for (unsigned i = 0; i < e->nr_workers; i++) {
		struct xworker *w = &e->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		w->started = false;
		if (w->xsk)
			xsk_socket__delete(w->xsk);
		if (w->umem)
			xsk_umem__delete(w->umem);
		if (w->area)
			munmap(w->area, w->area_size);
		free(w->frames);
		free(w->rx_free);
		free(w->ret);
		free(w->home);
		free(w->occ_hist);
		free(w->qwait_hist);
		free(w->lat_ring);
		free(w->lat_send);
		free(w->dql);
		memset(w, 0, sizeof(*w));
	}
	xdp_prog_destroy(&e->prog);
	if (e->table != NULL) {
		rcu_read_lock();
		cds_lfht_for_each_entry(e->table, &it, f, hnode) {
			if (cds_lfht_del(e->table, &f->hnode) == 0)
				call_rcu(&f->rcu, flow_free_rcu);
		}
		rcu_read_unlock();
		rcu_barrier();
		cds_lfht_destroy(e->table, NULL);
		e->table = NULL;
	}
	free(e->flows);
	e->flows = NULL;
	if (e->shards != NULL) {
		tsq_defer_set_destroy(&e->set);
		free(e->shards);
		e->shards = NULL;
	}
}

int xeng_link_error(const struct xengine *e, uint64_t *since_ns)
{
	uint64_t oldest = 0;
	int err = 0;

	for (unsigned i = 0; i < e->nr_workers; i++) {
		uint64_t t = tsq_load(&e->workers[i].link_down_since, TSQ_RELAXED);

		if (t != 0 && (oldest == 0 || t < oldest)) {
			oldest = t;
			err = tsq_load(&e->workers[i].link_errno, TSQ_RELAXED);
		}
	}
	if (since_ns != NULL)
		*since_ns = oldest;
	return err;
}

const char *xeng_bind_name(const struct xengine *e)
{
	return e->zerocopy ? "zerocopy" : "copy";
}
