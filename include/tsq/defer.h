/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/defer.h - per-shard deferred work: hand work to the thread that owns it.
 *
 * This header is the contract: what a shard is, the data a user embeds, the options and
 * the API, each function with its concurrency contract. The mechanics live in private
 * headers it includes (never include them yourself): tsq/bits/defer_list.h (the shared list
 * and its exact bound), tsq/bits/defer_ring.h (per-pair rings, spill, the drain order) and
 * tsq/bits/defer_wake.h (the owner's sleep, the kick, the membarrier/SEQ_CST fences, and
 * every DEFER_* ordering label). docs/defer.md has the rationale and the proofs.
 *
 * Overview
 *   A *set* has one *shard* per worker thread (a "CPU" in kernel terms). Work that belongs to
 *   a shard - a buffer to return to the pool that allocated it, a flow to resume on its home
 *   worker - is pushed to that shard from any thread and run by the owner, in batches, in its
 *   poll loop: the userspace form of the kernel's per-CPU skb free deferral and TSQ lists.
 *   Two paths lead to a shard: per-pair rings (the default; one single-producer ring per
 *   (producer, target), allocated at the pair's first push) for producers that are shards
 *   or registered application threads, and a shared lock-less list for everyone else, for
 *   tsq_defer_queue() and for a ring that is full (it spills there).
 *
 *   tsq_defer_push(set, target, self, item) decides in this order:
 *     1. self == target: the caller is the owner, the item runs at once    (TSQ_DEFER_RAN_INLINE)
 *     2. the pair's ring has a free slot: queued there                     (TSQ_DEFER_QUEUED)
 *     3. the shared list holds fewer than `bound` items: queued there      (TSQ_DEFER_QUEUED)
 *     4. otherwise the caller runs the item, how == TSQ_DEFER_FALLBACK     (TSQ_DEFER_RAN_FALLBACK)
 *   A queued item kicks the owner once when its path crosses half its capacity, or when it
 *   arrives while the owner has said it is about to sleep. The item's function learns how it
 *   runs: a per-worker pool must not be touched by a foreign thread, so a fallback run has
 *   to take another route (free(), a shared pool).
 *
 * Usage
 *     struct buf { struct tsq_defer_item d; unsigned home; char data[2048]; };
 *     static void recycle(struct tsq_defer_item *it, enum tsq_defer_how how) {
 *         struct buf *b = tsq_container_of(it, struct buf, d);
 *         if (how == TSQ_DEFER_FALLBACK) free(b); else pool_put(b->home, b);
 *     }
 *     struct tsq_defer_shard *shards = tsq_defer_shards_alloc(nthreads);
 *     struct tsq_defer_set set = {0};
 *     tsq_defer_set_init(&set, shards, nthreads, NULL);  // rings of 1024, bound 128, eventfd
 *     // any thread that is done with b (my_shard: its own shard, or TSQ_DEFER_NO_SHARD):
 *     tsq_defer_item_init(&b->d, recycle);
 *     tsq_defer_push(&set, b->home, my_shard, &b->d);
 *     // worker `me`, every poll-loop round:
 *     tsq_defer_drain(&set, me);
 *     if (nothing_else_to_do) tsq_defer_wait(&set, me, -1);   // sleeps without losing a kick
 *   (tests/unit/test_defer.c compiles and runs this block as `usage_block_runs`.)
 *
 * Synchronization table ('-': safe concurrently, 'X': the caller must serialise)
 *
 *                          push/queue/  batch_*  drain     idle_enter/  fd, pending,  set_init/
 *                          push_bulk    (one b)  (_burst)  exit, wait   stats,        destroy
 *                                                                       nr_shards,
 *                                                                       register
 *     push/queue/push_bulk      -          -        -           -            -            X
 *     batch_* (one b)           -          X        -           -            -            X
 *     drain(_burst)             -          -        X           X            -            X
 *     idle_enter/exit, wait     -          -        X           X            -            X
 *     fd, pending, stats,
 *       nr_shards, register     -          -        -           -            -            X
 *     set_init/destroy          X          X        X           X            X            X
 *   Not in the table (they touch no set): item_init and item_set_fn (the item's owner, before
 *   it is queued), shards_alloc (setup), current_cpu (any thread).
 *   drain, drain_burst, idle_enter, idle_exit and wait(_ns) on shard S are "owner only": one
 *   thread (S's worker) calls them. push may come from any thread; `self` must be the
 *   caller's own shard, its registered producer id, or TSQ_DEFER_NO_SHARD: two threads must
 *   never push with the same `self` at once (each (self, target) ring has one producer), and
 *   a non-shard thread never runs an item inline. A struct tsq_defer_batch belongs to one
 *   producer.
 *
 * Sleeping: which primitives are allowed
 *   After idle_enter returns true, every push that queues work kicks. The primitive must not
 *   lose a kick sent between idle_enter and the sleep itself:
 *     - counting primitives (eventfd - tsq_defer_wait() -, a semaphore, a pipe, epoll on the
 *       eventfd read after idle_exit or before it): nothing else to do;
 *     - a futex on a counter that the kick increments: read the counter BEFORE calling
 *       idle_enter and pass that value to FUTEX_WAIT;
 *     - a bare condition-variable signal (no state) is NOT allowed: it loses a kick sent
 *       before the wait starts.
 *   The kick hook may be called from two producers at once (a stale kick and a new one):
 *   make it thread-safe (eventfd write, futex wake and sem_post are).
 *
 * Bounds
 *   The shared list never holds more than `bound` items pushed with push or batch_* (queue's
 *   items count towards it but are never refused). A ring holds at most ring_size items; a
 *   full ring spills to the list, so a producer with a ring falls back only when its ring is
 *   full AND the list holds `bound`: never where the list alone would have. The kick at half:
 *   once per crossing of bound / 2 (list) or ring_size / 2 (ring) since the owner last
 *   emptied that path.
 *
 * Memory
 *   Idle set: 192 bytes per shard (three cache lines) and a table of 8-byte ring pointers,
 *   nr_shards * (nr_shards + opts.producers) of them (2 KiB for 16 shards, 32 KiB for 64).
 *   Active pair: one ring of 128 + 8 * ring_size bytes (8320 B at the default 1024 slots:
 *   a pool's worth of returns in flight without spilling),
 *   allocated at the pair's first push. All freed by tsq_defer_set_destroy().
 *   Item: 24 bytes (struct tsq_defer_item: the link, the function, the list walk's hint),
 *   embedded in the caller's object; the owner's list walk uses 2 KiB of its stack.
 *
 * Counters (per shard, tsq_defer_stats()): pushed (queued for the owner), inline (ran at
 * once, caller was the owner), fallback (ran by the caller, ring and list full), kicks
 * (wake-ups sent), drained (items the owner ran or was handed), drains (non-empty drains),
 * spilled (of pushed: items a full ring sent on to the list, or run as fallbacks there, and
 * those that followed them there),
 * ring_nomem (pairs whose ring could not be allocated: they use the list), fence_errors
 * (idle_enter could not issue its membarrier: it returned false instead of sleeping).
 * pushed == drained once the producers have stopped and the owner has drained.
 *
 * Limitations
 *   The list push is lock-free, not wait-free; the ring push is wait-free (its first push to
 *   a target calls the allocator once). A preempted producer never stalls another.
 *   FIFO holds per producer on its ring and in link order on the list; a drain takes the
 *   rings, then the list. Across a spill too: once a producer spilled to the list (its ring
 *   was full), its pushes to that target follow on the list until it sees the list taken,
 *   then return to the ring (a take seen after its last link: the drain that took them
 *   delivers them before it looks at the rings again). Where it does not hold: an item run
 *   as a fallback (on the producer, before those still queued); a push that finds the list
 *   at `bound` while spilled items are still queued (it takes the ring rather than fall
 *   back); and a producer that fills its whole ring again and spills between a drain's look
 *   at the rings and its take of the list (the owner stalled there for ring_size pushes):
 *   that drain runs the spilled items before the ring's.
 *   TSQ_DEBUG marks items that are not queued, and aborts on a push of a queued item.
 */
#ifndef TSQ_DEFER_H
#define TSQ_DEFER_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "llist.h"

/*
 * Test hook: tests define it before including this header to run code at a named point of
 * a push or drain (tests/unit/test_defer.c replays a lost wake-up with it). Points: "linked"
 * (a list push after DEFER_S1, before its kick decisions), "published" (a ring push after
 * DEFER_S2, before its kick decisions), "kick" (a producer decided to kick, before the
 * single-flight CAS), "taken" (a drain after DEFER_A1, before it gives the room back).
 */
#ifndef TSQ__DEFER_HOOK
#define TSQ__DEFER_HOOK(point, set, shard) ((void)0)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Data                                                                                       */
/* ---------------------------------------------------------------------------------------- */

/* Default bound per shard: the kernel's skb_defer_max since 6.19. */
#define TSQ_DEFER_DEFAULT_BOUND 128u
/* `self` for a caller that is not one of the set's shards (an application thread). */
#define TSQ_DEFER_NO_SHARD ((unsigned)-1)
/* Items a struct tsq_defer_batch holds before it hands them over by itself. */
#define TSQ_DEFER_BATCH_MAX 32u
/* opts.ring_size: no rings, every producer uses the shared list. */
#define TSQ_DEFER_RINGS_OFF 0xffffffffu
/* opts.ring_size 0: slots per (producer, target) ring, allocated when that pair first pushes. */
#define TSQ_DEFER_RING_DEFAULT 1024u
/* opts.fence: membarrier where the kernel offers it, else SEQ_CST on both sides (default). */
#define TSQ_DEFER_FENCE_AUTO 0u
/* opts.fence: SEQ_CST on both sides, no membarrier (also the tests' way to force the fallback). */
#define TSQ_DEFER_FENCE_SYMMETRIC 1u
/* opts.producers: at most this many registered application producers. */
#define TSQ_DEFER_PRODUCERS_MAX 4096u
/* Largest ring: 2^16 slots (512 KiB of pointers per pair). */
#define TSQ_DEFER_RING_MAX 65536u
/* Items tsq_defer_drain_burst() hands over per call of its function, at most. */
#define TSQ_DEFER_BURST 64u
/* Private: hints the shared list keeps of its last linked items (struct tsq_defer_shard). */
#define TSQ__DEFER_RECENT 4u

/* How an item came to run; passed to its function. */
enum tsq_defer_how {
	TSQ_DEFER_INLINE = 0,   /* the owner pushed to itself: run at once, on the owner */
	TSQ_DEFER_DRAINED = 1,  /* the owner took it from its list or ring: on the owner */
	TSQ_DEFER_FALLBACK = 2, /* the target's path was full: on the *pushing* thread */
};

/* What tsq_defer_push() did (non-negative returns). */
enum tsq_defer_result {
	TSQ_DEFER_RAN_INLINE = 0,
	TSQ_DEFER_QUEUED = 1,
	TSQ_DEFER_RAN_FALLBACK = 2,
};

struct tsq_defer_item;
typedef void tsq_defer_fn(struct tsq_defer_item *item, enum tsq_defer_how how);
/* tsq_defer_drain_burst(): the owner is handed n (1..TSQ_DEFER_BURST) items at once. */
typedef void tsq_defer_burst_fn(void *ctx, struct tsq_defer_item **items, unsigned n);

/* A unit of work. Embed it; set fn with tsq_defer_item_init(). Use the functions below. */
struct tsq_defer_item {
	struct tsq_llist_node node;
	tsq_defer_fn *fn;
	/*
	 * Private: a hint for the shared list's owner, an item a few links further down the
	 * chain (written when the item is linked): its walk prefetches it, so that the dependent
	 * misses of a chain overlap instead of following one another. Never dereferenced.
	 */
	struct tsq_defer_item *ahead;
};

/* The kick hook: wake the owner of `shard`. Called from producers (see "Sleeping"). */
typedef void tsq_defer_kick_fn(void *kick_ctx, unsigned shard);

/*
 * One shard. Allocate an array with tsq_defer_shards_alloc() (or any 64-byte-aligned memory)
 * and treat the fields as private: use the functions below.
 */
struct tsq_defer_shard {
	/* Line 1: the shared list, written by its producers and once per drain by the owner. */
	struct {
		struct tsq_llist_head list;
		uint64_t count;    /* items linked or being linked, not yet given back by a drain */
		uint64_t fallback; /* list pushes run by their producer (list full) */
		uint64_t ring_nomem; /* pairs whose ring failed to allocate (they use the list) */
		/* The last items linked: the `ahead` hints of the next ones (racy by design). */
		struct tsq_defer_item *recent[TSQ__DEFER_RECENT];
	} shared TSQ_CACHELINE_ALIGNED;
	/* Line 2: waking the owner. idle is written by the owner, read by every producer. */
	struct {
		uint32_t idle; /* owner is about to sleep (DEFER_S3, the Dekker pair's flag) */
		uint32_t kick_pending; /* single flight: 1 from a kick until the owner re-arms */
		uint64_t kicks;        /* wake-ups sent */
	} wake TSQ_CACHELINE_ALIGNED;
	/* Line 3, written by the owner only. */
	struct {
		uint64_t inline_runs;
		uint64_t drained;
		uint64_t drains;
		uint64_t list_drained; /* of `drained`, from the shared list */
		uint64_t fence_errors; /* membarrier failed in idle_enter: owner did not sleep */
		int efd;               /* default kick: an eventfd, -1 when a custom kick is used */
		uint32_t in_rings; /* a drain is delivering ring slots in place (re-entry guard) */
	} owner TSQ_CACHELINE_ALIGNED;
};

struct tsq_defer_opts {
	size_t size;             /* sizeof(struct tsq_defer_opts): forward compatibility */
	uint32_t bound;          /* items on a shard's shared list before fallback; 0: 128 */
	tsq_defer_kick_fn *kick; /* NULL: an eventfd per shard (tsq_defer_fd(), tsq_defer_wait()) */
	void *kick_ctx;
	/* Since the second version of the struct: slots per (producer, target) ring, rounded
	 * up to a power of two (8..TSQ_DEFER_RING_MAX); 0: TSQ_DEFER_RING_DEFAULT;
	 * TSQ_DEFER_RINGS_OFF: none. */
	uint32_t ring_size;
	/* Since the third version of the struct: producer ids beyond the shards, for
	 * application threads (tsq_defer_producer_register()); 0: none. */
	uint32_t producers;
	/* Since the third version: TSQ_DEFER_FENCE_AUTO (0: membarrier where available) or
	 * TSQ_DEFER_FENCE_SYMMETRIC (SEQ_CST on both sides). */
	uint32_t fence;
};

/* Private (bits/defer_ring.h): one (producer -> target) ring. */
struct tsq__defer_ring;

/* The set: read-mostly after init; its fields are private. */
struct tsq_defer_set {
	struct tsq_defer_shard *shards;
	unsigned nr_shards;
	uint32_t bound;
	uint32_t kick_at; /* bound / 2: the list's count crossing it kicks */
	uint32_t ring_size, ring_mask;
	unsigned nr_producers; /* nr_shards + opts.producers: the valid `self` values */
	uint32_t registered;   /* producer ids handed out by tsq_defer_producer_register() */
	uint32_t asym;         /* 1: membarrier fence; 0: the SEQ_CST pair (bits/defer_wake.h) */
	/* [target * nr_producers + producer]: NULL until that pair first pushes; a NULL table
	 * without rings. Written by the pair's producer, read by the target's owner. */
	struct tsq__defer_ring **rings;
	tsq_defer_kick_fn *kick;
	void *kick_ctx;
	uint32_t live; /* TSQ__DEFER_LIVE from init to destroy (TSQ_DEBUG's double-init check) */
};

#define TSQ__DEFER_LIVE 0x74737164u /* "tsqd" */

/* Counter snapshot of one shard; each field is read atomically, the set is not a snapshot. */
struct tsq_defer_stats {
	uint64_t pushed;
	uint64_t inline_runs;
	uint64_t fallback;
	uint64_t kicks;
	uint64_t drained;
	uint64_t drains;
	uint64_t spilled;      /* of `pushed`: went to the list because their ring was full */
	uint64_t ring_nomem;   /* producer pairs whose ring could not be allocated */
	uint64_t fence_errors; /* idle_enter calls that could not issue their membarrier */
};

/* Producer-side private batch for tsq_defer_batch_add(); one per (producer, target). */
struct tsq_defer_batch {
	struct tsq_defer_item *items[TSQ_DEFER_BATCH_MAX]; /* oldest first */
	unsigned n;
	unsigned target;
	unsigned self; /* the producer's shard, learnt at the first add */
};

/* Keep a rare path out of the inlined fast path (used by the private headers). */
#if defined(__GNUC__) || defined(__clang__)
#define TSQ__DEFER_COLD static __attribute__((noinline, cold, unused))
/* The list path out of line: its two RMWs dwarf a call; the ring path keeps its registers. */
#define TSQ__DEFER_NOINLINE static __attribute__((noinline, unused))
#else
#define TSQ__DEFER_COLD static inline
#define TSQ__DEFER_NOINLINE static inline
#endif

#ifdef __cplusplus
}
#endif

/* The mechanics, in dependency order (each opens its own extern "C" after its includes). */
#define TSQ__DEFER_INSIDE 1
#include "bits/defer_wake.h"
#include "bits/defer_list.h"
#include "bits/defer_ring.h"
#undef TSQ__DEFER_INSIDE

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Setup                                                                                      */
/* ---------------------------------------------------------------------------------------- */

/*
 * tsq_defer_item_init - set the function an item runs, once, before its first push.
 * Context: the thread that owns the item. Blocks: never. Ordering: the push publishes it.
 */
static inline void tsq_defer_item_init(struct tsq_defer_item *item, tsq_defer_fn *fn)
{
	item->node.next = TSQ__DEFER_NOT_QUEUED;
	item->fn = fn;
	item->ahead = NULL;
}

/*
 * tsq_defer_item_set_fn - change the function of an item that is not queued (e.g. a frame
 * that goes home by one route, then out by another).
 * Context: the thread that owns the item. Blocks: never. Ordering: the push publishes it.
 */
static inline void tsq_defer_item_set_fn(struct tsq_defer_item *item, tsq_defer_fn *fn)
{
	item->fn = fn;
}

/*
 * tsq_defer_shards_alloc - allocate `n` cache-line-aligned shards (uninitialised; init does it).
 * Context: setup, any thread. Blocks: may (malloc).
 * Return: the array (free with free() after tsq_defer_set_destroy()), NULL if n == 0 or no memory.
 */
static inline struct tsq_defer_shard *tsq_defer_shards_alloc(unsigned n)
{
	size_t size = (size_t)n * sizeof(struct tsq_defer_shard);

	if (n == 0 || size / n != sizeof(struct tsq_defer_shard))
		return NULL;
	return (struct tsq_defer_shard *)aligned_alloc(TSQ_CACHELINE_SIZE, size);
}

/*
 * tsq_defer_set_init - initialise a set over `nr_shards` caller-allocated shards.
 * opts may be NULL (bound 128, eventfd kicks, rings of 1024, membarrier fence where
 * available). With opts->kick NULL, one eventfd per shard is created (tsq_defer_fd() gives
 * it for epoll; tsq_defer_wait() sleeps on it). The ring table is allocated here, each ring
 * at its pair's first push (see "Memory"). The fence is chosen here, once: membarrier is
 * registered for the process, or the symmetric SEQ_CST pair is used (bits/defer_wake.h).
 * Context: setup, before any other call on the set. Blocks: no (malloc, eventfd, membarrier:
 * syscalls). Ordering: publish the set to other threads the usual way (thread creation, a
 * release).
 * Return: 0; -EINVAL if set or shards is NULL, nr_shards is 0, opts->size is smaller than
 * the first version of the struct or larger with non-zero unknown bytes, the bound is above
 * 2^31 (0 means the default, 128), ring_size above TSQ_DEFER_RING_MAX (and not
 * TSQ_DEFER_RINGS_OFF), producers above TSQ_DEFER_PRODUCERS_MAX or fence unknown; -ENOMEM
 * if the ring table cannot be allocated; -ENOTSUP if no kick is given and eventfd is
 * unavailable; -errno of eventfd() (e.g. -EMFILE). Nothing is left allocated or open on
 * error. Under TSQ_DEBUG, an init of a set that is live (initialised, not destroyed) aborts:
 * it would leak; the check reads the set, so start from a zeroed one (`= {0}`, memset,
 * calloc) where a memory checker runs.
 */
static inline int tsq_defer_set_init(struct tsq_defer_set *set, struct tsq_defer_shard *shards,
				     unsigned nr_shards, const struct tsq_defer_opts *opts)
{
	struct tsq_defer_opts o;
	int err;

	if (set == NULL || shards == NULL || nr_shards == 0 || nr_shards == TSQ_DEFER_NO_SHARD)
		return -EINVAL;
	/* libbpf's rule (atomic.h): an older, smaller struct reads as zeroes past its end. */
	if (!tsq__opts_read(opts, offsetof(struct tsq_defer_opts, kick_ctx) + sizeof(void *), &o,
			    sizeof(o)))
		return -EINVAL;
	TSQ__MISUSE_IF(
		set->live == TSQ__DEFER_LIVE && set->shards != NULL, "tsq_defer_set_init",
		"set initialised twice without tsq_defer_set_destroy() (its eventfds and rings "
		"would leak); zero a fresh set before the first init");
	if (o.bound == 0)
		o.bound = TSQ_DEFER_DEFAULT_BOUND;
	/* An explicit huge bound would overflow the count arithmetic. */
	if (o.bound > (1u << 31) ||
	    (o.ring_size > TSQ_DEFER_RING_MAX && o.ring_size != TSQ_DEFER_RINGS_OFF) ||
	    o.producers > TSQ_DEFER_PRODUCERS_MAX ||
	    o.producers > TSQ_DEFER_NO_SHARD - 1 - nr_shards || o.fence > TSQ_DEFER_FENCE_SYMMETRIC)
		return -EINVAL;

	set->shards = shards;
	set->nr_shards = nr_shards;
	set->nr_producers = nr_shards + o.producers;
	set->registered = 0;
	set->asym = o.fence == TSQ_DEFER_FENCE_AUTO && tsq__defer_membarrier_register();
	set->bound = o.bound;
	set->kick_at = o.bound / 2;
	set->kick = o.kick;
	set->kick_ctx = o.kick_ctx;

	for (unsigned i = 0; i < nr_shards; i++) {
		struct tsq_defer_shard *s = &shards[i];

		memset(s, 0, sizeof(*s));
		tsq_llist_init(&s->shared.list);
		s->owner.efd = -1;
	}
	err = tsq__defer_alloc_rings(set, o.ring_size);
	if (err != 0)
		return err;
	set->live = TSQ__DEFER_LIVE;
	if (set->kick != NULL)
		return 0;
	err = tsq__defer_open_eventfds(set);
	if (err != 0) {
		tsq__defer_free_rings(set);
		set->live = 0;
	}
	return err;
}

/*
 * tsq_defer_set_destroy - close the default eventfds and free the ring table and rings. The
 * set is left with no shards: every later call on it returns -EINVAL (false for the
 * booleans) until the next tsq_defer_set_init(). The shards' memory stays the caller's.
 * Items still queued are NOT run: the set is destroyed all the same, and -EBUSY says that
 * work was dropped (drain every shard first where it matters; tsq_defer_pending() tells).
 * Context: teardown, when no other call on the set can happen. Blocks: never.
 * Return: 0; -EBUSY if items were still queued (dropped, set destroyed); -EINVAL for NULL or
 * a set that is not initialised (destroyed already: nothing done).
 */
static inline int tsq_defer_set_destroy(struct tsq_defer_set *set)
{
	int err = 0;

	if (set == NULL || set->shards == NULL)
		return -EINVAL;
	if (tsq__defer_any_work(set))
		err = -EBUSY;
	tsq__defer_close_eventfds(set, set->nr_shards);
	tsq__defer_free_rings(set);
	set->shards = NULL;
	set->nr_shards = 0;
	set->live = 0;
	return err;
}

/*
 * tsq_defer_fd - the eventfd the owner of `shard` can add to its epoll/poll set (readable
 * when kicked). Context: any thread. Blocks: never.
 * Return: the fd; -EINVAL for a bad set or shard; -ENOTSUP when the set uses a custom kick.
 */
static inline int tsq_defer_fd(const struct tsq_defer_set *set, unsigned shard)
{
	if (set == NULL || shard >= set->nr_shards)
		return -EINVAL;
	return set->shards[shard].owner.efd >= 0 ? set->shards[shard].owner.efd : -ENOTSUP;
}

/*
 * tsq_defer_nr_shards - how many shards the set has (0 after tsq_defer_set_destroy()).
 * Context: any thread. Blocks: never. Return: the number of shards; 0 for NULL.
 */
static inline unsigned tsq_defer_nr_shards(const struct tsq_defer_set *set)
{
	return set != NULL ? set->nr_shards : 0;
}

/*
 * tsq_defer_producer_register - a producer id for an application thread that pushes often:
 * passed as `self`, it gives that thread its own ring to each target (the fast path shards
 * have) instead of the shared list. Ids are not reused; the set has opts->producers of them.
 * Context: any thread, once per producer thread; the id then belongs to that thread alone.
 * Blocks: never.
 * Return: the id (nr_shards .. nr_shards + opts->producers - 1); -EINVAL for NULL;
 * -ENOSPC when every id has been handed out (push with TSQ_DEFER_NO_SHARD instead).
 */
static inline int tsq_defer_producer_register(struct tsq_defer_set *set)
{
	uint32_t id;

	if (set == NULL || set->shards == NULL)
		return -EINVAL;
	id = tsq_load(&set->registered, TSQ_RELAXED);
	do {
		if (id >= set->nr_producers - set->nr_shards)
			return -ENOSPC;
	} while (!tsq_cmpxchg_weak(&set->registered, &id, id + 1, TSQ_RELAXED, TSQ_RELAXED));
	return (int)(set->nr_shards + id);
}

/* ---------------------------------------------------------------------------------------- */
/* Producers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/*
 * tsq_defer_push - hand `item` to shard `target`.
 * `self` is the caller's own shard or a registered producer id (then it takes its ring to
 * `target`, allocated at the pair's first push), or TSQ_DEFER_NO_SHARD (the shared list).
 * Context: any thread; one thread per `self` at a time. Blocks: never itself (ring:
 * wait-free but for its allocation at the pair's first push; list: lock-free); runs
 * item->fn inline when self == target or ring and list are full, and may call the kick hook.
 * Ordering: the item's contents are released to the owner (DEFER_S1 or DEFER_S2).
 * Return: TSQ_DEFER_RAN_INLINE (ran here, self == target), TSQ_DEFER_QUEUED (queued),
 * TSQ_DEFER_RAN_FALLBACK (ran here: ring and list full; counted in `fallback`);
 * -EINVAL if set or item is NULL, item->fn is NULL, target >= nr_shards, or self is neither a
 * shard, a producer id nor TSQ_DEFER_NO_SHARD. Nothing is queued or run on error. Under
 * TSQ_DEBUG an item that is already queued aborts ("pushed twice").
 */
static inline int tsq_defer_push(struct tsq_defer_set *set, unsigned target, unsigned self,
				 struct tsq_defer_item *item)
{
	if (tsq_unlikely(tsq__defer_bad_push(set, target, self, item)))
		return -EINVAL;
	tsq__defer_check_ready(item, "tsq_defer_push");
	if (self == target) {
		/* Already on the right thread: no deferral (the kernel's "same CPU" rule). */
		tsq_counter_add_owner(&set->shards[self].owner.inline_runs, 1);
		tsq__defer_mark_ready(item);
		item->fn(item, TSQ_DEFER_INLINE);
		return TSQ_DEFER_RAN_INLINE;
	}
	if (tsq_likely(self != TSQ_DEFER_NO_SHARD && set->rings != NULL)) {
		struct tsq__defer_ring *r = tsq__defer_ring_of(set, target, self);

		if (tsq_likely(r != NULL))
			return tsq__defer_ring_put1(set, target, r, item) ? TSQ_DEFER_QUEUED :
									    TSQ_DEFER_RAN_FALLBACK;
	}
	return tsq__defer_list_link(set, target, &item, 1, true) ? TSQ_DEFER_QUEUED :
								   TSQ_DEFER_RAN_FALLBACK;
}

/*
 * tsq_defer_push_bulk - hand n items, items[0] oldest, to shard `target` with one
 * publication (a ring tail store or one list CAS), like rte_ring_enqueue_burst() takes the
 * caller's array. For producers that already hold their work in an array;
 * tsq_defer_batch_add() builds one for you. Decides as tsq_defer_push(), for the whole array.
 * Context: any thread; one thread per `self` at a time. Blocks: as tsq_defer_push().
 * Ordering: as tsq_defer_push().
 * Return: the number of items queued (0..n); the others ran here (inline when self ==
 * target, counted in `inline`; fallbacks otherwise, counted in `fallback`); -EINVAL if set
 * or items is NULL (with n > 0), target or self is bad, or any items[i] or its fn is NULL -
 * checked before anything is queued or run. Under TSQ_DEBUG an item already queued aborts.
 * The array is not kept: it may be reused at once.
 */
static inline int tsq_defer_push_bulk(struct tsq_defer_set *set, unsigned target, unsigned self,
				      struct tsq_defer_item *const *items, unsigned n)
{
	if (tsq_unlikely(set == NULL || (items == NULL && n != 0) || n > (unsigned)INT32_MAX ||
			 target >= set->nr_shards ||
			 (self >= set->nr_producers && self != TSQ_DEFER_NO_SHARD)))
		return -EINVAL;
	if (tsq_unlikely(tsq__defer_bad_items(items, n)))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		tsq__defer_check_ready(items[i], "tsq_defer_push_bulk");
	if (n == 0)
		return 0;
	if (self == target) {
		tsq_counter_add_owner(&set->shards[self].owner.inline_runs, n);
		for (unsigned i = 0; i < n; i++) {
			tsq__defer_mark_ready(items[i]);
			items[i]->fn(items[i], TSQ_DEFER_INLINE);
		}
		return 0;
	}
	return (int)tsq__defer_put(set, target, self, items, n);
}

/*
 * tsq_defer_queue - always link `item` to shard `target`'s shared list: never inline, never
 * a fallback, not limited by the bound (it still counts towards it and kicks like
 * tsq_defer_push()). For work that must run on the owner's thread and in its loop, even
 * when pushed by the owner itself from a context where running it would re-enter (TSQ: a
 * flow restarted from the TX-completion poll), and whose number the caller bounds itself
 * (one entry per flow).
 * Context: any thread. Blocks: never (lock-free). Ordering: DEFER_S1, as tsq_defer_push().
 * Return: TSQ_DEFER_QUEUED; -EINVAL if set or item is NULL, item->fn is NULL or target is
 * out of range (nothing linked). Under TSQ_DEBUG an item already queued aborts.
 */
static inline int tsq_defer_queue(struct tsq_defer_set *set, unsigned target,
				  struct tsq_defer_item *item)
{
	if (tsq_unlikely(tsq__defer_bad_push(set, target, TSQ_DEFER_NO_SHARD, item)))
		return -EINVAL;
	tsq__defer_check_ready(item, "tsq_defer_queue");
	tsq__defer_list_link(set, target, &item, 1, false);
	return TSQ_DEFER_QUEUED;
}

/*
 * tsq_defer_batch_init - start an empty batch towards `target`.
 * Context: the producer that owns `b`. Blocks: never.
 */
static inline void tsq_defer_batch_init(struct tsq_defer_batch *b, unsigned target)
{
	b->n = 0;
	b->target = target;
	b->self = TSQ_DEFER_NO_SHARD;
}

/*
 * tsq_defer_batch_flush - hand the batch over with one publication, as tsq_defer_push_bulk().
 * Context: the producer that owns `b`. Blocks: as tsq_defer_push(). Ordering: as push.
 * Return: the number of items queued (0 for an empty batch); the batch's other items ran
 * here as fallbacks (counted); -EINVAL if set or b is NULL or b->target is out of range
 * (the batch is kept).
 */
static inline int tsq_defer_batch_flush(struct tsq_defer_set *set, struct tsq_defer_batch *b)
{
	unsigned n, queued;

	if (set == NULL || b == NULL || b->target >= set->nr_shards)
		return -EINVAL;
	n = b->n;
	if (n == 0)
		return 0;
	b->n = 0;
	queued = tsq__defer_put(set, b->target, b->self, b->items, n);
	return (int)queued;
}

/*
 * tsq_defer_batch_add - add an item to a batch; hands the batch over by itself when it holds
 * TSQ_DEFER_BATCH_MAX items. If self == b->target the item runs at once instead.
 * Always call tsq_defer_batch_flush() when the producer has nothing more to add.
 * Context: the producer that owns `b`, always with the same `self`. Blocks: never.
 * Ordering: none until the hand-over, then as tsq_defer_push().
 * Return: TSQ_DEFER_RAN_INLINE; TSQ_DEFER_QUEUED (kept in the batch, or handed over in
 * full); TSQ_DEFER_RAN_FALLBACK when this add handed the batch over and some of it ran here
 * (ring and list full); -EINVAL for NULL arguments, item->fn NULL, a bad target, a bad self,
 * or a self other than the batch's earlier adds used. Under TSQ_DEBUG an item already
 * queued aborts.
 */
static inline int tsq_defer_batch_add(struct tsq_defer_set *set, struct tsq_defer_batch *b,
				      unsigned self, struct tsq_defer_item *item)
{
	/*
	 * Fast path: the batch already holds items, so set, target and self were checked by the
	 * first add (a batch belongs to one set); only the item is new.
	 */
	if (tsq_likely(b != NULL && b->n - 1u < TSQ_DEFER_BATCH_MAX - 1u && self == b->self &&
		       set != NULL && item != NULL && item->fn != NULL)) {
		tsq__defer_check_ready(item, "tsq_defer_batch_add");
		b->items[b->n++] = item;
		if (b->n < TSQ_DEFER_BATCH_MAX)
			return TSQ_DEFER_QUEUED;
		return tsq_defer_batch_flush(set, b) < (int)TSQ_DEFER_BATCH_MAX ?
			       TSQ_DEFER_RAN_FALLBACK :
			       TSQ_DEFER_QUEUED;
	}
	if (tsq_unlikely(b == NULL || tsq__defer_bad_push(set, b->target, self, item) ||
			 (b->n != 0 && self != b->self)))
		return -EINVAL;
	tsq__defer_check_ready(item, "tsq_defer_batch_add");
	if (self == b->target) {
		tsq__defer_mark_ready(item);
		return tsq_defer_push(set, b->target, self, item);
	}
	b->self = self;
	b->items[b->n++] = item;
	if (b->n >= TSQ_DEFER_BATCH_MAX && tsq_defer_batch_flush(set, b) < (int)TSQ_DEFER_BATCH_MAX)
		return TSQ_DEFER_RAN_FALLBACK;
	return TSQ_DEFER_QUEUED;
}

/* ---------------------------------------------------------------------------------------- */
/* The owner                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/*
 * tsq_defer_drain - run every item queued for shard `self`: each ring, then the shared list;
 * oldest first within each.
 * Context: owner of `self` only; an item's function may call it again (the inner call takes
 * only the shared list, the outer one keeps the rings). Blocks: only inside the items'
 * functions.
 * Ordering: sees everything a producer wrote before its publication (DEFER_A1/A2); frees
 * ring slots after reading them (DEFER_R3); re-arms the kick before the take (DEFER_R4).
 * Return: the number of items run (>= 0); -EINVAL for a bad set or shard.
 */
static inline long tsq_defer_drain(struct tsq_defer_set *set, unsigned self)
{
	const struct tsq__defer_sink each = { NULL, NULL };

	if (tsq_unlikely(set == NULL || self >= set->nr_shards))
		return -EINVAL;
	return tsq__defer_drain(set, self, &each);
}

/*
 * tsq_defer_drain_burst - as tsq_defer_drain(), but hand the items to `fn` in arrays of up
 * to TSQ_DEFER_BURST (each ring's and the list's in their order); the items' own functions
 * are not called. For an owner that treats every item alike (a pool refilling its free
 * list): one call per burst instead of one per item.
 * Context: owner of `self` only. Blocks: only inside fn. Ordering: as tsq_defer_drain().
 * The array is valid only during the call (it may be the ring's own slots, handed over in
 * place). The items themselves are not prefetched (tsq_defer_drain() does, before its calls):
 * fn's loads of independent items overlap by themselves.
 * Return: the number of items handed over (>= 0); -EINVAL for a bad set or shard or fn NULL.
 */
static inline long tsq_defer_drain_burst(struct tsq_defer_set *set, unsigned self,
					 tsq_defer_burst_fn *fn, void *ctx)
{
	const struct tsq__defer_sink sink = { fn, ctx };

	if (tsq_unlikely(set == NULL || self >= set->nr_shards || fn == NULL))
		return -EINVAL;
	return tsq__defer_drain(set, self, &sink);
}

/*
 * tsq_defer_idle_enter - the owner declares it is about to sleep. If it returns true the
 * owner may sleep on its kick primitive: every later push that queues work kicks it (see
 * "Sleeping" for what the primitive must do). If it returns false there is work: drain
 * instead (the idle mark has been withdrawn).
 * Context: owner only. Blocks: never (the asymmetric fence is one membarrier syscall).
 * Ordering: re-arms the kick (DEFER_R4), then the Dekker store of idle (DEFER_S3) and its
 * fence (DEFER_S6, or SEQ_CST), then the look for work.
 * Return: true (nothing queued, may sleep), false (work pending, the fence failed, or a bad
 * set or shard).
 */
static inline bool tsq_defer_idle_enter(struct tsq_defer_set *set, unsigned self)
{
	if (set == NULL || self >= set->nr_shards)
		return false;
	return tsq__defer_idle_enter(set, self);
}

/*
 * tsq_defer_idle_exit - the owner is awake again (after sleeping, or after giving up on
 * sleeping); it must drain next.
 * Context: owner only. Blocks: never. Ordering: idle is cleared relaxed (a late clear only
 * costs one extra kick; the next idle_enter re-arms the kick).
 */
static inline void tsq_defer_idle_exit(struct tsq_defer_set *set, unsigned self)
{
	if (set == NULL || self >= set->nr_shards)
		return;
	tsq_store(&set->shards[self].wake.idle, 0u, TSQ_RELAXED);
}

/*
 * tsq_defer_wait_ns - sleep until kicked or `timeout_ns` nanoseconds pass (negative: no
 * timeout), unless work is already queued. Uses the default eventfd kick. Drain after it
 * returns.
 * Context: owner only. Blocks: may sleep (ppoll on the shard's eventfd).
 * Ordering: as tsq_defer_idle_enter(); the eventfd's counter keeps a kick written before
 * the sleep starts.
 * Return: 1 if woken by a kick, 0 on timeout or when work was already pending, -EINVAL for a
 * bad set or shard, -ENOTSUP for a set with a custom kick, -errno from ppoll() (not -EINTR:
 * retried with the whole timeout).
 */
static inline int tsq_defer_wait_ns(struct tsq_defer_set *set, unsigned self, int64_t timeout_ns)
{
	struct timespec ts;

	if (set == NULL || self >= set->nr_shards)
		return -EINVAL;
	if (set->shards[self].owner.efd < 0)
		return -ENOTSUP;
	if (timeout_ns < 0)
		return tsq__defer_wait(set, self, NULL);
	ts.tv_sec = (time_t)(timeout_ns / 1000000000);
	ts.tv_nsec = (long)(timeout_ns % 1000000000);
	return tsq__defer_wait(set, self, &ts);
}

/*
 * tsq_defer_wait - tsq_defer_wait_ns() in milliseconds (-1, or any negative: no timeout).
 * Context: owner only. Blocks: may sleep. Ordering: as tsq_defer_idle_enter().
 * Return: as tsq_defer_wait_ns().
 */
static inline int tsq_defer_wait(struct tsq_defer_set *set, unsigned self, int timeout_ms)
{
	return tsq_defer_wait_ns(set, self, timeout_ms < 0 ? -1 : (int64_t)timeout_ms * 1000000);
}

/*
 * tsq_defer_pending - whether shard `shard` has queued items (a hint, stale at once).
 * Context: any thread. Blocks: never. Ordering: relaxed.
 * Return: true if its list or one of its rings is non-empty; false also for a bad set/shard.
 */
static inline bool tsq_defer_pending(const struct tsq_defer_set *set, unsigned shard)
{
	if (set == NULL || shard >= set->nr_shards)
		return false;
	return tsq__defer_has_work(set, shard, TSQ_RELAXED);
}

/*
 * tsq_defer_stats - read shard `shard`'s counters (its list and the rings that lead to it).
 * Context: any thread. Blocks: never. Ordering: relaxed loads, field by field.
 * Return: 0; -EINVAL for NULL arguments or a bad shard (out untouched).
 */
static inline int tsq_defer_stats(const struct tsq_defer_set *set, unsigned shard,
				  struct tsq_defer_stats *out)
{
	const struct tsq_defer_shard *s;

	if (set == NULL || out == NULL || shard >= set->nr_shards)
		return -EINVAL;
	s = &set->shards[shard];
	/* The list's pushes: what the owner took from it plus what it holds now. */
	out->pushed = tsq_load(&s->owner.list_drained, TSQ_RELAXED) +
		      tsq_load(&s->shared.count, TSQ_RELAXED);
	out->spilled = 0;
	tsq__defer_ring_stats(set, shard, out);
	out->inline_runs = tsq_load(&s->owner.inline_runs, TSQ_RELAXED);
	out->fallback = tsq_load(&s->shared.fallback, TSQ_RELAXED);
	out->kicks = tsq_load(&s->wake.kicks, TSQ_RELAXED);
	out->drained = tsq_load(&s->owner.drained, TSQ_RELAXED);
	out->drains = tsq_load(&s->owner.drains, TSQ_RELAXED);
	out->ring_nomem = tsq_load(&s->shared.ring_nomem, TSQ_RELAXED);
	out->fence_errors = tsq_load(&s->owner.fence_errors, TSQ_RELAXED);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Which shard am I?                                                                          */
/* ---------------------------------------------------------------------------------------- */

#if defined(TSQ__DEFER_HAVE_EVENTFD) && !defined(__USE_GNU)
/* glibc declares it only under _GNU_SOURCE; the symbol is always there. */
extern int sched_getcpu(void);
#endif

/*
 * tsq_defer_current_cpu - the CPU the caller runs on (glibc serves it from rseq or the vDSO,
 * a few ns), for callers whose shard is "my CPU".
 * Safe as a *shard id* only if each shard's owner is pinned to its CPU and the caller is
 * that owner, or if a wrong answer is merely slower: a thread may migrate right after the
 * call, so an unpinned thread must never pass the result as `self` (it would run items
 * "inline" on a foreign shard, or share a ring with another producer). Passing it as a
 * *target* is always safe.
 * Context: any thread. Blocks: never. Return: the CPU number (>= 0); -ENOTSUP where unavailable.
 */
static inline int tsq_defer_current_cpu(void)
{
#ifdef TSQ__DEFER_HAVE_EVENTFD
	int cpu = sched_getcpu();

	return cpu >= 0 ? cpu : -ENOTSUP;
#else
	return -ENOTSUP;
#endif
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_DEFER_H */
