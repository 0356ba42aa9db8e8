/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * worker.c - the worker's poll loop (engine.h): hand-offs in (its defer shard), its queues
 * into the TX ring under BQL, the kick, completions (TSQ and BQL uncharged, zerocopy
 * references dropped, frames sent home), RX and the fill ring, and sleeping when idle.
 */
#include "engine_priv.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_xdp.h>

static void occ_sample(struct xworker *w)
{
	uint32_t o = w->outstanding, max = 2 * w->e->cfg.ring_size;

	w->occ_hist[o < max ? o : max]++;
	if (o > w->occ_max)
		w->occ_max = o;
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
	struct xframe *frs[XENG_BATCH];
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

		while (n < XENG_BATCH && n < room && (!bql || avail >= 0)) {
			struct xframe *fr = xqdisc_dequeue(w);

			if (fr->flow->kind == XFLOW_PROBE) {
				fr->t_ring = now ? now : xeng_now_ns();
				xqdisc_wait_sample(w, fr);
			}
			fr->flow->txq.out++;
			w->dequeued++;
			avail -= fr->len;
			if (fr->build)
				xframe_build_late(w->e, fr);
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

/* Hand application shard i's held frames over: the chain's first frame is the one defer item,
 * the others follow through `next` (xframe_tx_home_fn). One push, one wake-up. */
static void tx_home_one(struct xworker *w, unsigned i)
{
	struct xhome *h = &w->home[i];

	tsq_defer_item_set_fn(&h->head->item, xframe_tx_home_fn);
	tsq_defer_push(&w->e->set, w->e->nr_workers + i, w->shard, &h->head->item);
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

	xframe_append(&h->head, &h->tail, fr);
	if (w->ret_since == 0)
		tsq_store(&w->ret_since, now, TSQ_RELAXED);
	if (++h->n >= h->max)
		tx_home_one(w, i);
}

/*
 * TSQ's uncharge of the round's completions, one per flow: each uncharge is an atomic RMW (and
 * a flag load), so a round of 32 frames of 8 flows costs 8, not 32. A restart is queued to the
 * flow's home shard (this worker) and run by the next drain either way. The round's time is
 * the learned rate's clock: no clock read per completion.
 */
static void tx_uncharge_round(struct xworker *w, uint64_t now)
{
	struct xflow *f = w->round_flows;

	while (f != NULL) {
		struct xflow *next = f->txq.round_next;

		tsq_flow_complete_n_at(&f->tsq, f->txq.round_cost, f->txq.round_units, now);
		f->txq.round_units = 0;
		f->txq.round_cost = 0;
		f = next;
	}
	w->round_flows = NULL;
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
	/* xeng_create() allows 2048 and 4096 only: a shift, not a 64-bit division per frame. */
	unsigned shift = (unsigned)__builtin_ctz(e->cfg.frame_size);
	uint64_t now = 0;

	n = xsk_ring_cons__peek(&w->comp, e->cfg.ring_size, &idx);
	if (n == 0) {
		if (w->ret_since != 0 && xeng_now_ns() - w->ret_since >= e->cfg.ret_hold_ns)
			tx_home_flush(w);
		return 0;
	}
	now = xeng_now_ns();
	tsq_counter_add_owner(&w->st.complete_rounds, 1);
	for (i = 0; i < n; i++) {
		uint64_t addr = *xsk_ring_cons__comp_addr(&w->comp, idx + i);
		struct xframe *fr = &w->frames[addr >> shift];
		struct xflow *f = fr->flow;

		if (f->kind == XFLOW_PROBE && w->nlat < w->lat_cap) {
			w->lat_ring[w->nlat] = now - fr->t_ring;
			w->lat_send[w->nlat] = now - fr->t_send;
			w->nlat++;
		}
		bytes += fr->len;
		tsq_counter_add_owner(&f->txq.completed, 1);
		tsq_counter_add_owner(&f->txq.completed_bytes, fr->len);
		if (f->txq.round_units++ == 0) {
			f->txq.round_next = w->round_flows;
			w->round_flows = f;
		}
		f->txq.round_cost += fr->cost;
		if (fr->zc != NULL) {
			struct tsq_zc_ctx *c = fr->zc;

			fr->zc = NULL;
			tsq_zc_put(&f->zc, c, fr->copied);
			xflow_zc_kick(w, f);
		}
		if (fr->kind == XFRAME_TX)
			tx_home_add(w, fr, f->shard - e->nr_workers, now);
	}
	xsk_ring_cons__release(&w->comp, n);
	tx_uncharge_round(w, now);
	tsq_store(&w->outstanding, w->outstanding - n, TSQ_RELAXED);
	tsq_counter_add_owner(&w->st.tx_completed, n);
	/* The restart itself is the next tx_fill: the loop goes round again (work != 0). */
	if (w->dql != NULL)
		tsq_dql_tx_completed(w->dql, bytes, now);
	if (w->ret_since != 0 && now - w->ret_since >= e->cfg.ret_hold_ns)
		tx_home_flush(w);
	return n;
}

void xworker_fill_refill(struct xworker *w)
{
	uint32_t idx, got, i;

	if (w->rx_nfree == 0)
		return;
	got = xsk_prod_nb_free(&w->fill, w->rx_nfree); /* reserve() is all-or-nothing */
	if (got > w->rx_nfree)
		got = w->rx_nfree;
	got = got ? xsk_ring_prod__reserve(&w->fill, got, &idx) : 0;
	for (i = 0; i < got; i++)
		*xsk_ring_prod__fill_addr(&w->fill, idx + i) =
			w->frames[w->rx_free[--w->rx_nfree]].addr;
	if (got)
		xsk_ring_prod__submit(&w->fill, got);
	if (got && xsk_ring_prod__needs_wakeup(&w->fill)) {
		tsq_counter_add_owner(&w->st.fill_kicks, 1);
		recvfrom(xsk_socket__fd(w->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
}

static unsigned rx_poll(struct xworker *w)
{
	struct xengine *e = w->e;
	uint32_t idx, n, i;

	n = xsk_ring_cons__peek(&w->rx, XENG_BATCH, &idx);
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
		    (f = xflow_rx_get(w, pl.flow)) == NULL) {
			tsq_counter_add_owner(&w->st.rx_invalid, 1);
			w->rx_free[w->rx_nfree++] = (uint32_t)(fr - w->frames);
			continue;
		}
		fr->seq = pl.seq;
		fr->len = (uint16_t)d->len; /* at most the frame size */
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

/* Sleep until a hand-off or a received frame. After tsq_defer_idle_enter() says yes, every
 * hand-off kicks the shard's eventfd; a counter, so a kick sent before poll() starts still
 * wakes it (defer.h, "Sleeping"). */
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
		ssize_t got =
			read(pfd[0].fd, &v, sizeof(v)); /* before idle_exit re-arms the kick */

		(void)got;
	}
	tsq_defer_idle_exit(&e->set, w->shard);
}

void *xworker_main(void *arg)
{
	struct xworker *w = arg;
	struct xengine *e = w->e;
	unsigned idle = 0;

	xeng_tls_shard = w->shard;
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

		work += (unsigned)tsq_defer_drain(
			&e->set, w->shard); /* hand-offs, restarts, RX frames home */
		work += tx_fill(w);
		tx_kick(w);
		work += tx_complete(w);
		if (e->cfg.rx) {
			work += rx_poll(w);
			xworker_fill_refill(w);
		}
		if (w->link_backoff_us != 0) { /* the link is down: do not spin on failing kicks */
			usleep(w->link_backoff_us);
			continue;
		}
		if (work != 0 || w->tx_dirty) {
			idle = 0;
			continue;
		}
		tx_home_flush(
			w); /* nothing else to do: the frames held for a fuller batch go home */
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
