/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/remote_free.c - the remote-free scenario, after the kernel's "generalize skb freeing
 * deferral to per-cpu lists": buffers are allocated on one thread and freed on another.
 *
 * Structure (identical for every implementation)
 *   - Thread A (the benchmark thread, CPU 0) allocates 2 KiB buffers, writes a 48-byte
 *     header into each (what a network stack writes into a packet buffer), and hands them
 *     to thread B (CPU 1) through one SPSC ring of pointers, the same for every
 *     implementation. B reads the header and frees the buffer. Only the free side - the
 *     allocator, or the way a buffer gets back to A - differs between implementations.
 *   - B is created once per benchmark run. One timed iteration = A allocates and sends
 *     RF_PER_ITER buffers and waits until B has freed all of them (wall clock, UseRealTime);
 *     items_per_second is buffers per second. B's header sum is checked at the end.
 *   - The ring holds RF_RING_SLOTS buffers, so at most that many (plus what B holds) are in
 *     flight: A waits when it is full, as a real producer would.
 *
 * Implementations
 *   glibc, mimalloc, jemalloc   A: malloc, B: free (foreign-thread free). mimalloc and
 *                               jemalloc are dlopen()ed RTLD_LOCAL and called through
 *                               mi_malloc/mi_free and mallocx/dallocx, because linking either
 *                               would replace glibc's malloc in the whole binary.
 *   mutex_pool                  one free list under a pthread mutex; A pops, B pushes.
 *   tsq_defer                   A owns shard 0 of a tsq_defer set and a private free list;
 *                               B, as a non-shard thread, tsq_defer_push()es each buffer back
 *                               to shard 0 (the shared list); A's drain recycles them into
 *                               its private list.
 *   tsq_defer_batch             the same with tsq_defer_batch_add(): one splice per 32.
 *   tsq_defer_shard(_batch)     the same two with B as shard 1: B's pushes go through its
 *                               ring to A (opts.ring_size = RF_DEFER_BOUND); built against
 *                               a defer.h without rings, the same list as tsq_defer.
 *   tsq_defer_burst             (with rings only) tsq_defer_shard_batch's B, and A refills its
 *                               free list with tsq_defer_drain_burst() (arrays of buffers, no
 *                               call per buffer).
 *   tsq_llist_batch             the hand-written pattern below built from tsq's llist
 *                               (tsq_llist_push_batch of 32 / tsq_llist_take_all): shows
 *                               what the primitive costs without tsq_defer's drain model.
 *   handwritten                 the same defer-to-owner pattern without tsq, for this one
 *                               case: B links 32 buffers privately and CASes the chain onto
 *                               A's return list; A, when its private list runs dry, takes
 *                               the whole return list with one exchange and uses it as its
 *                               new free list as is (no walk, no per-buffer callback).
 * The pool-based implementations start with RF_POOL_PREALLOC buffers and malloc() more only
 * when a pool is empty ("grown" counter: 0 in a steady state).
 *
 * Drain policy, the same for every implementation with a return path (tsq_defer*,
 * tsq_llist_batch, handwritten): A takes its returns when its private free list is empty,
 * and only then - as a poll loop refills its cache when it runs dry. (An earlier version
 * drained tsq_defer every 32 allocations and while A waited, and the others only when dry:
 * tsq_defer then paid a drain per 32 buffers that the others did not.)
 *
 * What still differs from the hand-written return list, by design of each API:
 *   - handwritten and tsq_llist_batch take the returned chain and use it as the free list
 *     as it is: A never walks it; each buffer is read once, when it is allocated again.
 *   - tsq_defer_drain() walks the chain (reverse into arrival order) and calls each item's
 *     function, which links the buffer into A's list: every returned buffer's line is read
 *     and written by A at drain time, in a dependent chain, besides at its next allocation.
 *   - tsq_defer_drain_burst() (rings) hands A arrays of pointers: the lines are written
 *     (linking) but not chased, so their misses overlap.
 *   - per push, tsq_defer keeps an exact count (one more atomic per push or per batch) and
 *     checks whether to kick; A's drain gives the count back. With rings, B writes a slot
 *     and a tail instead of CASing a shared head.
 */
#include "harness.h"

#include <assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <tsq/defer.h>
#include <tsq/llist.h>

#define RF_BUF_SIZE 2048u
#define RF_PER_ITER 16384u
#define RF_RING_SLOTS 512u
/* Pointers B takes from the ring at once; buffers per splice of the batching variants. */
#define RF_BURST 64u
#define RF_BATCH 32u
#define RF_POOL_PREALLOC 1024u

/* The first cache line of every buffer (the rest of the 2 KiB is not touched). */
struct rf_hdr {
	/* The free side's link (a tsq_defer_item or a next pointer); A does not write it. */
	_Alignas(16) unsigned char link[16];
	/* Written by A, read by B. */
	uint64_t seq;
	uint64_t len;
	uint64_t payload[4];
};
static_assert(sizeof(struct rf_hdr) == 64, "one header line");
#define RF_LINK(b, type) ((type *)(void *)(b)->link)

/* ---- the A -> B ring (same for every implementation) ---------------------------------- */

struct rf_ring {
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t tail; /* A publishes (release) */
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t head; /* B publishes (release) */
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t a_tail, a_head_seen; /* A's private */
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t b_head, b_tail_seen; /* B's private */
	_Alignas(TSQ_CACHELINE_SIZE) struct rf_hdr *slot[RF_RING_SLOTS];
};

/* A: publish what was written (release: the slots and the headers behind them). */
static inline void rf_ring_publish(struct rf_ring *r)
{
	tsq_store(&r->tail, r->a_tail, TSQ_RELEASE); /* R1, pairs with R2 */
}

/* A: true if there is room for one more; refreshes the view of B's progress if needed. */
static inline bool rf_ring_room(struct rf_ring *r)
{
	if (r->a_tail - r->a_head_seen < RF_RING_SLOTS)
		return true;
	/* Acquire: B has finished reading the slots it gave back (pairs with R3). */
	r->a_head_seen = tsq_load(&r->head, TSQ_ACQUIRE); /* R4 */
	return r->a_tail - r->a_head_seen < RF_RING_SLOTS;
}

/* A: add one buffer (room checked), publishing every RF_BATCH to keep the tail line quiet. */
static inline void rf_ring_put(struct rf_ring *r, struct rf_hdr *b)
{
	r->slot[r->a_tail % RF_RING_SLOTS] = b;
	if (++r->a_tail % RF_BATCH == 0)
		rf_ring_publish(r);
}

/* B: take up to max buffers. */
static inline unsigned rf_ring_take(struct rf_ring *r, struct rf_hdr **out, unsigned max)
{
	uint64_t avail = r->b_tail_seen - r->b_head;
	unsigned n;

	if (avail == 0) {
		r->b_tail_seen = tsq_load(&r->tail, TSQ_ACQUIRE); /* R2, pairs with R1 */
		avail = r->b_tail_seen - r->b_head;
		if (avail == 0)
			return 0;
	}
	n = avail < max ? (unsigned)avail : max;
	for (unsigned i = 0; i < n; i++)
		out[i] = r->slot[(r->b_head + i) % RF_RING_SLOTS];
	r->b_head += n;
	tsq_store(&r->head, r->b_head, TSQ_RELEASE); /* R3, pairs with R4 */
	return n;
}

/* ---- the run ------------------------------------------------------------------------- */

struct rf_run;

struct rf_ops {
	const char *name;
	bool pool; /* recycles its own buffers: report "grown" */
	/* 0, or -errno with *why set (a message naming the cause and, if any, the remedy). */
	int (*init)(struct rf_run *run, const char **why);
	/* After B has stopped: give back every buffer the implementation still holds. */
	void (*fini)(struct rf_run *run);
	void (*a_iteration)(struct rf_run *run);
	void *(*b_main)(void *run);
	void (*report)(struct rf_run *run, struct gbench_state *st);
};

struct rf_run {
	const struct rf_ops *ops;
	struct rf_ring *ring;
	void *impl;
	uint64_t seq;         /* A: last sequence number written */
	uint64_t grown;       /* A: buffers malloc()ed beyond the preallocation */
	bool alloc_failed;    /* A: an allocation returned NULL */
	pthread_t b;
	struct bench_cpus cpus;
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t b_done; /* B: buffers freed (release) */
	uint64_t b_sum;                                /* B: header sum, read after join */
	_Alignas(TSQ_CACHELINE_SIZE) uint32_t stop;   /* A -> B: exit once the ring is empty */
};

typedef struct rf_hdr *rf_alloc_fn(struct rf_run *run);
typedef void rf_free_fn(struct rf_run *run, struct rf_hdr *b);
typedef void rf_idle_fn(struct rf_run *run);

static void rf_nothing(struct rf_run *run)
{
	(void)run;
}

/*
 * A's timed iteration, instantiated per implementation with its alloc inlined. a_wait runs
 * while A waits (for ring room, for B to finish): the defer-to-owner variants drain there.
 */
BENCH_INLINE void rf_a_iteration(struct rf_run *run, rf_alloc_fn *alloc, rf_idle_fn *a_wait)
{
	struct rf_ring *r = run->ring;
	const uint64_t target = tsq_load(&run->b_done, TSQ_RELAXED) + RF_PER_ITER;
	unsigned spins = 0;

	for (uint32_t i = 0; i < RF_PER_ITER; i++) {
		struct rf_hdr *b;

		if (!rf_ring_room(r)) {
			rf_ring_publish(r); /* B must see what is there, or it would never make room */
			while (!rf_ring_room(r)) {
				a_wait(run);
				bench_spin(&spins);
			}
		}
		b = alloc(run);
		if (tsq_unlikely(b == NULL)) {
			run->alloc_failed = true;
			break;
		}
		b->seq = ++run->seq;
		b->len = RF_BUF_SIZE;
		b->payload[0] = b->payload[1] = b->payload[2] = b->payload[3] = run->seq;
		rf_ring_put(r, b);
	}
	rf_ring_publish(r);
	/* Acquire: B is done with every buffer of this iteration (pairs with B's release). */
	while (!run->alloc_failed && tsq_load(&run->b_done, TSQ_ACQUIRE) < target) {
		a_wait(run);
		bench_spin(&spins);
	}
}

/* B's thread, instantiated per implementation with its free inlined. */
BENCH_INLINE void rf_b_loop(struct rf_run *run, rf_free_fn *free_fn, rf_idle_fn *b_idle)
{
	struct rf_hdr *got[RF_BURST];
	uint64_t done = 0, sum = 0;
	unsigned spins = 0;

	for (;;) {
		unsigned n = rf_ring_take(run->ring, got, RF_BURST);

		if (n == 0) {
			/* Nothing to do: hand back what a batch holds, so A is not left waiting. */
			b_idle(run);
			if (tsq_load(&run->stop, TSQ_ACQUIRE) &&
			    tsq_load(&run->ring->tail, TSQ_ACQUIRE) == run->ring->b_head)
				break;
			bench_spin(&spins);
			continue;
		}
		spins = 0;
		for (unsigned i = 0; i < n; i++) {
			const struct rf_hdr *h = got[i];

			sum += h->seq + h->len + h->payload[0] + h->payload[1] + h->payload[2] + h->payload[3];
		}
		for (unsigned i = 0; i < n; i++)
			free_fn(run, got[i]);
		done += n;
		tsq_store(&run->b_done, done, TSQ_RELEASE);
	}
	b_idle(run);
	run->b_sum = sum;
}

/* Instantiates the two thread bodies of an implementation. */
#define RF_INSTANTIATE(impl, alloc, a_wait, free_fn, b_idle)                    \
	static void impl##_a_iteration(struct rf_run *run)                      \
	{                                                                       \
		rf_a_iteration(run, alloc, a_wait);                             \
	}                                                                       \
	static void *impl##_b_main(void *arg)                                   \
	{                                                                       \
		rf_b_loop(arg, free_fn, b_idle);                                \
		return NULL;                                                    \
	}

/* A buffer for a pool: line-aligned, so the header is one line as with the allocators. */
static struct rf_hdr *rf_pool_buf_new(struct rf_run *run)
{
	struct rf_hdr *b = aligned_alloc(TSQ_CACHELINE_SIZE, RF_BUF_SIZE);

	if (b != NULL)
		memset(b, 0, sizeof(*b));
	(void)run;
	return b;
}

/* ---- glibc ----------------------------------------------------------------------------- */

static int glibc_init(struct rf_run *run, const char **why)
{
	Dl_info info;

	(void)run;
	/* The point of dlopen()ing the other allocators: malloc must still be glibc's here. */
	if (dladdr((void *)(uintptr_t)malloc, &info) == 0 || info.dli_fname == NULL ||
	    strstr(info.dli_fname, "libc.so") == NULL) {
		*why = "malloc() does not resolve to glibc's libc.so (an allocator was linked in?)";
		return -ENOTSUP;
	}
	return 0;
}

BENCH_INLINE struct rf_hdr *glibc_alloc(struct rf_run *run)
{
	(void)run;
	return malloc(RF_BUF_SIZE);
}

BENCH_INLINE void glibc_free(struct rf_run *run, struct rf_hdr *b)
{
	(void)run;
	free(b);
}

RF_INSTANTIATE(glibc, glibc_alloc, rf_nothing, glibc_free, rf_nothing)

static const struct rf_ops rf_glibc = {
	.name = "glibc",
	.init = glibc_init,
	.fini = NULL,
	.a_iteration = glibc_a_iteration,
	.b_main = glibc_b_main,
};

/* ---- mimalloc, jemalloc (dlopen()ed) --------------------------------------------------- */

#if defined(TSQ_BENCH_MIMALLOC_PATH) || defined(TSQ_BENCH_JEMALLOC_PATH)
/*
 * Load an allocator without letting it interpose malloc: RTLD_LOCAL keeps its symbols out of
 * the global scope, RTLD_DEEPBIND makes its own internal calls bind to itself. Loaded once,
 * never unloaded (neither library supports dlclose()). Returns NULL with *why set.
 */
static void *rf_dlopen(const char *path, const char *const syms[2], void *fns[2], const char **why)
{
	static char msg[512];
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);

	if (h == NULL) {
		const char *err = dlerror();

		snprintf(msg, sizeof(msg),
			 "dlopen(%s) failed: %s%s", path, err != NULL ? err : "?",
			 err != NULL && strstr(err, "static TLS") != NULL
				 ? " - rerun with GLIBC_TUNABLES=glibc.rtld.optional_static_tls=16384 "
				   "(bench/demo.sh sets it)"
				 : "");
		*why = msg;
		return NULL;
	}
	for (int i = 0; i < 2; i++) {
		fns[i] = dlsym(h, syms[i]);
		if (fns[i] == NULL) {
			snprintf(msg, sizeof(msg), "%s: no symbol %s", path, syms[i]);
			*why = msg;
			return NULL;
		}
	}
	return h;
}

/* The loaded allocator's entry points (one allocator per run; set by its init). */
static void *(*rf_ext_alloc)(size_t);
static void (*rf_ext_free)(void *);
static void *(*rf_ext_allocx)(size_t, int);
static void (*rf_ext_freex)(void *, int);
#endif

#ifdef TSQ_BENCH_MIMALLOC_PATH
static int mimalloc_init(struct rf_run *run, const char **why)
{
	static const char *const syms[2] = {"mi_malloc", "mi_free"};
	static void *fns[2];
	static void *handle;

	(void)run;
	if (handle == NULL && (handle = rf_dlopen(TSQ_BENCH_MIMALLOC_PATH, syms, fns, why)) == NULL)
		return -ENOTSUP;
	/* POSIX guarantees that dlsym()'s void * converts to a function pointer. */
	memcpy(&rf_ext_alloc, &fns[0], sizeof(rf_ext_alloc));
	memcpy(&rf_ext_free, &fns[1], sizeof(rf_ext_free));
	return 0;
}

BENCH_INLINE struct rf_hdr *ext_alloc(struct rf_run *run)
{
	(void)run;
	return rf_ext_alloc(RF_BUF_SIZE);
}

BENCH_INLINE void ext_free(struct rf_run *run, struct rf_hdr *b)
{
	(void)run;
	rf_ext_free(b);
}

RF_INSTANTIATE(mimalloc, ext_alloc, rf_nothing, ext_free, rf_nothing)

static const struct rf_ops rf_mimalloc = {
	.name = "mimalloc",
	.init = mimalloc_init,
	.a_iteration = mimalloc_a_iteration,
	.b_main = mimalloc_b_main,
};
#endif

#ifdef TSQ_BENCH_JEMALLOC_PATH
static int jemalloc_init(struct rf_run *run, const char **why)
{
	static const char *const syms[2] = {"mallocx", "dallocx"};
	static void *fns[2];
	static void *handle;

	(void)run;
	if (handle == NULL && (handle = rf_dlopen(TSQ_BENCH_JEMALLOC_PATH, syms, fns, why)) == NULL)
		return -ENOTSUP;
	memcpy(&rf_ext_allocx, &fns[0], sizeof(rf_ext_allocx));
	memcpy(&rf_ext_freex, &fns[1], sizeof(rf_ext_freex));
	return 0;
}

BENCH_INLINE struct rf_hdr *extx_alloc(struct rf_run *run)
{
	(void)run;
	return rf_ext_allocx(RF_BUF_SIZE, 0);
}

BENCH_INLINE void extx_free(struct rf_run *run, struct rf_hdr *b)
{
	(void)run;
	rf_ext_freex(b, 0);
}

RF_INSTANTIATE(jemalloc, extx_alloc, rf_nothing, extx_free, rf_nothing)

static const struct rf_ops rf_jemalloc = {
	.name = "jemalloc",
	.init = jemalloc_init,
	.a_iteration = jemalloc_a_iteration,
	.b_main = jemalloc_b_main,
};
#endif

/* ---- mutex_pool ------------------------------------------------------------------------ */

struct mutex_pool {
	pthread_mutex_t lock;
	struct rf_hdr *head; /* under lock; linked through the header's link */
};

struct rf_next {
	struct rf_hdr *next;
};

static int mutex_pool_init(struct rf_run *run, const char **why)
{
	struct mutex_pool *mp = bench_alloc_lines(sizeof(*mp));

	if (mp == NULL || pthread_mutex_init(&mp->lock, NULL) != 0) {
		free(mp);
		*why = "allocation";
		return -ENOMEM;
	}
	for (unsigned i = 0; i < RF_POOL_PREALLOC; i++) {
		struct rf_hdr *b = rf_pool_buf_new(run);

		if (b == NULL)
			break;
		RF_LINK(b, struct rf_next)->next = mp->head;
		mp->head = b;
	}
	run->impl = mp;
	return 0;
}

static void mutex_pool_fini(struct rf_run *run)
{
	struct mutex_pool *mp = run->impl;

	while (mp->head != NULL) {
		struct rf_hdr *b = mp->head;

		mp->head = RF_LINK(b, struct rf_next)->next;
		free(b);
	}
	pthread_mutex_destroy(&mp->lock);
	free(mp);
}

BENCH_INLINE struct rf_hdr *mutex_pool_alloc(struct rf_run *run)
{
	struct mutex_pool *mp = run->impl;
	struct rf_hdr *b;

	pthread_mutex_lock(&mp->lock);
	b = mp->head;
	if (b != NULL)
		mp->head = RF_LINK(b, struct rf_next)->next;
	pthread_mutex_unlock(&mp->lock);
	if (b == NULL) {
		run->grown++;
		b = rf_pool_buf_new(run);
	}
	return b;
}

BENCH_INLINE void mutex_pool_free(struct rf_run *run, struct rf_hdr *b)
{
	struct mutex_pool *mp = run->impl;

	pthread_mutex_lock(&mp->lock);
	RF_LINK(b, struct rf_next)->next = mp->head;
	mp->head = b;
	pthread_mutex_unlock(&mp->lock);
}

RF_INSTANTIATE(mutex_pool, mutex_pool_alloc, rf_nothing, mutex_pool_free, rf_nothing)

static const struct rf_ops rf_mutex_pool = {
	.name = "mutex_pool",
	.pool = true,
	.init = mutex_pool_init,
	.fini = mutex_pool_fini,
	.a_iteration = mutex_pool_a_iteration,
	.b_main = mutex_pool_b_main,
};

/* ---- tsq_defer and its variants ------------------------------------------------------- */

enum { RF_SHARD_A = 0, RF_SHARD_B = 1 };

struct defer_pool {
	/* Read-mostly after init. */
	struct tsq_defer_set set;
	struct tsq_defer_shard *shards;
	/* B's private chain (tsq_defer_batch). */
	_Alignas(TSQ_CACHELINE_SIZE) struct tsq_defer_batch batch;
};

/*
 * A's private free list. The item function has no context argument and only ever runs on
 * A (drained) or, past the bound, on B (fallback, which does not touch it): a file-scope
 * owner-only variable is exactly right.
 */
static struct rf_hdr *defer_a_pool;

/*
 * The list's bound and the ring's size cover every buffer there is (the preallocation, with
 * room to grow), rather than tsq's default bound of 128: a push over it falls back to running
 * the item on B, which here means free() into glibc and a malloc() on A later - a different
 * benchmark. The "fallback" counter says whether that happened.
 */
#define RF_DEFER_BOUND (2 * RF_POOL_PREALLOC)

static void defer_recycle(struct tsq_defer_item *it, enum tsq_defer_how how)
{
	struct rf_hdr *b = (struct rf_hdr *)(void *)it;

	if (how == TSQ_DEFER_FALLBACK) {
		/* On B, over the bound: A's pool is not ours to touch, give it back to libc. */
		free(b);
		return;
	}
	RF_LINK(b, struct rf_next)->next = defer_a_pool;
	defer_a_pool = b;
}

/* A busy-polls and never sleeps: no wake-up needed (kicks are still counted). */
static void defer_no_kick(void *ctx, unsigned shard)
{
	(void)ctx;
	(void)shard;
}

static int defer_pool_init(struct rf_run *run, const char **why)
{
	struct tsq_defer_opts opts = {.size = sizeof(opts), .bound = RF_DEFER_BOUND, .kick = defer_no_kick};
	struct defer_pool *dp = bench_alloc_lines(sizeof(*dp));
	int err;

#ifdef TSQ_DEFER_RINGS_OFF
	opts.ring_size = RF_DEFER_BOUND; /* used by the _shard variants (B is shard 1) */
#endif
	if (dp == NULL || (dp->shards = tsq_defer_shards_alloc(2)) == NULL) {
		free(dp);
		*why = "allocation";
		return -ENOMEM;
	}
	err = tsq_defer_set_init(&dp->set, dp->shards, 2, &opts);
	if (err != 0) {
		free(dp->shards);
		free(dp);
		*why = "tsq_defer_set_init";
		return err;
	}
	tsq_defer_batch_init(&dp->batch, RF_SHARD_A);
	defer_a_pool = NULL;
	for (unsigned i = 0; i < RF_POOL_PREALLOC; i++) {
		struct rf_hdr *b = rf_pool_buf_new(run);

		if (b == NULL)
			break;
		RF_LINK(b, struct rf_next)->next = defer_a_pool;
		defer_a_pool = b;
	}
	run->impl = dp;
	return 0;
}

static void defer_pool_fini(struct rf_run *run)
{
	struct defer_pool *dp = run->impl;

	/* B has flushed and exited: whatever is queued comes home now. */
	tsq_defer_drain(&dp->set, RF_SHARD_A);
	while (defer_a_pool != NULL) {
		struct rf_hdr *b = defer_a_pool;

		defer_a_pool = RF_LINK(b, struct rf_next)->next;
		free(b);
	}
	tsq_defer_set_destroy(&dp->set);
	free(dp->shards);
	free(dp);
}

typedef void defer_refill_fn(struct defer_pool *dp);

/* A's refill: run every queued item's function (defer_recycle links it into A's list). */
BENCH_INLINE void defer_refill_drain(struct defer_pool *dp)
{
	tsq_defer_drain(&dp->set, RF_SHARD_A);
}

#ifdef TSQ_DEFER_RINGS_OFF
/* A's refill from arrays: link each buffer into A's list; no call per buffer. */
static void defer_burst_refill(void *ctx, struct tsq_defer_item **items, unsigned n)
{
	struct rf_hdr *pool = defer_a_pool;

	(void)ctx;
	for (unsigned i = 0; i < n; i++) {
		struct rf_hdr *b = (struct rf_hdr *)(void *)items[i];

		RF_LINK(b, struct rf_next)->next = pool;
		pool = b;
	}
	defer_a_pool = pool;
}

BENCH_INLINE void defer_refill_burst(struct defer_pool *dp)
{
	tsq_defer_drain_burst(&dp->set, RF_SHARD_A, defer_burst_refill, NULL);
}
#endif

/* A allocates from its private list and refills it only when it is empty (see the top). */
BENCH_INLINE struct rf_hdr *defer_pool_alloc(struct rf_run *run, defer_refill_fn *refill)
{
	struct defer_pool *dp = run->impl;
	struct rf_hdr *b = defer_a_pool;

	if (tsq_unlikely(b == NULL)) {
		refill(dp);
		b = defer_a_pool;
		if (b == NULL) {
			run->grown++;
			return rf_pool_buf_new(run);
		}
	}
	defer_a_pool = RF_LINK(b, struct rf_next)->next;
	return b;
}

BENCH_INLINE struct rf_hdr *defer_alloc_drain(struct rf_run *run)
{
	return defer_pool_alloc(run, defer_refill_drain);
}

#ifdef TSQ_DEFER_RINGS_OFF
BENCH_INLINE struct rf_hdr *defer_alloc_burst(struct rf_run *run)
{
	return defer_pool_alloc(run, defer_refill_burst);
}
#endif

/* B: `self` is TSQ_DEFER_NO_SHARD (the shared list) or RF_SHARD_B (its ring, with rings). */
BENCH_INLINE void defer_pool_push(struct rf_run *run, struct rf_hdr *b, unsigned self)
{
	struct defer_pool *dp = run->impl;
	struct tsq_defer_item *it = RF_LINK(b, struct tsq_defer_item);

	tsq_defer_item_init(it, defer_recycle);
	tsq_defer_push(&dp->set, RF_SHARD_A, self, it);
}

BENCH_INLINE void defer_pool_batch_add(struct rf_run *run, struct rf_hdr *b, unsigned self)
{
	struct defer_pool *dp = run->impl;
	struct tsq_defer_item *it = RF_LINK(b, struct tsq_defer_item);

	tsq_defer_item_init(it, defer_recycle);
	tsq_defer_batch_add(&dp->set, &dp->batch, self, it);
}

BENCH_INLINE void defer_free_any(struct rf_run *run, struct rf_hdr *b)
{
	defer_pool_push(run, b, TSQ_DEFER_NO_SHARD);
}

BENCH_INLINE void defer_free_shard(struct rf_run *run, struct rf_hdr *b)
{
	defer_pool_push(run, b, RF_SHARD_B);
}

BENCH_INLINE void defer_batch_free_any(struct rf_run *run, struct rf_hdr *b)
{
	defer_pool_batch_add(run, b, TSQ_DEFER_NO_SHARD);
}

BENCH_INLINE void defer_batch_free_shard(struct rf_run *run, struct rf_hdr *b)
{
	defer_pool_batch_add(run, b, RF_SHARD_B);
}

/* B, with nothing to do: hand back what its batch holds, so A is not left waiting. */
BENCH_INLINE void defer_pool_b_idle(struct rf_run *run)
{
	struct defer_pool *dp = run->impl;

	tsq_defer_batch_flush(&dp->set, &dp->batch);
}

static void defer_pool_report(struct rf_run *run, struct gbench_state *st)
{
	struct defer_pool *dp = run->impl;
	struct tsq_defer_stats s;

	if (tsq_defer_stats(&dp->set, RF_SHARD_A, &s) == 0) {
		gbench_counter(st, "fallback", (double)s.fallback, GBENCH_COUNTER_DEFAULT);
		gbench_counter(st, "kicks", (double)s.kicks, GBENCH_COUNTER_DEFAULT);
	}
}

/* One tsq_defer variant: A's allocation (its refill), B's free, B's idle flush. */
#define RF_DEFER_VARIANT(var, alloc, free_fn, b_idle)                                   \
	RF_INSTANTIATE(var, alloc, rf_nothing, free_fn, b_idle)                         \
	static const struct rf_ops rf_##var = {                                         \
		.name = #var,                                                           \
		.pool = true,                                                           \
		.init = defer_pool_init,                                                \
		.fini = defer_pool_fini,                                                \
		.a_iteration = var##_a_iteration,                                       \
		.b_main = var##_b_main,                                                 \
		.report = defer_pool_report,                                            \
	};

RF_DEFER_VARIANT(tsq_defer, defer_alloc_drain, defer_free_any, rf_nothing)
RF_DEFER_VARIANT(tsq_defer_batch, defer_alloc_drain, defer_batch_free_any, defer_pool_b_idle)
RF_DEFER_VARIANT(tsq_defer_shard, defer_alloc_drain, defer_free_shard, rf_nothing)
RF_DEFER_VARIANT(tsq_defer_shard_batch, defer_alloc_drain, defer_batch_free_shard, defer_pool_b_idle)
#ifdef TSQ_DEFER_RINGS_OFF
RF_DEFER_VARIANT(tsq_defer_burst, defer_alloc_burst, defer_batch_free_shard, defer_pool_b_idle)
#endif

/* ---- tsq_llist_batch ------------------------------------------------------------------ */

struct llist_pool {
	/* B -> A: B's chains (tsq_llist_push_batch), taken whole by A (tsq_llist_take_all). */
	_Alignas(TSQ_CACHELINE_SIZE) struct tsq_llist_head ret;
	/* A's private free list: a chain taken from ret, used as it is. */
	_Alignas(TSQ_CACHELINE_SIZE) struct tsq_llist_node *pool;
	/* B's private chain. */
	_Alignas(TSQ_CACHELINE_SIZE) struct tsq_llist_node *first, *last;
	unsigned n;
};
static_assert(sizeof(struct tsq_llist_node) <= 16, "fits the buffer's link");

static int llist_pool_init(struct rf_run *run, const char **why)
{
	struct llist_pool *lp = bench_alloc_lines(sizeof(*lp));

	if (lp == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	tsq_llist_init(&lp->ret);
	for (unsigned i = 0; i < RF_POOL_PREALLOC; i++) {
		struct rf_hdr *b = rf_pool_buf_new(run);

		if (b == NULL)
			break;
		RF_LINK(b, struct tsq_llist_node)->next = lp->pool;
		lp->pool = RF_LINK(b, struct tsq_llist_node);
	}
	run->impl = lp;
	return 0;
}

static void llist_pool_free_chain(struct tsq_llist_node *n)
{
	struct tsq_llist_node *next;

	tsq_llist_for_each_safe(n, next, n)
		free(n); /* the node is the first member of the buffer */
}

static void llist_pool_fini(struct rf_run *run)
{
	struct llist_pool *lp = run->impl;

	llist_pool_free_chain(lp->pool);
	llist_pool_free_chain(tsq_llist_take_all(&lp->ret));
	free(lp);
}

BENCH_INLINE struct rf_hdr *llist_pool_alloc(struct rf_run *run)
{
	struct llist_pool *lp = run->impl;
	struct tsq_llist_node *n = lp->pool;

	if (tsq_unlikely(n == NULL)) {
		/* Order does not matter to a free list: no tsq_llist_reverse(). */
		n = tsq_llist_take_all(&lp->ret);
		if (n == NULL) {
			run->grown++;
			return rf_pool_buf_new(run);
		}
	}
	lp->pool = n->next;
	return (struct rf_hdr *)(void *)n;
}

BENCH_INLINE void llist_pool_flush(struct rf_run *run)
{
	struct llist_pool *lp = run->impl;

	if (lp->n == 0)
		return;
	tsq_llist_push_batch(&lp->ret, lp->first, lp->last);
	lp->first = lp->last = NULL;
	lp->n = 0;
}

BENCH_INLINE void llist_pool_free(struct rf_run *run, struct rf_hdr *b)
{
	struct llist_pool *lp = run->impl;

	tsq_llist_link_local(&lp->first, &lp->last, RF_LINK(b, struct tsq_llist_node));
	if (++lp->n == RF_BATCH)
		llist_pool_flush(run);
}

RF_INSTANTIATE(tsq_llist_batch, llist_pool_alloc, rf_nothing, llist_pool_free, llist_pool_flush)

static const struct rf_ops rf_tsq_llist_batch = {
	.name = "tsq_llist_batch",
	.pool = true,
	.init = llist_pool_init,
	.fini = llist_pool_fini,
	.a_iteration = tsq_llist_batch_a_iteration,
	.b_main = tsq_llist_batch_b_main,
};

/* ---- handwritten ----------------------------------------------------------------------- */

struct hw_pool {
	/* B -> A: chains CASed on by B, taken whole by A. */
	_Alignas(TSQ_CACHELINE_SIZE) struct rf_hdr *ret;
	/* A's private free list. */
	_Alignas(TSQ_CACHELINE_SIZE) struct rf_hdr *pool;
	/* B's private chain. */
	_Alignas(TSQ_CACHELINE_SIZE) struct rf_hdr *first, *last;
	unsigned n;
};

static int hw_init(struct rf_run *run, const char **why)
{
	struct hw_pool *hw = bench_alloc_lines(sizeof(*hw));

	if (hw == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	for (unsigned i = 0; i < RF_POOL_PREALLOC; i++) {
		struct rf_hdr *b = rf_pool_buf_new(run);

		if (b == NULL)
			break;
		RF_LINK(b, struct rf_next)->next = hw->pool;
		hw->pool = b;
	}
	run->impl = hw;
	return 0;
}

static void hw_free_chain(struct rf_hdr *b)
{
	while (b != NULL) {
		struct rf_hdr *next = RF_LINK(b, struct rf_next)->next;

		free(b);
		b = next;
	}
}

static void hw_fini(struct rf_run *run)
{
	struct hw_pool *hw = run->impl;

	hw_free_chain(hw->pool);
	hw_free_chain(tsq_xchg(&hw->ret, (struct rf_hdr *)NULL, TSQ_ACQUIRE));
	free(hw);
}

BENCH_INLINE struct rf_hdr *hw_alloc(struct rf_run *run)
{
	struct hw_pool *hw = run->impl;
	struct rf_hdr *b = hw->pool;

	if (tsq_unlikely(b == NULL)) {
		/* Peek, then take the whole return list: it becomes the free list as it is. */
		if (tsq_load(&hw->ret, TSQ_RELAXED) != NULL)
			b = tsq_xchg(&hw->ret, (struct rf_hdr *)NULL, TSQ_ACQUIRE); /* H2, pairs with H1 */
		if (b == NULL) {
			run->grown++;
			return rf_pool_buf_new(run);
		}
	}
	hw->pool = RF_LINK(b, struct rf_next)->next;
	return b;
}

BENCH_INLINE void hw_flush(struct rf_run *run)
{
	struct hw_pool *hw = run->impl;
	struct rf_hdr *old;

	if (hw->n == 0)
		return;
	old = tsq_load(&hw->ret, TSQ_RELAXED);
	do
		RF_LINK(hw->last, struct rf_next)->next = old;
	while (!tsq_cmpxchg_weak(&hw->ret, &old, hw->first, TSQ_RELEASE, TSQ_RELAXED)); /* H1 */
	hw->first = hw->last = NULL;
	hw->n = 0;
}

BENCH_INLINE void hw_free(struct rf_run *run, struct rf_hdr *b)
{
	struct hw_pool *hw = run->impl;

	RF_LINK(b, struct rf_next)->next = hw->first;
	if (hw->first == NULL)
		hw->last = b;
	hw->first = b;
	if (++hw->n == RF_BATCH)
		hw_flush(run);
}

RF_INSTANTIATE(handwritten, hw_alloc, rf_nothing, hw_free, hw_flush)

static const struct rf_ops rf_handwritten = {
	.name = "handwritten",
	.pool = true,
	.init = hw_init,
	.fini = hw_fini,
	.a_iteration = handwritten_a_iteration,
	.b_main = handwritten_b_main,
};

/* ---- driver ---------------------------------------------------------------------------- */

static void bm_remote_free(struct gbench_state *st, const void *arg)
{
	const struct rf_ops *ops = arg;
	struct rf_run run;
	const char *why = NULL;
	uint64_t iters = 0, t0, elapsed;
	bool started = false;
	int err;

	memset(&run, 0, sizeof(run));
	run.ops = ops;
	run.ring = bench_alloc_lines(sizeof(*run.ring));
	if (run.ring == NULL) {
		gbench_skip_with_error(st, "out of memory");
		return;
	}
	err = ops->init(&run, &why);
	if (err != 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "remote_free/%s skipped: %s", ops->name, why != NULL ? why : strerror(-err));
		gbench_skip_with_error(st, msg);
		free(run.ring);
		return;
	}
	bench_cpus_get(&run.cpus);
	if (pthread_create(&run.b, NULL, ops->b_main, &run) != 0) {
		gbench_skip_with_error(st, "pthread_create failed");
	} else {
		started = true;
		bench_pin(&run.cpus, run.b, 1);
		bench_pin(&run.cpus, pthread_self(), 0);
	}

	t0 = bench_now_ns();
	while (gbench_keep_running(st)) {
		ops->a_iteration(&run);
		if (run.alloc_failed) {
			gbench_skip_with_error(st, "allocation failed");
			break;
		}
		iters++;
	}
	elapsed = bench_now_ns() - t0;

	if (started) {
		tsq_store(&run.stop, 1u, TSQ_RELEASE);
		pthread_join(run.b, NULL);
	}
	bench_cpus_restore(&run.cpus);
	if (!gbench_error_occurred(st)) {
		/* Each buffer adds seq + len + 4 * seq; seq runs 1..total over the whole run. */
		const uint64_t total = iters * RF_PER_ITER;
		const uint64_t want = 5 * (total * (total + 1) / 2) + total * RF_BUF_SIZE;

		if (run.b_sum != want || tsq_load(&run.b_done, TSQ_RELAXED) != total) {
			char msg[200];

			snprintf(msg, sizeof(msg), "remote_free/%s: checksum mismatch: buffers lost or duplicated",
				 ops->name);
			gbench_fail(st, msg);
		} else {
			bench_report_items(st, total, elapsed);
			if (ops->pool) /* buffers malloc()ed because the pool ran dry */
				gbench_counter(st, "grown", (double)run.grown, GBENCH_COUNTER_DEFAULT);
			if (ops->report != NULL)
				ops->report(&run, st);
		}
	}
	if (ops->fini != NULL)
		ops->fini(&run);
	free(run.ring);
}

static const struct rf_ops *const rf_impls[] = {
	&rf_glibc,
#ifdef TSQ_BENCH_MIMALLOC_PATH
	&rf_mimalloc,
#endif
#ifdef TSQ_BENCH_JEMALLOC_PATH
	&rf_jemalloc,
#endif
	&rf_mutex_pool,
	&rf_tsq_defer,
	&rf_tsq_defer_batch,
	&rf_tsq_defer_shard,
	&rf_tsq_defer_shard_batch,
#ifdef TSQ_DEFER_RINGS_OFF
	&rf_tsq_defer_burst,
#endif
	&rf_tsq_llist_batch,
	&rf_handwritten,
};

static void remote_free_register(void)
{
	for (size_t i = 0; i < sizeof(rf_impls) / sizeof(rf_impls[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "remote_free/%s", rf_impls[i]->name);
		gbench_unit(gbench_use_real_time(gbench_register(name, bm_remote_free, rf_impls[i])), GBENCH_US);
	}
}
GBENCH_REGISTRAR(remote_free_register)
