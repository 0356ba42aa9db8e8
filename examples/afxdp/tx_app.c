/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tx_app.c - the application threads of a tx run. Each serves one flow from its own defer
 * shard: it owns the flow for a burst of sends (xflow_acquire .. xflow_release), builds
 * frames from its pool (or, with -z on, sends its UMEM arena by zerocopy messages), and
 * takes back what the worker returns (xeng_app_reclaim).
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void zc_mark(struct zc_track *t, uint32_t id, bool copied)
{
	uint64_t k = (uint32_t)(id - t->first_id); /* u32: correct across the 2^32 wrap */

	if (k >= t->cap) {
		uint64_t cap = t->cap ? t->cap : 4096;
		uint8_t *n;

		while (cap <= k)
			cap *= 2;
		n = realloc(t->seen, cap);
		if (n == NULL)
			return;
		memset(n + t->cap, 0, cap - t->cap);
		t->seen = n;
		t->cap = cap;
	}
	if (t->seen[k])
		t->dups++;
	t->seen[k] = 1;
	t->notified++;
	if (copied)
		t->copied_ids++;
}

/* Read notices, mark ids, free the arena slots they cover. */
static void zc_poll(struct app *a)
{
	struct tsq_zc_notice n[32];
	int got;

	while ((got = tsq_zc_read(&a->f->zc, n, 32)) > 0) {
		for (int i = 0; i < got; i++) {
			a->zc.notices++;
			if (n[i].copied)
				a->zc.copied_notices++;
			for (uint32_t id = n[i].lo;; id++) {
				zc_mark(&a->zc, id, n[i].copied);
				if (id == n[i].hi)
					break;
			}
			for (unsigned s = 0; s < a->zc.nslots; s++)
				if (a->zc.slots[s].busy &&
				    tsq_zc_notice_covers(&n[i], a->zc.slots[s].id))
					a->zc.slots[s].busy = false;
		}
	}
}

/* One zerocopy message of MSG_FRAMES frames from arena slot s (or copied from the heap). */
static unsigned zc_send_message(struct app *a, unsigned s, bool copy)
{
	struct xflow *f = a->f;
	struct xframe *fr[MSG_FRAMES];
	struct tsq_zc_ctx *ctx;
	uint32_t len = a->o->pkt_size;

	for (unsigned k = 0; k < MSG_FRAMES; k++) {
		if (copy) {
			/* Outside the UMEM: the stack copies it into its own frames. */
			fr[k] = xflow_frame_get(f);
			if (fr[k] == NULL) {
				while (k--) /* not enough frames: put the taken ones back */
					f->pool[f->pool_free++] = fr[k];
				return 0;
			}
		} else {
			fr[k] = &f->w->frames[f->arena_first + s * MSG_FRAMES + k];
		}
	}
	/*
	 * Append to the newest context only when this message is of the same kind as the last:
	 * a context's COPIED mark covers all its sends, so a copied message never shares a
	 * context with zerocopy ones - that keeps COPIED exact per notice (zc.h merges notices
	 * only with equal marks).
	 */
	if (tsq_zc_send_start(&f->zc, MSG_FRAMES * len, copy == a->last_copy ? TSQ_ZC_APPEND : 0,
			      &ctx) != 0) {
		if (copy)
			for (unsigned k = 0; k < MSG_FRAMES; k++)
				f->pool[f->pool_free++] = fr[k];
		return 0; /* reserve empty: read notices first */
	}
	for (unsigned k = 0; k < MSG_FRAMES; k++) {
		if (copy) {
			/* The application's buffer is on the heap: the stack copies it in. */
			xflow_build(f, fr[k], len);
			memcpy(a->heap_msg + k * len, xframe_data(fr[k]), len);
		} else {
			xflow_build(f, fr[k], len); /* the application writes its (UMEM) buffer */
		}
		fr[k]->copied = copy;
		tsq_zc_get(ctx);
		fr[k]->zc = ctx;
		xflow_queue(f, fr[k]);
	}
	a->zc.sends++;
	if (copy)
		a->zc.copied_sends++;
	if (!copy) {
		a->zc.slots[s].id = tsq_zc_send_id(ctx);
		a->zc.slots[s].busy = true;
	}
	tsq_zc_send_done(&f->zc, ctx);
	return MSG_FRAMES;
}

static bool bulk_wants_more(const struct app *a)
{
	if (tsq_load(&a->e->app_stopped, TSQ_ACQUIRE) || cli_interrupted)
		return false;
	return a->o->count == 0 || a->f->next_seq < a->o->count;
}

/* One unit of the bulk flow into its write queue: a zerocopy message (MSG_FRAMES frames from
 * a free arena slot, or copied every --copy-every'th time) or one frame from the pool.
 * Return: frames queued; 0 when the pool or the arena is empty (wait for completions). */
static unsigned bulk_build_one(struct app *a)
{
	struct xflow *f = a->f;
	const struct cli_args *o = a->o;
	struct xframe *fr;

	if (o->zerocopy) {
		bool copy = o->copy_every && (a->zc.sends + 1) % o->copy_every == 0;
		unsigned s = 0, n = 0;

		while (!copy && s < a->zc.nslots && a->zc.slots[s].busy)
			s++;
		if (copy || s < a->zc.nslots)
			n = zc_send_message(a, s, copy);
		a->last_copy = n ? copy : a->last_copy;
		return n;
	}
	fr = xflow_frame_get(f);
	if (fr == NULL)
		return 0;
	if (o->build_worker)
		xflow_describe(f, fr, o->pkt_size); /* the worker writes it (--build-on worker) */
	else
		xflow_build(f, fr, o->pkt_size);
	xflow_queue(f, fr);
	return 1;
}

/* One long send, as the flow's owner: up to 64 frames, pushed and with the backlog let in
 * every 16 (the kernel's tcp_sendmsg rhythm). Return: frames built. */
static unsigned bulk_send(struct app *a, unsigned *flush_ctr)
{
	struct xflow *f = a->f;
	unsigned built = 0, n;

	xflow_acquire(f);
	while (built < 64 && bulk_wants_more(a) && (n = bulk_build_one(a)) != 0) {
		built += n;
		if (built % 16 == 0) {
			xflow_push(f);
			tsq_owner_flush_every(&f->own, flush_ctr, 1);
		}
	}
	xflow_push(f);
	a->queued = xflow_queued(f);
	xflow_release(f);
	return built;
}

/* Longest nap: the wait for frames home times out after as long anyway. */
#define NAP_MAX_NS 5000000ull

/*
 * How long a bulk application with an empty pool may sleep without asking to be woken: half
 * the time its write queue takes to drain at the rate its frames have been completing, at
 * most NAP_MAX_NS; 0 when that is under 100 us. Sleeping with xeng_app_wait() instead lets
 * every hand-over of frames coming home wake the thread - an eventfd write on the worker,
 * for frames the application has no use for while thousands are still queued (the kernel
 * wakes a writer blocked on its send buffer only once a third of it is free).
 */
static uint64_t bulk_nap_ns(struct app *a)
{
	uint64_t now = xeng_now_ns(), done = xflow_completed(a->f), nap;

	if (a->rate_t != 0 && now > a->rate_t) {
		double r = (double)(done - a->rate_done) / (double)(now - a->rate_t);

		a->rate = a->rate > 0 ? (a->rate * 3 + r) / 4 : r;
	}
	a->rate_t = now;
	a->rate_done = done;
	if (a->rate <= 0)
		return 0;
	nap = (uint64_t)((double)a->queued / a->rate / 2);
	return nap < 100000 ? 0 : nap > NAP_MAX_NS ? NAP_MAX_NS : nap;
}

/* Nothing to build: nap while the write queue is long, else wait for frames home. */
static void bulk_wait(struct app *a)
{
	uint64_t nap = bulk_nap_ns(a);

	if (nap != 0) {
		struct timespec ts = { (time_t)(nap / 1000000000ull), (long)(nap % 1000000000ull) };

		nanosleep(&ts, NULL);
		a->naps++;
		return;
	}
	xeng_app_wait(a->e, 5);
	a->waits++;
}

void *bulk_main(void *arg)
{
	struct app *a = arg;
	unsigned flush_ctr = 0;

	xeng_app_enter(a->e, a->slot);
	while (!tsq_load(a->done, TSQ_ACQUIRE)) {
		unsigned built = 0;

		xeng_app_reclaim(a->e);
		if (a->o->zerocopy)
			zc_poll(a);
		if (bulk_wants_more(a))
			built = bulk_send(a, &flush_ctr);
		a->built += built;
		if (built == 0)
			bulk_wait(a);
	}
	xeng_app_reclaim(a->e);
	if (a->o->zerocopy)
		zc_poll(a);
	xeng_app_leave();
	return NULL;
}

void *probe_main(void *arg)
{
	struct app *a = arg;
	struct xflow *f = a->f;
	uint64_t period = (uint64_t)(1e9 / a->o->probe_rate);
	struct timespec next;

	xeng_app_enter(a->e, a->slot);
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!tsq_load(&a->e->app_stopped, TSQ_ACQUIRE) && !cli_interrupted) {
		struct xframe *fr;

		xeng_app_reclaim(a->e);
		fr = xflow_frame_get(f);
		if (fr != NULL) {
			xflow_acquire(f);
			if (a->o->build_worker)
				xflow_describe(f, fr, a->o->pkt_size);
			else
				xflow_build(f, fr, a->o->pkt_size);
			fr->t_send = xeng_now_ns();
			xflow_queue(f, fr);
			xflow_push(f);
			xflow_release(f);
			a->built++;
		}
		next.tv_nsec += (long)period;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	while (!tsq_load(a->done, TSQ_ACQUIRE)) {
		xeng_app_reclaim(a->e);
		xeng_app_wait(a->e, 5);
	}
	xeng_app_reclaim(a->e);
	xeng_app_leave();
	return NULL;
}
