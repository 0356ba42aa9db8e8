/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * engine.c - the engine's setup and teardown (engine.h): per worker its UMEM, its frames and
 * their owners, the socket bound to its queue, the XSKMAP slot when receiving; the flows;
 * start, quiesce, stop, destroy. The paths of a frame are in flow.c, qdisc.c and worker.c.
 */
#include "engine_priv.h"

#include <errno.h>
#include <stddef.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_xdp.h>

_Static_assert(offsetof(struct xframe, build) < 64,
	       "struct xframe: the TX path's fields fit one line");

uint64_t xeng_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int xeng_fail(struct xengine *e, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
	return err < 0 ? err : -err;
}

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
	w->area = mmap(NULL, w->area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	if (w->area == MAP_FAILED) {
		w->area = NULL;
		return xeng_fail(e, -errno, "mmap of %zu bytes of UMEM failed", w->area_size);
	}
	/* 2 MB pages where the kernel gives them (transparent huge pages, madvise mode): the
	 * worker touches a new 4 KB page every two frames, in tens of MB of UMEM - far beyond
	 * what the TLB holds in small pages. A hint: refused, the UMEM stays in small pages. */
	(void)madvise(w->area, w->area_size, MADV_HUGEPAGE);
	/* Cache-line aligned (struct xframe): calloc would not honour that. */
	w->frames = aligned_alloc(TSQ_CACHELINE_SIZE, (size_t)nframes * sizeof(*w->frames));
	if (w->frames != NULL)
		memset(w->frames, 0, (size_t)nframes * sizeof(*w->frames));
	w->rx_free = calloc(c->rx_frames ? c->rx_frames : 1, sizeof(*w->rx_free));
	w->home = calloc(c->nr_app_shards ? c->nr_app_shards : 1, sizeof(*w->home));
	w->occ_hist = calloc(2 * c->ring_size + 1, sizeof(*w->occ_hist));
	w->qwait_hist = calloc(XENG_QWAIT_BUCKETS, sizeof(*w->qwait_hist));
	w->lat_cap = 1u << 20;
	w->lat_ring = calloc(w->lat_cap, sizeof(uint64_t));
	w->lat_send = calloc(w->lat_cap, sizeof(uint64_t));
	if (!w->frames || !w->rx_free || !w->home || !w->occ_hist || !w->qwait_hist ||
	    !w->lat_ring || !w->lat_send)
		return xeng_fail(e, -ENOMEM, "out of memory");
	if (c->bql) {
		struct tsq_dql_opts qcfg = { .size = sizeof(qcfg), .max_limit = c->bql_limit_max };
		int err;

		w->dql = aligned_alloc(TSQ_CACHELINE_SIZE, sizeof(*w->dql));
		if (w->dql == NULL)
			return xeng_fail(e, -ENOMEM, "out of memory");
		err = tsq_dql_init(w->dql, &qcfg, xeng_now_ns());
		if (err)
			return xeng_fail(e, err, "BQL: %s", strerror(-err));
	}
	return 0;
}

/* The mask of the smallest power-of-two ring that holds n entries (at least 1). */
static uint32_t ring_mask(uint32_t n)
{
	uint32_t size = 1;

	while (size < n)
		size <<= 1;
	return size - 1;
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
		tsq_defer_item_init(&w->frames[i].item, xframe_rx_home_fn);
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
		f->wq_mask = ring_mask(specs[i].pool_frames + specs[i].arena_frames);
		f->wq = calloc((size_t)f->wq_mask + 1, sizeof(*f->wq));
		if (f->pool == NULL || f->wq == NULL)
			return xeng_fail(e, -ENOMEM, "out of memory");
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
	struct xsk_umem_config ucfg = { .fill_size = c->ring_size,
					.comp_size = c->ring_size,
					.frame_size = c->frame_size,
					.frame_headroom = 0,
					.flags = 0 };
	int err = xsk_umem__create(&w->umem, w->area, w->area_size, &w->fill, &w->comp, &ucfg);

	if (err)
		return xeng_fail(
			e, err,
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
		.rx_size = c->ring_size,
		.tx_size = c->ring_size,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = 0,
		.bind_flags = (uint16_t)((zc ? XDP_ZEROCOPY : XDP_COPY) |
					 (c->need_wakeup ? XDP_USE_NEED_WAKEUP : 0))
	};
	int err = -EBUSY;

	for (int tries = 0; tries < 50 && err == -EBUSY; tries++) {
		if (tries)
			usleep(20000);
		err = xsk_socket__create(&w->xsk, c->ifname, w->queue, w->umem,
					 c->rx ? &w->rx : NULL, &w->tx, &scfg);
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
		return xeng_fail(e, err, "binding an AF_XDP socket to %s queue %u failed (%s)%s",
				 c->ifname, w->queue, strerror(-err),
				 c->bind == XENG_BIND_ZEROCOPY ?
					 ": the driver may not support XDP_ZEROCOPY" :
				 err == -EINVAL ?
					 ": does the interface have that queue? (ethtool -l)" :
					 "");
	return 0;
}

/* Step 5 (receivers): the socket into the XSKMAP slot of its queue, the fill ring full. */
static int worker_rx_start(struct xengine *e, struct xworker *w)
{
	int err = xdp_prog_set_xsk(&e->prog, w->queue, xsk_socket__fd(w->xsk));

	if (err)
		return xeng_fail(e, err, "XSKMAP update failed (%s)", strerror(-err));
	xworker_fill_refill(w);
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
		return xeng_fail(e, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < nr_flows; i++) {
		struct xflow *f = xflow_alloc();
		int err;

		if (f == NULL)
			return xeng_fail(e, -ENOMEM, "out of memory");
		e->flows[i] = f;
		if (specs[i].app_slot >= e->cfg.nr_app_shards)
			return xeng_fail(e, -EINVAL, "flow %u: no application shard %u", i,
					 specs[i].app_slot);
		err = xflow_init(e, f, (uint16_t)i, specs[i].kind, &e->workers[i % e->nr_workers],
				 e->nr_workers + specs[i].app_slot);
		if (err)
			return xeng_fail(e, err, "flow %u: %s", i, strerror(-err));
		rcu_read_lock();
		cds_lfht_add(e->table, xflow_hash(f->id), &f->hnode);
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
		return xeng_fail(e, err, "loading the XDP redirect program failed (%s)",
				 strerror(-err));
	err = xdp_prog_attach(&e->prog, e->ifindex, c->attach);
	if (err)
		return xeng_fail(e, err, "attaching XDP to %s failed (%s)", c->ifname,
				 strerror(-err));
	return 0;
}

int xeng_create(struct xengine *e, const struct xeng_cfg *cfg, const struct xflow_spec *specs,
		unsigned nr_flows)
{
	struct tsq_defer_opts dopts = { .size = sizeof(dopts) };
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	uint64_t frames = 0;
	unsigned i;
	int err;

	memset(e, 0, sizeof(*e));
	e->prog.prog_fd = e->prog.map_fd = -1;
	e->cfg = *cfg;
	if (cfg->nr_queues == 0 || cfg->nr_queues > XENG_MAX_WORKERS)
		return xeng_fail(e, -EINVAL, "queues must be 1..%d", XENG_MAX_WORKERS);
	if (cfg->frame_size != 2048 && cfg->frame_size != 4096)
		return xeng_fail(e, -EINVAL, "frame size must be 2048 or 4096");
	if (cfg->ring_size == 0 || (cfg->ring_size & (cfg->ring_size - 1)))
		return xeng_fail(e, -EINVAL, "ring size must be a power of two");
	if (e->cfg.fq_quantum == 0)
		e->cfg.fq_quantum = 1;
	e->ifindex = (int)if_nametoindex(cfg->ifname);
	if (e->ifindex == 0)
		return xeng_fail(e, -ENODEV, "no interface '%s' in this network namespace",
				 cfg->ifname);
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
		return xeng_fail(e, -ENOMEM, "out of memory");
	err = tsq_defer_set_init(&e->set, e->shards, e->nr_shards, &dopts);
	if (err)
		return xeng_fail(e, err, "defer set: %s", strerror(-err));
	e->table = cds_lfht_new(64, 64, 0, CDS_LFHT_AUTO_RESIZE, NULL);
	if (e->table == NULL)
		return xeng_fail(e, -ENOMEM, "out of memory (flow table)");

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
		int err = pthread_create(&e->workers[i].thread, NULL, xworker_main, &e->workers[i]);

		if (err)
			return xeng_fail(e, -err, "pthread_create: %s", strerror(err));
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
			if (tsq_load(&f->handed, TSQ_RELAXED) !=
			    tsq_load(&f->txq.completed, TSQ_RELAXED))
				busy = true;
			if (tsq_owner_lock_check(&f->own) || f->wq_head != f->wq_tail)
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
		cds_lfht_for_each_entry(e->table, &it, f, hnode)
		{
			if (cds_lfht_del(e->table, &f->hnode) == 0)
				call_rcu(&f->rcu, xflow_free_rcu);
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
