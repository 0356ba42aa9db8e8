/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/remote_free/remote_free.h - the remote-free scenario, after the kernel's "generalize skb freeing
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
 * Implementations (remote_free.c is the driver; one file per kind of implementation)
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
#ifndef TSQ_BENCH_REMOTE_FREE_H
#define TSQ_BENCH_REMOTE_FREE_H

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"

#define RF_BUF_SIZE 2048u
#define RF_PER_ITER 16384u
#define RF_RING_SLOTS 512u
/* Pointers B takes from the ring at once; buffers per splice of the batching variants. */
#define RF_BURST 64u
#define RF_BATCH 32u
#define RF_POOL_PREALLOC 1024u

/* The first cache line of every buffer (the rest of the 2 KiB is not touched). */
struct rf_hdr {
	/* Written by A, read by B. */
	uint64_t seq;
	uint64_t len;
	uint64_t payload[3];
	/*
	 * The free side's link (a tsq_defer_item or a next pointer); A does not write it. After
	 * the payload, as in the hand-off's item (see handoff.h).
	 */
	_Alignas(8) unsigned char link[24];
};
static_assert(sizeof(struct rf_hdr) == 64, "one header line");
#define RF_LINK(b, type) ((type *)(void *)(b)->link)
/* The buffer a link belongs to. */
#define RF_HDR_OF(node) ((struct rf_hdr *)(void *)((char *)(node)-offsetof(struct rf_hdr, link)))

/* ---- the A -> B ring (same for every implementation) ---------------------------------- */

struct rf_ring {
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t tail;                /* A publishes (release) */
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t head;                /* B publishes (release) */
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
	uint64_t seq;      /* A: last sequence number written */
	uint64_t grown;    /* A: buffers malloc()ed beyond the preallocation */
	bool alloc_failed; /* A: an allocation returned NULL */
	pthread_t b;
	struct bench_cpus cpus;
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t b_done; /* B: buffers freed (release) */
	uint64_t b_sum;                               /* B: header sum, read after join */
	_Alignas(TSQ_CACHELINE_SIZE) uint32_t stop;   /* A -> B: exit once the ring is empty */
};

typedef struct rf_hdr *rf_alloc_fn(struct rf_run *run);
typedef void rf_free_fn(struct rf_run *run, struct rf_hdr *b);
typedef void rf_idle_fn(struct rf_run *run);

static inline void rf_nothing(struct rf_run *run)
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
			rf_ring_publish(
				r); /* B must see what is there, or it would never make room */
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
		b->payload[0] = b->payload[1] = b->payload[2] = run->seq;
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

			sum += h->seq + h->len + h->payload[0] + h->payload[1] + h->payload[2];
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
#define RF_INSTANTIATE(impl, alloc, a_wait, free_fn, b_idle) \
	static void impl##_a_iteration(struct rf_run *run)   \
	{                                                    \
		rf_a_iteration(run, alloc, a_wait);          \
	}                                                    \
	static void *impl##_b_main(void *arg)                \
	{                                                    \
		rf_b_loop(arg, free_fn, b_idle);             \
		return NULL;                                 \
	}

/* A buffer for a pool: line-aligned, so the header is one line as with the allocators. */
static inline struct rf_hdr *rf_pool_buf_new(struct rf_run *run)
{
	struct rf_hdr *b = aligned_alloc(TSQ_CACHELINE_SIZE, RF_BUF_SIZE);

	if (b != NULL)
		memset(b, 0, sizeof(*b));
	(void)run;
	return b;
}

/* The pools' free lists: buffers linked through the header's link. */
struct rf_next {
	struct rf_hdr *next;
};

/* Preallocate RF_POOL_PREALLOC pool buffers (fewer if malloc fails) onto the list `head`. */
static inline struct rf_hdr *rf_pool_fill(struct rf_run *run, struct rf_hdr *head)
{
	for (unsigned i = 0; i < RF_POOL_PREALLOC; i++) {
		struct rf_hdr *b = rf_pool_buf_new(run);

		if (b == NULL)
			break;
		RF_LINK(b, struct rf_next)->next = head;
		head = b;
	}
	return head;
}

/* free() every buffer of a list linked through struct rf_next. */
static inline void rf_free_chain(struct rf_hdr *b)
{
	while (b != NULL) {
		struct rf_hdr *next = RF_LINK(b, struct rf_next)->next;

		free(b);
		b = next;
	}
}

/* The implementations, each kind in its own file; rf_impls (remote_free.c) lists them in table order. */
extern const struct rf_ops rf_glibc, rf_mutex_pool, rf_tsq_defer, rf_tsq_defer_batch,
	rf_tsq_defer_shard, rf_tsq_defer_shard_batch, rf_tsq_llist_batch, rf_handwritten;
#ifdef TSQ_BENCH_MIMALLOC_PATH
extern const struct rf_ops rf_mimalloc;
#endif
#ifdef TSQ_BENCH_JEMALLOC_PATH
extern const struct rf_ops rf_jemalloc;
#endif
/* Built only once tsq/defer.h has its producer rings (it then defines TSQ_DEFER_RINGS_OFF). */
extern const struct rf_ops rf_tsq_defer_burst;

#endif /* TSQ_BENCH_REMOTE_FREE_H */
