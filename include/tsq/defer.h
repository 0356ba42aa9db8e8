/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/defer.h - per-shard deferred-work lists: hand work to the thread that owns it.
 *
 * Overview
 *   A *set* has one *shard* per worker thread (a "CPU" in kernel terms). Work that belongs to
 *   a shard - a buffer to return to the pool that allocated it, a flow to resume on its home
 *   worker - is pushed to that shard from any thread and run by the owner, in batches, in its
 *   poll loop. This is the userspace form of the kernel's per-CPU skb free deferral and TSQ
 *   work lists.
 *
 *   Two paths lead to a shard, both bounded, both with the same decisions:
 *     - per-pair rings (the default): one single-producer ring of item pointers per
 *       (producer, target), allocated the first time that pair pushes - memory follows the
 *       pairs that talk. A producer is a shard, or an application thread that registered
 *       (tsq_defer_producer_register()). A push writes a slot and publishes the tail: no
 *       read-modify-write at all, and the owner loads many pointers at once instead of
 *       following one dependent ->next per item (the cache miss a list cannot overlap;
 *       Seastar's cross-core queues do the same). The kernel keeps one list per (target
 *       CPU, producer NUMA node) for the same reason.
 *     - the shared list: a lock-less list (llist.h) any thread may push to, with an exact
 *       count of what it holds (`bound`). Producers without a ring use it (TSQ_DEFER_NO_SHARD,
 *       a pair whose ring could not be allocated, opts.ring_size = TSQ_DEFER_RINGS_OFF), so
 *       does tsq_defer_queue(), and so does a ring that is full: it spills to the list.
 *
 *   tsq_defer_push(set, target, self, item) decides in this order:
 *     1. self == target: the caller is the owner, the item runs at once    (TSQ_DEFER_RAN_INLINE)
 *     2. the pair's ring has a free slot: the item is queued there        (TSQ_DEFER_QUEUED)
 *     3. the list holds fewer than `bound` items: it is queued there      (TSQ_DEFER_QUEUED)
 *     4. otherwise the caller runs the item itself, with how ==            (TSQ_DEFER_RAN_FALLBACK)
 *        TSQ_DEFER_FALLBACK, and a counter says so (the kernel frees locally)
 *   A queued item kicks the owner once when its path crosses half its capacity, or when it
 *   arrives while the owner has said it is about to sleep.
 *   The item's function learns how it runs: a per-worker pool must not be touched by a
 *   foreign thread, so a fallback run has to take another route (free(), a shared pool).
 *
 *   The owner calls tsq_defer_drain() from its loop (items run oldest first per producer
 *   path), or tsq_defer_drain_burst() to receive arrays of items (a pool refills its free
 *   list without a call per item), and may sleep with tsq_defer_wait() (default eventfd
 *   kick) or with its own primitive between tsq_defer_idle_enter() and tsq_defer_idle_exit().
 *
 * Usage
 *     struct buf { struct tsq_defer_item d; unsigned home; char data[2048]; };
 *     static void recycle(struct tsq_defer_item *it, enum tsq_defer_how how) {
 *         struct buf *b = tsq_container_of(it, struct buf, d);
 *         if (how == TSQ_DEFER_FALLBACK) free(b); else pool_put(b->home, b);
 *     }
 *     struct tsq_defer_shard *shards = tsq_defer_shards_alloc(nthreads);
 *     struct tsq_defer_set set = {0};
 *     tsq_defer_set_init(&set, shards, nthreads, NULL);  // rings of 256, bound 128, eventfd
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
 *                         push/queue/  batch_*   drain(_burst)  idle_enter/  fd, pending, stats,  set_init/
 *                         push_bulk    (one b)                  exit, wait   nr_shards            destroy
 *     push/queue/push_bulk    -          -           -            -            -                  X
 *     batch_* (one b)         -          X           -            -            -                  X
 *     drain(_burst)           -          -           X            X            -                  X
 *     idle_enter/exit, wait   -          -           X            X            -                  X
 *     fd, pending, stats,     -          -           -            -            -                  X
 *       nr_shards
 *     set_init/destroy        X          X           X            X            X                  X
 *   Not in the table (they touch no set): item_init and item_set_fn (the item's owner, before
 *   it is queued), shards_alloc (setup), current_cpu (any thread). producer_register: any
 *   thread, concurrently with everything but set_init/destroy.
 *   drain, drain_burst, idle_enter, idle_exit and wait on shard S are "owner only": one
 *   thread (S's worker) calls them. push may come from any thread; `self` must be the
 *   caller's own shard or TSQ_DEFER_NO_SHARD: two threads must never push with the same
 *   `self` at once (each (self, target) ring has one producer), and a non-shard thread never
 *   runs an item inline. A struct tsq_defer_batch belongs to one producer.
 *
 * Memory ordering (labels: R release, A acquire, S seq_cst or full fence, X acq_rel RMW)
 *   The owner's sleep is a Dekker pair: the producer publishes work then looks at `idle`, the
 *   owner sets `idle` then looks for work; one of them must see the other. Two modes, chosen
 *   once at set_init (opts.fence; tsq_defer_stats() tells nothing, set->asym does):
 *     asymmetric (default where membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) registers):
 *       producers publish with release stores/CAS and read idle with a plain load; the
 *       owner, before it sleeps, runs DEFER_S6 - a full barrier on every thread of the
 *       process (liburcu's urcu-memb). Its cost, a syscall with IPIs, is paid only on the
 *       way to sleep.
 *     symmetric (TSQ_DEFER_FENCE_SYMMETRIC, or no membarrier: old kernel, seccomp, not
 *       Linux): SEQ_CST on all four accesses, as before.
 *   tests/check/defer_model.c proves both on x86-TSO, each with a twin that must fail.
 *   DEFER_S1 list push: CAS of the head (SEQ_CST, or release when asymmetric); publishes the
 *      items to DEFER_A1, then the producer's DEFER_S3 load.
 *   DEFER_S2 ring publish: store of the tail (release when asymmetric; SEQ_CST exchange
 *      otherwise); publishes the slots to DEFER_A2, then the producer's DEFER_S3 load.
 *   DEFER_S3 `idle`: the owner's store in idle_enter (SEQ_CST; relaxed before DEFER_S6),
 *      then its look at the list head and ring tails; the producer's load after
 *      DEFER_S1/S2 (SEQ_CST; plain after a compiler barrier when asymmetric).
 *   DEFER_S6 the owner's membarrier between its DEFER_S3 store and its look (asymmetric).
 *   DEFER_A1 drain's take of the list (acquire exchange): sees what came before DEFER_S1.
 *   DEFER_A2 drain's load of a ring tail (acquire): sees the slots written before DEFER_S2.
 *   DEFER_R3 drain's store of a ring head (release) after delivering the slots; pairs with
 *      DEFER_A3, the producer's load of the head when its cached copy says "full".
 *   DEFER_X4 the single-flight kick: the producer's 0 -> 1 CAS of kick_pending (acquire)
 *      pairs with DEFER_R4, the owner's re-arm (release store of 0) at the start of a
 *      non-empty drain and in idle_enter before DEFER_S3.
 *   DEFER_R5 a pair's ring pointer, stored (SEQ_CST, once) after the ring is zeroed; pairs
 *      with DEFER_A5, the owner's load before it reads the ring.
 *
 * Sleeping: which primitives are allowed
 *   After idle_enter returns true, every push that queues work kicks (through the single
 *   flight: idle_enter re-arms it first, so a kick left "pending" by a push that was
 *   preempted before it kicked cannot silence the next one). The primitive must therefore
 *   not lose a kick sent between idle_enter and the sleep itself:
 *     - counting primitives (eventfd - tsq_defer_wait() -, a semaphore, a pipe, epoll on the
 *       eventfd read after idle_exit or before it): nothing else to do;
 *     - a futex on a counter that the kick increments: read the counter BEFORE calling
 *       idle_enter and pass that value to FUTEX_WAIT (the usual futex rule: the value is
 *       read before the condition is checked);
 *     - a bare condition-variable signal (no state) is NOT allowed: it loses a kick sent
 *       before the wait starts.
 *   tests/check/defer_model.c checks this protocol exhaustively (with the negative twin of
 *   the old re-arm order), tests/stress/defer.c runs it with a futex-on-counter owner.
 *
 * Bounds (what "bound" means, exactly)
 *   - The shared list never holds more than `bound` items pushed with push or batch_*:
 *     a producer reserves room in an exact count before it links (one atomic add), gives it
 *     back if it lands over the bound, and the owner returns the room of what it took only
 *     after the take. So one drain takes at most `bound` such items, whatever the
 *     preemption. tsq_defer_queue() items are counted too (a push sees them) but are never
 *     refused: the list may hold `bound` + the queued ones.
 *   - A ring never holds more than ring_size items (rounded up to a power of two): per
 *     (producer, target) pair, as the kernel bounds each (CPU, node) list. A full ring
 *     spills to the list, so a producer with a ring falls back only when its ring is full
 *     AND the list holds `bound`: never where the list alone would have fallen back.
 *   - A batch that does not fit links what fits and runs the rest as fallbacks.
 *   The kick at half: once per crossing of bound / 2 (list) or ring_size / 2 (ring) since
 *   the owner last emptied that path.
 *
 * Memory
 *   Idle set: struct tsq_defer_shard, 192 bytes (three cache lines) per shard, plus a table
 *   of 8-byte ring pointers, nr_shards * (nr_shards + opts.producers) of them (2 KiB for 16
 *   shards, 32 KiB for 64). Active pair: one ring of 128 + 8 * ring_size bytes, allocated
 *   by the pair's first push (2176 B at the default 256 slots); all freed by
 *   tsq_defer_set_destroy(). A drain reads its row of the table (8 pointers a cache line)
 *   and the tail of each ring that exists.
 *
 * Counters (per shard, tsq_defer_stats()): pushed (queued for the owner), inline (ran at
 * once, caller was the owner), fallback (ran by the caller, path full), kicks (wake-ups
 * sent), drained (items the owner ran or was handed), drains (non-empty drains), spilled
 * (items a full ring sent on to the list), ring_nomem (pairs whose ring could not be
 * allocated: they use the list), fence_errors (idle_enter could not issue its membarrier:
 * it returned false instead of letting the owner sleep).
 * pushed == drained once the producers have stopped and the owner has drained.
 *
 * Limitations
 *   The list push is lock-free, not wait-free; the ring push is wait-free (its first push to a
 *   target calls the allocator once). A preempted producer never stalls another producer
 *   (unlike a multi-producer ring's tail update).
 *   FIFO: per producer on its ring; the shared list in link order; a drain takes the rings,
 *   then the list, so within one push, batch or drain window a ring producer's spilled
 *   items run after its ring items, in order. Where FIFO does not hold: items a producer
 *   spilled to the list (its ring was full) run after items it queued on its ring LATER,
 *   once the ring had room again, if both are still queued at the next drain. The kick hook may be called from two producers at once (a stale kick and
 *   a new one): make it thread-safe (eventfd write, futex wake and sem_post are).
 *   TSQ_DEBUG marks items that are not queued, and aborts on a push of a queued item.
 */
#ifndef TSQ_DEFER_H
#define TSQ_DEFER_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "llist.h"

#if defined(__linux__) && !defined(TSQ_CFG_NO_EVENTFD)
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>
#define TSQ__DEFER_HAVE_EVENTFD 1
#endif

/*
 * Test hook: tests define it before including this header to run code at a named point of
 * a push or drain (tests/unit/test_defer.c replays the lost wake-up of issue #10 with it).
 * Points: "linked" (a list push after S1, before its kick decisions), "published" (a ring
 * push after S2, before its kick decisions), "kick" (a producer decided to kick, before the
 * single-flight CAS), "taken" (a drain after A1, before it gives the room back).
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
#define TSQ_DEFER_RING_DEFAULT 256u
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
		uint64_t ring_nomem; /* pairs whose ring could not be allocated (they use the list) */
	} shared TSQ_CACHELINE_ALIGNED;
	/* Line 2: waking the owner. idle is written by the owner, read by every producer. */
	struct {
		uint32_t idle;         /* owner is about to sleep (S3, the Dekker pair's flag) */
		uint32_t kick_pending; /* single flight: 1 from a kick until the owner re-arms */
		uint64_t kicks;        /* wake-ups sent */
	} wake TSQ_CACHELINE_ALIGNED;
	/* Line 3, written by the owner only. */
	struct {
		uint64_t inline_runs;
		uint64_t drained;
		uint64_t drains;
		uint64_t list_drained; /* of `drained`, from the shared list */
		uint64_t fence_errors; /* membarrier failed in idle_enter: the owner did not sleep */
		int efd; /* default kick: an eventfd, -1 when a custom kick is used */
		uint32_t in_rings; /* a drain is delivering ring slots in place (re-entry guard) */
	} owner TSQ_CACHELINE_ALIGNED;
};

struct tsq_defer_opts {
	size_t size;              /* sizeof(struct tsq_defer_opts): forward compatibility */
	uint32_t bound;           /* items on a shard's shared list before fallback; 0: 128 */
	tsq_defer_kick_fn *kick;  /* NULL: an eventfd per shard (tsq_defer_fd(), tsq_defer_wait()) */
	void *kick_ctx;
	/* Since the second version of the struct: slots per (producer, target) ring, rounded
	 * up to a power of two (8..TSQ_DEFER_RING_MAX); 0: TSQ_DEFER_RING_DEFAULT;
	 * TSQ_DEFER_RINGS_OFF: none. */
	uint32_t ring_size;
	/* Since the third version: producer ids beyond the shards, for application threads
	 * (tsq_defer_producer_register()); and the fence (TSQ_DEFER_FENCE_AUTO or _SYMMETRIC). */
	uint32_t producers;
	uint32_t fence;
};

/* One (producer shard -> target) ring; private. Slots follow the two lines. */
struct tsq__defer_ring {
	struct {
		uint32_t tail;       /* next slot to fill; DEFER_S2 publishes it */
		uint32_t head_cache; /* the producer's last view of cons.head */
		uint64_t pushed;     /* items queued here (producer-only counter) */
		uint64_t spilled;    /* items sent to the shared list instead, ring full */
	} prod TSQ_CACHELINE_ALIGNED;
	struct {
		uint32_t head; /* next slot to read; DEFER_R3 frees the slots before it */
	} cons TSQ_CACHELINE_ALIGNED;
};

/* Keeps a rare path out of the inlined fast path. */
#if defined(__GNUC__) || defined(__clang__)
#define TSQ__DEFER_COLD static __attribute__((noinline, cold, unused))
/* The list path out of line: its two RMWs dwarf a call; the ring path keeps its registers. */
#define TSQ__DEFER_NOINLINE static __attribute__((noinline, unused))
#else
#define TSQ__DEFER_COLD static inline
#define TSQ__DEFER_NOINLINE static inline
#endif

/* A pair whose ring could not be allocated: it uses the shared list from then on. */
#define TSQ__DEFER_RING_NOMEM ((struct tsq__defer_ring *)(uintptr_t)1)

/* The set: read-mostly after init; its fields are private. */
struct tsq_defer_set {
	struct tsq_defer_shard *shards;
	unsigned nr_shards;
	uint32_t bound;
	uint32_t kick_at; /* bound / 2: the list's count crossing it kicks */
	uint32_t ring_size, ring_mask;
	unsigned nr_producers; /* nr_shards + opts.producers: the valid `self` values */
	uint32_t registered;   /* producer ids handed out by tsq_defer_producer_register() */
	uint32_t asym;         /* 1: membarrier fence (see "Memory ordering"); 0: SEQ_CST pair */
	/* [target * nr_producers + producer]: NULL until that pair first pushes; NULL table
	 * without rings. Written by the pair's producer (DEFER_R5), read by the target's owner. */
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

/* ---------------------------------------------------------------------------------------- */
/* Setup                                                                                      */
/* ---------------------------------------------------------------------------------------- */

/* Under TSQ_DEBUG, ->next of an item that is not queued (ready to be pushed). */
#define TSQ__DEFER_NOT_QUEUED ((struct tsq_llist_node *)(uintptr_t)0x7e57d0e5u)

#ifdef TSQ_DEBUG
static inline void tsq__defer_mark_ready(struct tsq_defer_item *item)
{
	item->node.next = TSQ__DEFER_NOT_QUEUED;
}
/* Check an item about to be queued, and mark it queued (the list's link overwrites it too). */
#define tsq__defer_check_ready(item, call)                                                   \
	do {                                                                                 \
		TSQ__MISUSE_IF((item)->node.next != TSQ__DEFER_NOT_QUEUED, (call),          \
			       "item is already queued (pushed twice before the drain), or " \
			       "was not set up with tsq_defer_item_init()");                \
		(item)->node.next = NULL;                                                    \
	} while (0)
#else
static inline void tsq__defer_mark_ready(struct tsq_defer_item *item)
{
	(void)item;
}
#define tsq__defer_check_ready(item, call) ((void)0)
#endif

/*
 * tsq_defer_item_init - set the function an item runs.
 * Context: the thread that owns the item (before it is pushed). Blocks: never.
 * Ordering: none; the push publishes it. Pairs with: nothing. Return: nothing.
 */
static inline void tsq_defer_item_init(struct tsq_defer_item *item, tsq_defer_fn *fn)
{
	item->node.next = TSQ__DEFER_NOT_QUEUED;
	item->fn = fn;
}

/*
 * tsq_defer_item_set_fn - change the function of an item that is not queued (e.g. a frame
 * that goes home by one route, then out by another).
 * Context: the thread that owns the item. Blocks: never. Ordering: none; the push publishes
 * it. Pairs with: nothing. Return: nothing.
 */
static inline void tsq_defer_item_set_fn(struct tsq_defer_item *item, tsq_defer_fn *fn)
{
	item->fn = fn;
}

/*
 * tsq_defer_shards_alloc - allocate `n` cache-line-aligned shards (uninitialised; init does it).
 * Context: setup, any thread. Blocks: may (malloc). Ordering: none. Pairs with: nothing.
 * Return: the array (free with free() after tsq_defer_set_destroy()), NULL if n == 0 or no memory.
 */
static inline struct tsq_defer_shard *tsq_defer_shards_alloc(unsigned n)
{
	size_t size = (size_t)n * sizeof(struct tsq_defer_shard);

	if (n == 0 || size / n != sizeof(struct tsq_defer_shard))
		return NULL;
	return (struct tsq_defer_shard *)aligned_alloc(TSQ_CACHELINE_SIZE, size);
}

#ifdef TSQ__DEFER_HAVE_EVENTFD
static inline void tsq__defer_eventfd_kick(void *kick_ctx, unsigned shard)
{
	struct tsq_defer_set *set = (struct tsq_defer_set *)kick_ctx;
	uint64_t one = 1;

	/* Only EAGAIN (counter at its maximum, i.e. already signalled) can fail here: fine. */
	if (write(set->shards[shard].owner.efd, &one, sizeof(one)) < 0)
		return;
}
#endif

static inline void tsq__defer_close_eventfds(struct tsq_defer_set *set, unsigned n)
{
#ifdef TSQ__DEFER_HAVE_EVENTFD
	for (unsigned i = 0; i < n; i++) {
		if (set->shards[i].owner.efd >= 0)
			close(set->shards[i].owner.efd);
		set->shards[i].owner.efd = -1;
	}
#else
	(void)set;
	(void)n;
#endif
}

static inline struct tsq_defer_item **tsq__defer_slots(struct tsq__defer_ring *r)
{
	return (struct tsq_defer_item **)(void *)(r + 1);
}

/* Test hook: tests define it to make a ring allocation fail. */
#ifndef TSQ__DEFER_RING_ALLOC
#define TSQ__DEFER_RING_ALLOC(bytes) aligned_alloc(TSQ_CACHELINE_SIZE, (bytes))
#endif

/* The ring table: one pointer per (target, producer); the rings come when a pair pushes. */
static inline int tsq__defer_alloc_rings(struct tsq_defer_set *set, uint32_t ring_size)
{
	uint32_t slots = 8;
	size_t n = (size_t)set->nr_shards * set->nr_producers;

	set->rings = NULL;
	set->ring_size = set->ring_mask = 0;
	if (ring_size == TSQ_DEFER_RINGS_OFF || set->nr_producers < 2)
		return 0;
	if (ring_size == 0)
		ring_size = TSQ_DEFER_RING_DEFAULT;
	if (ring_size > TSQ_DEFER_RING_MAX)
		return -EINVAL;
	while (slots < ring_size)
		slots <<= 1;
	set->rings = (struct tsq__defer_ring **)calloc(n, sizeof(*set->rings));
	if (set->rings == NULL)
		return -ENOMEM;
	set->ring_size = slots;
	set->ring_mask = slots - 1;
	return 0;
}

static inline void tsq__defer_free_rings(struct tsq_defer_set *set)
{
	size_t n = (size_t)set->nr_shards * set->nr_producers;

	for (size_t i = 0; set->rings != NULL && i < n; i++)
		if (set->rings[i] != TSQ__DEFER_RING_NOMEM)
			free(set->rings[i]);
	free(set->rings);
	set->rings = NULL;
}

/*
 * The asymmetric fence (liburcu's urcu-memb): membarrier(PRIVATE_EXPEDITED) makes every
 * running thread of the process execute a full barrier before it returns, so producers
 * publish with plain release stores and only the owner, about to sleep, pays. Registered
 * at set_init (once per process is enough; registering again is harmless).
 */
#if defined(__linux__) && !defined(TSQ_CFG_NO_MEMBARRIER)
#include <sys/syscall.h>
#ifdef SYS_membarrier
#define TSQ__DEFER_HAVE_MEMBARRIER 1
#if !defined(__USE_MISC) && !defined(__cplusplus)
/* glibc declares it only with _DEFAULT_SOURCE; the symbol is always there. */
extern long syscall(long number, ...);
#endif
#endif
#endif
#define TSQ__MEMBARRIER_QUERY 0
#define TSQ__MEMBARRIER_PRIVATE_EXPEDITED (1 << 3)
#define TSQ__MEMBARRIER_REGISTER_PRIVATE_EXPEDITED (1 << 4)

/* Whether the asymmetric fence is usable here: the kernel has it and lets us register. */
static inline bool tsq__defer_membarrier_register(void)
{
#ifdef TSQ__DEFER_HAVE_MEMBARRIER
	long mask = syscall(SYS_membarrier, TSQ__MEMBARRIER_QUERY, 0, 0);

	if (mask < 0 || !(mask & TSQ__MEMBARRIER_PRIVATE_EXPEDITED))
		return false;
	return syscall(SYS_membarrier, TSQ__MEMBARRIER_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
	return false;
#endif
}

/* DEFER_S6: a full barrier on every thread of the process; 0, or -1 if it failed. */
static inline int tsq__defer_membarrier(void)
{
#ifdef TSQ__DEFER_HAVE_MEMBARRIER
	return syscall(SYS_membarrier, TSQ__MEMBARRIER_PRIVATE_EXPEDITED, 0, 0) == 0 ? 0 : -1;
#else
	return -1;
#endif
}

/*
 * tsq_defer_set_init - initialise a set over `nr_shards` caller-allocated shards.
 * opts may be NULL (bound 128, eventfd kicks, rings of 256, membarrier fence where
 * available). With opts->kick NULL, one eventfd per shard is created (tsq_defer_fd() gives
 * it for epoll; tsq_defer_wait() sleeps on it). The ring table is allocated here, each ring
 * at its pair's first push (see "Memory"). The fence is chosen here, once: membarrier is
 * registered for the process, or the symmetric SEQ_CST pair is used (see "Memory ordering").
 * Context: setup, before any other call on the set. Blocks: no (malloc, eventfd: syscalls).
 * Ordering: none; publish the set to other threads the usual way (thread creation, a release).
 * Pairs with: nothing.
 * Return: 0; -EINVAL if set or shards is NULL, nr_shards is 0, opts->size is smaller than
 * the first version of the struct or larger with non-zero unknown bytes, the bound is above
 * 2^31 (0 means the default, 128), ring_size above TSQ_DEFER_RING_MAX (and not
 * TSQ_DEFER_RINGS_OFF), producers above TSQ_DEFER_PRODUCERS_MAX or fence unknown; -ENOMEM
 * if the ring table cannot be allocated; -ENOTSUP if no kick is given and eventfd is unavailable; -errno of
 * eventfd() (e.g. -EMFILE). Nothing is left allocated or open on error. Under TSQ_DEBUG, an
 * init of a set that is live (initialised, not destroyed) aborts: it would leak; the check
 * reads the set, so start from a zeroed one (`= {0}`, memset, calloc) where a memory checker
 * runs.
 */
static inline int tsq_defer_set_init(struct tsq_defer_set *set, struct tsq_defer_shard *shards,
				     unsigned nr_shards, const struct tsq_defer_opts *opts)
{
	struct tsq_defer_opts o;
	int err;

	if (set == NULL || shards == NULL || nr_shards == 0 || nr_shards == TSQ_DEFER_NO_SHARD)
		return -EINVAL;
	/* libbpf's rule (atomic.h): an older, smaller struct reads as zeroes past its end. */
	if (!tsq__opts_read(opts, offsetof(struct tsq_defer_opts, kick_ctx) + sizeof(void *), &o, sizeof(o)))
		return -EINVAL;
	TSQ__MISUSE_IF(set->live == TSQ__DEFER_LIVE && set->shards != NULL, "tsq_defer_set_init",
		       "set initialised twice without tsq_defer_set_destroy() (its eventfds and rings "
		       "would leak); zero a fresh set before the first init");
	if (o.bound == 0)
		o.bound = TSQ_DEFER_DEFAULT_BOUND;
	/* An explicit huge bound would overflow the count arithmetic. */
	if (o.bound > (1u << 31) || (o.ring_size > TSQ_DEFER_RING_MAX && o.ring_size != TSQ_DEFER_RINGS_OFF) ||
	    o.producers > TSQ_DEFER_PRODUCERS_MAX || o.producers > TSQ_DEFER_NO_SHARD - 1 - nr_shards ||
	    o.fence > TSQ_DEFER_FENCE_SYMMETRIC)
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
#ifdef TSQ__DEFER_HAVE_EVENTFD
	for (unsigned i = 0; i < nr_shards; i++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0) {
			err = errno;
			tsq__defer_close_eventfds(set, i);
			tsq__defer_free_rings(set);
			set->live = 0;
			return -err;
		}
		shards[i].owner.efd = fd;
	}
	set->kick = tsq__defer_eventfd_kick;
	set->kick_ctx = set;
	return 0;
#else
	tsq__defer_free_rings(set);
	set->live = 0;
	return -ENOTSUP;
#endif
}

/*
 * tsq_defer_set_destroy - close the default eventfds and free the rings. Items still queued
 * are NOT run: drain every shard first if they matter (tsq_defer_pending() tells). The set
 * is left with no shards: every later call on it returns -EINVAL (false for the booleans)
 * until the next tsq_defer_set_init(); a second destroy does nothing.
 * Context: teardown, when no other call on the set can happen. Blocks: never.
 * Ordering: none. Pairs with: nothing. Return: nothing. The shards' memory stays the caller's.
 */
static inline void tsq_defer_set_destroy(struct tsq_defer_set *set)
{
	if (set == NULL || set->shards == NULL)
		return;
	tsq__defer_close_eventfds(set, set->nr_shards);
	tsq__defer_free_rings(set);
	set->shards = NULL;
	set->nr_shards = 0;
	set->live = 0;
}

/*
 * tsq_defer_fd - the eventfd the owner of `shard` can add to its epoll/poll set (readable
 * when kicked). Context: any thread. Blocks: never. Ordering: none. Pairs with: nothing.
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
 * Context: any thread. Blocks: never. Ordering: none (read-mostly after init).
 * Pairs with: nothing. Return: the number of shards; 0 for NULL.
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

static inline void tsq__defer_kick(struct tsq_defer_set *set, struct tsq_defer_shard *s, unsigned target)
{
	uint32_t armed = 0;

	TSQ__DEFER_HOOK("kick", set, target);
	/* Skip the CAS (a contended RMW) while a kick is already in flight. */
	if (tsq_load(&s->wake.kick_pending, TSQ_RELAXED))
		return;
	/* X4: single flight; pairs with R4 (re-arm in drain and idle_enter). */
	if (!tsq_cmpxchg(&s->wake.kick_pending, &armed, 1u, TSQ_ACQUIRE, TSQ_RELAXED))
		return;
	tsq_counter_add_shared(&s->wake.kicks, 1);
	set->kick(set->kick_ctx, target);
}

/* The arguments every push-like call checks: -EINVAL cases shared by push and batch_add. */
static inline bool tsq__defer_bad_push(const struct tsq_defer_set *set, unsigned target, unsigned self,
				       const struct tsq_defer_item *item)
{
	return set == NULL || item == NULL || item->fn == NULL || target >= set->nr_shards ||
	       (self >= set->nr_producers && self != TSQ_DEFER_NO_SHARD);
}

/* Run items here, oldest first: the target's path was full. */
static inline void tsq__defer_run_fallback(struct tsq_defer_item *const *items, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		tsq__defer_mark_ready(items[i]);
		items[i]->fn(items[i], TSQ_DEFER_FALLBACK);
	}
}

/*
 * The list's count says items[0..n) do not all fit (old = the count before the reservation):
 * give back the room of those that run here, run them, count them. Returns how many fit.
 */
static inline unsigned tsq__defer_list_over(struct tsq_defer_set *set, struct tsq_defer_shard *s, uint64_t old,
					    struct tsq_defer_item *const *items, unsigned n)
{
	unsigned fit = old >= set->bound ? 0 : (unsigned)(set->bound - old);

	/* fit < n here; written as a min so the compiler sees that too (-Warray-bounds). */
	fit = fit < n ? fit : n;
	tsq_fetch_sub(&s->shared.count, (uint64_t)(n - fit), TSQ_RELAXED);
	tsq_counter_add_shared(&s->shared.fallback, n - fit);
	tsq__defer_run_fallback(items + fit, n - fit);
	return fit;
}

/*
 * DEFER_S3, the producer's side: after publishing (DEFER_S1/S2), is the owner about to
 * sleep? Symmetric mode: a SEQ_CST load (pairs with idle_enter's SEQ_CST store). Asymmetric
 * mode: a plain load in program order after the publication (compiler barrier only); the
 * owner's membarrier (DEFER_S6) stands for the full fence between them.
 */
static inline bool tsq__defer_idle(const struct tsq_defer_set *set, const struct tsq_defer_shard *s)
{
	if (set->asym) {
		tsq_compiler_barrier();
		return tsq_load(&s->wake.idle, TSQ_RELAXED) != 0;
	}
	return tsq_load(&s->wake.idle, TSQ_SEQ_CST) != 0;
}

/*
 * The shared list: link items[0..n) (oldest first) to `target`, or as many as the bound
 * lets in; the rest run here. Returns how many were linked.
 */
TSQ__DEFER_NOINLINE unsigned tsq__defer_list_link(struct tsq_defer_set *set, unsigned target,
					    struct tsq_defer_item *const *items, unsigned n, bool bounded)
{
	struct tsq_defer_shard *s = &set->shards[target];
	/*
	 * Reserve room first (relaxed: the count is the bound, not a publication; S1 below
	 * carries the ordering). count >= what the list holds at every moment, because the
	 * owner gives room back only after its take (see tsq_defer_drain): the bound is exact.
	 */
	uint64_t old = tsq_fetch_add(&s->shared.count, (uint64_t)n, TSQ_RELAXED);
	unsigned fit = n;
	bool was_empty;

	if (bounded && tsq_unlikely(old + n > set->bound)) {
		fit = tsq__defer_list_over(set, s, old, items, n);
		if (fit == 0)
			return 0;
	}
	/* Newest first on the list: items[fit-1] -> ... -> items[0]. */
	for (unsigned i = 1; i < fit; i++)
		items[i]->node.next = &items[i - 1]->node;
	/* DEFER_S1: publishes the items (DEFER_A1) before the look at idle (DEFER_S3). */
	if (set->asym)
		was_empty = tsq_llist_push_batch(&s->shared.list, &items[fit - 1]->node, &items[0]->node);
	else
		was_empty = tsq_llist_push_batch_seqcst(&s->shared.list, &items[fit - 1]->node,
							&items[0]->node);
	TSQ__DEFER_HOOK("linked", set, target);
	/* Exactly one reservation per upward pass contains kick_at: it crossed half the bound. */
	if (tsq_unlikely(old <= set->kick_at && set->kick_at < old + fit))
		tsq__defer_kick(set, s, target);
	else if (was_empty && tsq__defer_idle(set, s))
		tsq__defer_kick(set, s, target);
	return fit;
}

/*
 * Cold: the first push of pair (self -> target) allocates its ring. Only `self` writes this
 * entry, so no race; a failed allocation marks the pair for good (it uses the list).
 */
TSQ__DEFER_COLD struct tsq__defer_ring *tsq__defer_ring_create(struct tsq_defer_set *set, unsigned target,
							     struct tsq__defer_ring **entry)
{
	size_t bytes = sizeof(struct tsq__defer_ring) + (size_t)set->ring_size * sizeof(void *);
	struct tsq__defer_ring *r = (struct tsq__defer_ring *)TSQ__DEFER_RING_ALLOC(bytes);

	if (r == NULL) {
		tsq_counter_add_shared(&set->shards[target].shared.ring_nomem, 1);
		tsq_store(entry, TSQ__DEFER_RING_NOMEM, TSQ_RELAXED);
		return NULL;
	}
	memset(r, 0, bytes);
	/*
	 * DEFER_R5: publish the zeroed ring to the owner's DEFER_A5. SEQ_CST (once per pair):
	 * idle_enter's SEQ_CST look must not miss a ring whose tail is already published.
	 */
	tsq_store(entry, r, TSQ_SEQ_CST);
	return r;
}

/* The ring of pair (self -> target), NULL if the pair has none (then: the list). */
static inline struct tsq__defer_ring *tsq__defer_ring_of(struct tsq_defer_set *set, unsigned target,
							 unsigned self)
{
	struct tsq__defer_ring **entry = &set->rings[(size_t)target * set->nr_producers + self];
	struct tsq__defer_ring *r = tsq_load(entry, TSQ_RELAXED); /* only this producer writes it */

	if (tsq_likely((uintptr_t)r > (uintptr_t)TSQ__DEFER_RING_NOMEM))
		return r;
	if (r == TSQ__DEFER_RING_NOMEM)
		return NULL;
	return tsq__defer_ring_create(set, target, entry);
}

/* The ring looked full to the producer's cached head: how many of n fit really (DEFER_A3). */
static inline uint32_t tsq__defer_ring_room(const struct tsq_defer_set *set, struct tsq__defer_ring *r,
					    uint32_t tail, uint32_t n)
{
	/* DEFER_A3: pairs with DEFER_R3: the owner is done with the slots before `head`. */
	uint32_t head = r->prod.head_cache = tsq_load(&r->cons.head, TSQ_ACQUIRE);
	uint32_t room = set->ring_size - (tail - head);

	return n < room ? n : room;
}

/*
 * After a publish that crossed half the ring (by the producer's cached head) or found the
 * owner idle: kick if the ring is really over half, or if the owner is idle.
 */
TSQ__DEFER_COLD void tsq__defer_ring_wake(struct tsq_defer_set *set, struct tsq__defer_ring *r, unsigned target,
					uint32_t tail, bool crossed, bool idle)
{
	struct tsq_defer_shard *s = &set->shards[target];

	if (crossed && !idle) {
		/* Crossing half with a stale view of the head says little: look again (DEFER_A3). */
		uint32_t head = r->prod.head_cache = tsq_load(&r->cons.head, TSQ_ACQUIRE);

		if (tail - head <= set->ring_size / 2)
			return;
	}
	tsq__defer_kick(set, s, target);
}

/* DEFER_S2: publish the slots (DEFER_A2) before the look at idle (DEFER_S3). */
static inline void tsq__defer_ring_publish(const struct tsq_defer_set *set, struct tsq__defer_ring *r, uint32_t tail)
{
	if (set->asym)
		tsq_store(&r->prod.tail, tail, TSQ_RELEASE);
	else
		tsq_xchg(&r->prod.tail, tail, TSQ_SEQ_CST);
}

/* Copy items[0..n) into the slots from `tail`: two contiguous copies around the wrap. */
static inline void tsq__defer_ring_copy(const struct tsq_defer_set *set, struct tsq__defer_ring *r, uint32_t tail,
					struct tsq_defer_item *const *items, uint32_t n)
{
	struct tsq_defer_item **slot = tsq__defer_slots(r);
	uint32_t at = tail & set->ring_mask, i = set->ring_size - at;

	if (n == 1) {
		slot[at] = items[0];
		return;
	}
	i = i < n ? i : n;
	memcpy(&slot[at], items, i * sizeof(*items));
	memcpy(&slot[0], items + i, (n - i) * sizeof(*items));
}

/*
 * Pair (self -> target)'s ring, every case: queue items[0..n) (oldest first), as many as
 * fit; the rest spill to the shared list (bounded there; what the bound refuses runs here).
 * Returns how many were queued. Out of line: the common case is tsq__defer_ring_put().
 */
TSQ__DEFER_COLD unsigned tsq__defer_ring_put_slow(struct tsq_defer_set *set, unsigned target,
							 struct tsq__defer_ring *r, struct tsq_defer_item *const *items,
							 unsigned n)
{
	/* Only this producer writes prod: relaxed loads of its own fields. */
	uint32_t tail = tsq_load(&r->prod.tail, TSQ_RELAXED);
	uint32_t used = tail - r->prod.head_cache; /* in use, as far as this producer knows */
	uint32_t fit = n, half = set->ring_size / 2;
	bool crossed, idle;

	if (used + n > set->ring_size) {
		fit = tsq__defer_ring_room(set, r, tail, n);
		used = tail - r->prod.head_cache;
		if (fit == 0)
			goto spill;
	}
	tsq__defer_ring_copy(set, r, tail, items, fit);
	tsq__defer_ring_publish(set, r, tail + fit);
	tsq_counter_add_owner(&r->prod.pushed, fit);
	TSQ__DEFER_HOOK("published", set, target);
	crossed = used <= half && half < used + fit;
	idle = tsq__defer_idle(set, &set->shards[target]);
	if (crossed || idle)
		tsq__defer_ring_wake(set, r, target, tail + fit, crossed, idle);
	if (fit == n)
		return n;
spill:
	/* Newer than the ring's items, so a drain (rings first) runs them after those. */
	tsq_counter_add_owner(&r->prod.spilled, n - fit);
	return fit + tsq__defer_list_link(set, target, items + fit, n - fit, true);
}

/*
 * The common case, inline: the n items fit by the producer's cached view of the head and do
 * not cross half the ring. A slot store (or two copies), the tail store (symmetric mode: an
 * exchange), the counter and one load of `idle`; anything else goes to the slow path.
 */
static inline unsigned tsq__defer_ring_put(struct tsq_defer_set *set, unsigned target, struct tsq__defer_ring *r,
					   struct tsq_defer_item *const *items, unsigned n)
{
	uint32_t tail = tsq_load(&r->prod.tail, TSQ_RELAXED);
	uint32_t used = tail - r->prod.head_cache, half = set->ring_size / 2;

	/* Slow: crossing half (used <= half < used + n), or not fitting past half. */
	if (tsq_unlikely(used + n > (used <= half ? half : set->ring_size))) {
		/* A stale cached head makes most of these: one load (DEFER_A3), as DPDK's enqueue. */
		r->prod.head_cache = tsq_load(&r->cons.head, TSQ_ACQUIRE);
		used = tail - r->prod.head_cache;
		if (used + n > (used <= half ? half : set->ring_size))
			return tsq__defer_ring_put_slow(set, target, r, items, n);
	}
	tsq__defer_ring_copy(set, r, tail, items, n);
	tsq__defer_ring_publish(set, r, tail + n);
	tsq_counter_add_owner(&r->prod.pushed, n);
	TSQ__DEFER_HOOK("published", set, target);
	if (tsq_unlikely(tsq__defer_idle(set, &set->shards[target])))
		tsq__defer_ring_wake(set, r, target, tail + n, false, true);
	return n;
}

/*
 * tsq_defer_push()'s common case, one item: a slot store, the tail store (symmetric mode: an
 * exchange), the counter and one load of `idle`. Crossing half the ring (used == half), a
 * full-looking ring and an idle owner go to the slow path or the wake. Returns 1 if queued.
 */
static inline unsigned tsq__defer_ring_put1(struct tsq_defer_set *set, unsigned target, struct tsq__defer_ring *r,
					    struct tsq_defer_item *item)
{
	uint32_t tail = tsq_load(&r->prod.tail, TSQ_RELAXED);
	uint32_t used = tail - r->prod.head_cache;
	bool idle;

	if (tsq_unlikely(used >= set->ring_size / 2) && (used == set->ring_size / 2 || used >= set->ring_size))
		return tsq__defer_ring_put_slow(set, target, r, &item, 1);
	tsq__defer_slots(r)[tail & set->ring_mask] = item;
	if (set->asym) {
		tsq_store(&r->prod.tail, tail + 1, TSQ_RELEASE); /* DEFER_S2 */
		tsq_compiler_barrier();
		idle = tsq_load(&set->shards[target].wake.idle, TSQ_RELAXED) != 0; /* DEFER_S3 */
	} else {
		tsq_xchg(&r->prod.tail, tail + 1, TSQ_SEQ_CST); /* DEFER_S2 */
		idle = tsq_load(&set->shards[target].wake.idle, TSQ_SEQ_CST) != 0; /* DEFER_S3 */
	}
	tsq_counter_add_owner(&r->prod.pushed, 1);
	TSQ__DEFER_HOOK("published", set, target);
	if (tsq_unlikely(idle))
		tsq__defer_ring_wake(set, r, target, tail + 1, false, true);
	return 1;
}

/* Queue items[0..n) from `self` to `target` by the path `self` has; returns how many queued. */
static inline unsigned tsq__defer_put(struct tsq_defer_set *set, unsigned target, unsigned self,
				      struct tsq_defer_item *const *items, unsigned n)
{
	struct tsq__defer_ring *r;

	if (self != TSQ_DEFER_NO_SHARD && set->rings != NULL && (r = tsq__defer_ring_of(set, target, self)) != NULL)
		return tsq__defer_ring_put(set, target, r, items, n);
	return tsq__defer_list_link(set, target, items, n, true);
}

/*
 * tsq_defer_push - hand `item` to shard `target`.
 * `self` is the caller's own shard or a registered producer id (then it takes its ring to
 * `target`, allocated at the pair's first push), or TSQ_DEFER_NO_SHARD (the shared list).
 * Context: any thread; one thread per `self` at a time. Blocks: never itself (ring:
 * wait-free; list: lock-free); runs item->fn inline when self == target or the path is full,
 * and may call the kick hook.
 * Ordering: the item's contents are released to the owner (DEFER_S1 or DEFER_S2).
 * Return: TSQ_DEFER_RAN_INLINE (ran here, self == target), TSQ_DEFER_QUEUED (queued),
 * TSQ_DEFER_RAN_FALLBACK (ran here: ring and list full; counted in `fallback`);
 * -EINVAL if set or item is NULL, item->fn is NULL, target >= nr_shards, or self is neither a
 * shard, a producer id nor TSQ_DEFER_NO_SHARD. Nothing is queued or run on error. Under TSQ_DEBUG an item
 * that is already queued aborts ("pushed twice").
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
			return tsq__defer_ring_put1(set, target, r, item) ? TSQ_DEFER_QUEUED : TSQ_DEFER_RAN_FALLBACK;
	}
	return tsq__defer_list_link(set, target, &item, 1, true) ? TSQ_DEFER_QUEUED : TSQ_DEFER_RAN_FALLBACK;
}

/*
 * tsq_defer_push_bulk - hand n items, items[0] oldest, to shard `target` with one
 * publication (a ring tail store or one list CAS), like rte_ring_enqueue_burst() takes the
 * caller's array; what does not fit runs here as fallbacks (counted). For producers that
 * already hold their work in an array; tsq_defer_batch_add() builds one for you.
 * Context: any thread; one thread per `self` at a time. Blocks: never itself (ring:
 * wait-free; list: lock-free); runs items inline when self == target or the path is full.
 * Ordering: as tsq_defer_push(). Pairs with: as tsq_defer_push().
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
			 target >= set->nr_shards || (self >= set->nr_producers && self != TSQ_DEFER_NO_SHARD)))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		if (tsq_unlikely(items[i] == NULL || items[i]->fn == NULL))
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
 * Context: any thread. Blocks: never (lock-free). Ordering: S1, as tsq_defer_push().
 * Pairs with: A1 in tsq_defer_drain(); S1 and S3 in tsq_defer_idle_enter().
 * Return: TSQ_DEFER_QUEUED; -EINVAL if set or item is NULL, item->fn is NULL or target is
 * out of range (nothing linked). Under TSQ_DEBUG an item already queued aborts.
 */
static inline int tsq_defer_queue(struct tsq_defer_set *set, unsigned target, struct tsq_defer_item *item)
{
	if (tsq_unlikely(tsq__defer_bad_push(set, target, TSQ_DEFER_NO_SHARD, item)))
		return -EINVAL;
	tsq__defer_check_ready(item, "tsq_defer_queue");
	tsq__defer_list_link(set, target, &item, 1, false);
	return TSQ_DEFER_QUEUED;
}

/*
 * tsq_defer_batch_init - start an empty batch towards `target`.
 * Context: the producer that owns `b`. Blocks: never. Ordering: none. Pairs with: nothing.
 * Return: nothing.
 */
static inline void tsq_defer_batch_init(struct tsq_defer_batch *b, unsigned target)
{
	b->n = 0;
	b->target = target;
	b->self = TSQ_DEFER_NO_SHARD;
}

/*
 * tsq_defer_batch_flush - hand the batch over with one publication (a ring tail store or
 * one list CAS); items that do not fit run here as fallbacks.
 * Context: the producer that owns `b`. Blocks: never (ring: wait-free; list: lock-free).
 * Ordering: as tsq_defer_push(). Pairs with: as tsq_defer_push().
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
 * Ordering: none until the hand-over (then as tsq_defer_push()). Pairs with: as push.
 * Return: TSQ_DEFER_RAN_INLINE; TSQ_DEFER_QUEUED (kept in the batch, or handed over in
 * full); TSQ_DEFER_RAN_FALLBACK when this add handed the batch over and some of it ran here
 * (the path was full); -EINVAL for NULL arguments, item->fn NULL, a bad target, a bad self,
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
	if (tsq_likely(b != NULL && b->n - 1u < TSQ_DEFER_BATCH_MAX - 1u && self == b->self && set != NULL &&
		       item != NULL && item->fn != NULL)) {
		tsq__defer_check_ready(item, "tsq_defer_batch_add");
		b->items[b->n++] = item;
		if (b->n < TSQ_DEFER_BATCH_MAX)
			return TSQ_DEFER_QUEUED;
		return tsq_defer_batch_flush(set, b) < (int)TSQ_DEFER_BATCH_MAX ? TSQ_DEFER_RAN_FALLBACK
										: TSQ_DEFER_QUEUED;
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
	if (b->n >= TSQ_DEFER_BATCH_MAX &&
	    tsq_defer_batch_flush(set, b) < (int)TSQ_DEFER_BATCH_MAX)
		return TSQ_DEFER_RAN_FALLBACK;
	return TSQ_DEFER_QUEUED;
}

/* ---------------------------------------------------------------------------------------- */
/* The owner                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* How the owner consumes what it takes: each item's fn, or arrays to one burst function. */
struct tsq__defer_sink {
	tsq_defer_burst_fn *burst;
	void *ctx;
};

static inline void tsq__defer_deliver(const struct tsq__defer_sink *sink, struct tsq_defer_item **items,
				      unsigned n)
{
	if (sink->burst != NULL) {
		for (unsigned i = 0; i < n; i++)
			tsq__defer_mark_ready(items[i]);
		sink->burst(sink->ctx, items, n);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		tsq__defer_mark_ready(items[i]);
		items[i]->fn(items[i], TSQ_DEFER_DRAINED);
	}
}

/* Prefetch the n items of a run, four per loop turn (the loop costs more than the hints). */
static inline void tsq__defer_prefetch_run(struct tsq_defer_item *const *run, uint32_t n)
{
	uint32_t i = 0;

	for (; i + 4 <= n; i += 4) {
		__builtin_prefetch(run[i]);
		__builtin_prefetch(run[i + 1]);
		__builtin_prefetch(run[i + 2]);
		__builtin_prefetch(run[i + 3]);
	}
	for (; i < n; i++)
		__builtin_prefetch(run[i]);
}

/*
 * Drain one ring: deliver the slots in place, a contiguous run of up to TSQ_DEFER_BURST at
 * a time, then free them (R3).
 */
static inline unsigned long tsq__defer_drain_ring(const struct tsq_defer_set *set, struct tsq__defer_ring *r,
						  const struct tsq__defer_sink *sink)
{
	struct tsq_defer_item **slot = tsq__defer_slots(r);
	uint32_t head = tsq_load(&r->cons.head, TSQ_RELAXED); /* only the owner writes it */
	uint32_t tail = tsq_load(&r->prod.tail, TSQ_ACQUIRE); /* A2, pairs with S2 */
	unsigned long total = tail - head;

	while (head != tail) {
		uint32_t at = head & set->ring_mask, n = tail - head;
		struct tsq_defer_item **run = &slot[at];

		n = n < set->ring_size - at ? n : set->ring_size - at;
		n = n < TSQ_DEFER_BURST ? n : TSQ_DEFER_BURST;
		/*
		 * The pointers are independent loads: start every item's miss now, before the
		 * dependent fn loads of one call per item. A burst function gets the array and
		 * its own loop overlaps the misses already: no hints, no cost per item.
		 */
		if (sink->burst == NULL)
			tsq__defer_prefetch_run(run, n);
		tsq__defer_deliver(sink, run, n);
		head += n;
		/* R3: the slots are consumed; the producer may refill them (pairs with A3). */
		tsq_store(&r->cons.head, head, TSQ_RELEASE);
	}
	return total;
}

/* Drain the shared list: take it (A1), give the room back, deliver oldest first. */
static inline unsigned long tsq__defer_drain_list(struct tsq_defer_set *set, unsigned self,
						  const struct tsq__defer_sink *sink)
{
	struct tsq_defer_shard *s = &set->shards[self];
	struct tsq_defer_item *burst[TSQ_DEFER_BURST];
	struct tsq_llist_node *chain = tsq_llist_take_all(&s->shared.list); /* A1, pairs with S1 */
	struct tsq_llist_node *fifo = NULL;
	unsigned long n = 0;
	unsigned k = 0;

	if (chain == NULL)
		return 0;
	TSQ__DEFER_HOOK("taken", set, self);
	/* Reverse into arrival order and count in the same walk. */
	while (chain != NULL) {
		struct tsq_llist_node *next = chain->next;

		chain->next = fifo;
		fifo = chain;
		chain = next;
		n++;
	}
	/*
	 * Give back the room of what was taken, after the take: until here a push counts these
	 * items as still on the list, so the list never holds more than `bound` (see Bounds).
	 */
	tsq_fetch_sub(&s->shared.count, (uint64_t)n, TSQ_RELAXED);
	while (sink->burst == NULL && fifo != NULL) {
		/* One call per item: read the link first, the function may free or re-push it. */
		struct tsq_llist_node *next = fifo->next;
		struct tsq_defer_item *it = tsq_container_of(fifo, struct tsq_defer_item, node);

		__builtin_prefetch(next);
		tsq__defer_mark_ready(it);
		it->fn(it, TSQ_DEFER_DRAINED);
		fifo = next;
	}
	while (fifo != NULL) {
		struct tsq_llist_node *next = fifo->next;

		__builtin_prefetch(next);
		burst[k++] = tsq_container_of(fifo, struct tsq_defer_item, node);
		fifo = next;
		if (k == TSQ_DEFER_BURST || fifo == NULL) {
			tsq__defer_deliver(sink, burst, k);
			k = 0;
		}
	}
	tsq_counter_add_owner(&s->owner.list_drained, n);
	return n;
}

static inline long tsq__defer_drain(struct tsq_defer_set *set, unsigned self, const struct tsq__defer_sink *sink)
{
	struct tsq_defer_shard *s = &set->shards[self];
	unsigned long n = 0;

	/* R4: re-arm the kick before taking, so that a push landing after the take can kick. */
	if (tsq_load(&s->wake.kick_pending, TSQ_RELAXED) &&
	    (!tsq_llist_empty(&s->shared.list) || set->rings != NULL))
		tsq_store(&s->wake.kick_pending, 0u, TSQ_RELEASE);
	/*
	 * Ring slots are delivered in place and freed after; a drain called again from one of
	 * their functions must not deliver them a second time: it leaves the rings to the outer
	 * drain (which picks up what arrived meanwhile) and takes only the list.
	 */
	if (set->rings != NULL && !s->owner.in_rings) {
		struct tsq__defer_ring **entry = &set->rings[(size_t)self * set->nr_producers];

		s->owner.in_rings = 1;
		for (unsigned p = 0; p < set->nr_producers; p++) {
			/* DEFER_A5: pairs with DEFER_R5, the ring's creation (zeroed before). */
			struct tsq__defer_ring *r = tsq_load(&entry[p], TSQ_ACQUIRE);

			if ((uintptr_t)r > (uintptr_t)TSQ__DEFER_RING_NOMEM)
				n += tsq__defer_drain_ring(set, r, sink);
		}
		s->owner.in_rings = 0;
	}
	/* Empty: no stores at all, the producers' line stays where it is. */
	if (!tsq_llist_empty(&s->shared.list))
		n += tsq__defer_drain_list(set, self, sink);
	if (n != 0) {
		tsq_counter_add_owner(&s->owner.drained, (uint64_t)n);
		tsq_counter_add_owner(&s->owner.drains, 1);
	}
	return (long)n;
}

/*
 * tsq_defer_drain - run every item queued for shard `self` (each ring, then the shared
 * list; oldest first within each).
 * Context: owner of `self` only; an item's function may call it again (the inner call takes
 * only the shared list, the outer one keeps the rings). Blocks: only inside the items'
 * functions.
 * Ordering: A1/A2 see everything the producers wrote before S1/S2; R3 frees ring slots
 * after reading them; R4 re-arms the kick before the take.
 * Pairs with: S1/S2 in the pushes; A3 in ring pushes; X4 in the kick.
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
 * Pairs with: as tsq_defer_drain(). The array is valid only during the call (it may be the
 * ring's own slots, handed over in place).
 * Return: the number of items handed over (>= 0); -EINVAL for a bad set or shard or fn NULL.
 */
static inline long tsq_defer_drain_burst(struct tsq_defer_set *set, unsigned self, tsq_defer_burst_fn *fn,
					 void *ctx)
{
	const struct tsq__defer_sink sink = { fn, ctx };

	if (tsq_unlikely(set == NULL || self >= set->nr_shards || fn == NULL))
		return -EINVAL;
	return tsq__defer_drain(set, self, &sink);
}

/* Whether shard `self` has work: the list, then each ring (S1/S2 when `order` is SEQ_CST). */
static inline bool tsq__defer_has_work(const struct tsq_defer_set *set, unsigned self, int order)
{
	const struct tsq_defer_shard *s = &set->shards[self];

	if (tsq_load(&s->shared.list.first, order) != NULL)
		return true;
	if (set->rings == NULL)
		return false;
	for (unsigned p = 0; p < set->nr_producers; p++) {
		/* DEFER_A5 (SEQ_CST in the symmetric idle_enter: DEFER_R5 is SEQ_CST too). */
		struct tsq__defer_ring *r = tsq_load(&set->rings[(size_t)self * set->nr_producers + p], order);

		if ((uintptr_t)r <= (uintptr_t)TSQ__DEFER_RING_NOMEM)
			continue;
		if (tsq_load(&r->prod.tail, order) != tsq_load(&r->cons.head, TSQ_RELAXED))
			return true;
	}
	return false;
}

/*
 * tsq_defer_idle_enter - the owner declares it is about to sleep. If it returns true the
 * owner may sleep on its kick primitive: every later push that queues work kicks it (see
 * "Sleeping" for what the primitive must do). If it returns false there is work: drain
 * instead (the idle mark has been withdrawn).
 * Context: owner only. Blocks: never.
 * Ordering: R4 re-arms the kick; S3 (SEQ_CST store of idle) then S1/S2 (SEQ_CST loads of the
 * list head and the ring tails). Acquire/release would let both sides miss each other.
 * Pairs with: S1/S2 and S3 in the pushes; X4.
 * Return: true (nothing queued, may sleep), false (work pending, or a bad set or shard).
 */
static inline bool tsq_defer_idle_enter(struct tsq_defer_set *set, unsigned self)
{
	struct tsq_defer_shard *s;

	if (set == NULL || self >= set->nr_shards)
		return false;
	s = &set->shards[self];
	/*
	 * R4: re-arm first. A kick still "pending" here was sent for work this owner has
	 * already taken (a producer preempted between its link and its kick): left armed-off,
	 * it would silence the kick of the next push while the owner sleeps (issue #10).
	 */
	if (tsq_load(&s->wake.kick_pending, TSQ_RELAXED))
		tsq_store(&s->wake.kick_pending, 0u, TSQ_RELEASE);
	if (set->asym) {
		/*
		 * DEFER_S3 then DEFER_S6: after the membarrier every producer has either made its
		 * DEFER_S1/S2 visible (seen below) or not yet loaded idle (it will see 1 and kick).
		 */
		tsq_store(&s->wake.idle, 1u, TSQ_RELAXED);
		if (tsq_unlikely(tsq__defer_membarrier() != 0)) {
			/* Cannot prove the sleep safe: do not sleep (a busy loop, never a hang). */
			tsq_store(&s->wake.idle, 0u, TSQ_RELAXED);
			tsq_counter_add_owner(&s->owner.fence_errors, 1);
			return false;
		}
		if (!tsq__defer_has_work(set, self, TSQ_ACQUIRE))
			return true;
	} else {
		tsq_store(&s->wake.idle, 1u, TSQ_SEQ_CST); /* DEFER_S3, pairs with tsq__defer_idle() */
		if (!tsq__defer_has_work(set, self, TSQ_SEQ_CST)) /* pairs with DEFER_S1/S2 */
			return true;
	}
	tsq_store(&s->wake.idle, 0u, TSQ_RELAXED);
	return false;
}

/*
 * tsq_defer_idle_exit - the owner is awake again (after sleeping, or after giving up on
 * sleeping); it must drain next.
 * Context: owner only. Blocks: never.
 * Ordering: idle is cleared relaxed (a late clear only costs one extra kick).
 * Pairs with: nothing (the next idle_enter re-arms the kick). Return: nothing.
 */
static inline void tsq_defer_idle_exit(struct tsq_defer_set *set, unsigned self)
{
	if (set == NULL || self >= set->nr_shards)
		return;
	tsq_store(&set->shards[self].wake.idle, 0u, TSQ_RELAXED);
}

/*
 * tsq_defer_wait - sleep until kicked or `timeout_ms` passes (-1: no timeout), unless work is
 * already queued. Uses the default eventfd kick. Drain after it returns.
 * Context: owner only. Blocks: may sleep (poll on the shard's eventfd).
 * Ordering: as tsq_defer_idle_enter(). Lost wake-up argument: the owner publishes idle (S3)
 * before it looks for work (S1/S2); a producer publishes its work (S1/S2) before it looks at
 * idle (S3). With all four SEQ_CST one of them sees the other: either the owner sees the
 * work and does not sleep, or the producer sees idle and writes the eventfd, whose counter
 * keeps the wake-up until the owner's poll() reads it - even if it was written first.
 * Pairs with: S1/S2 and S3 in the pushes; X4.
 * Return: 1 if woken by a kick, 0 on timeout or when work was already pending, -EINVAL for a
 * bad set or shard, -ENOTSUP for a set with a custom kick, -errno from poll() (not -EINTR:
 * retried).
 */
static inline int tsq_defer_wait(struct tsq_defer_set *set, unsigned self, int timeout_ms)
{
#ifdef TSQ__DEFER_HAVE_EVENTFD
	struct pollfd pfd;
	uint64_t val;
	int r;

	if (set == NULL || self >= set->nr_shards)
		return -EINVAL;
	if (set->shards[self].owner.efd < 0)
		return -ENOTSUP;
	if (!tsq_defer_idle_enter(set, self))
		return 0;
	pfd.fd = set->shards[self].owner.efd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		tsq_defer_idle_exit(set, self);
		return r;
	}
	if (r > 0) {
		ssize_t got = read(pfd.fd, &val, sizeof(val));

		(void)got; /* EAGAIN: another reader took the count, harmless */
	}
	tsq_defer_idle_exit(set, self);
	return r > 0 ? 1 : 0;
#else
	(void)set;
	(void)self;
	(void)timeout_ms;
	return -ENOTSUP;
#endif
}

/*
 * tsq_defer_pending - whether shard `shard` has queued items (a hint, stale at once).
 * Context: any thread. Blocks: never. Ordering: relaxed. Pairs with: nothing.
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
 * Pairs with: nothing.
 * Return: 0; -EINVAL for NULL arguments or a bad shard (out untouched).
 */
static inline int tsq_defer_stats(const struct tsq_defer_set *set, unsigned shard,
				  struct tsq_defer_stats *out)
{
	const struct tsq_defer_shard *s;
	uint64_t on_list, pushed, fallback;

	if (set == NULL || out == NULL || shard >= set->nr_shards)
		return -EINVAL;
	s = &set->shards[shard];
	/* The list's pushes: what the owner took from it plus what it holds now. */
	on_list = tsq_load(&s->shared.count, TSQ_RELAXED);
	pushed = tsq_load(&s->owner.list_drained, TSQ_RELAXED) + on_list;
	fallback = tsq_load(&s->shared.fallback, TSQ_RELAXED);
	out->spilled = 0;
	for (unsigned p = 0; set->rings != NULL && p < set->nr_producers; p++) {
		/* DEFER_A5: the ring's fields are initialised before its pointer. */
		struct tsq__defer_ring *r = tsq_load(&set->rings[(size_t)shard * set->nr_producers + p], TSQ_ACQUIRE);

		if ((uintptr_t)r <= (uintptr_t)TSQ__DEFER_RING_NOMEM)
			continue;
		/* Spilled items are in on_list/list_drained already: `pushed` counts them once. */
		pushed += tsq_load(&r->prod.pushed, TSQ_RELAXED);
		out->spilled += tsq_load(&r->prod.spilled, TSQ_RELAXED);
	}
	out->ring_nomem = tsq_load(&s->shared.ring_nomem, TSQ_RELAXED);
	out->fence_errors = tsq_load(&s->owner.fence_errors, TSQ_RELAXED);
	out->pushed = pushed;
	out->inline_runs = tsq_load(&s->owner.inline_runs, TSQ_RELAXED);
	out->fallback = fallback;
	out->kicks = tsq_load(&s->wake.kicks, TSQ_RELAXED);
	out->drained = tsq_load(&s->owner.drained, TSQ_RELAXED);
	out->drains = tsq_load(&s->owner.drains, TSQ_RELAXED);
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
 * Context: any thread. Blocks: never. Ordering: none. Pairs with: nothing.
 * Return: the CPU number (>= 0); -ENOTSUP where unavailable.
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
