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
 *     - the shared list: a lock-less list (llist.h) any thread may push to, with an exact
 *       count of what it holds. Every producer that is not a shard uses it, and so does
 *       tsq_defer_queue().
 *     - per-pair rings (opt-in, opts.ring_size): one single-producer ring of item pointers
 *       per (producer shard, target shard). A shard pushing to another shard writes a slot
 *       and publishes its tail: no contended read-modify-write at all, and the owner loads
 *       many pointers at once instead of following one dependent ->next per item (the
 *       cache miss a list cannot overlap; Seastar's cross-core queues do the same). The
 *       kernel keeps one list per (target CPU, producer NUMA node) for the same reason.
 *
 *   tsq_defer_push(set, target, self, item) decides in this order:
 *     1. self == target: the caller is the owner, the item runs at once    (TSQ_DEFER_RAN_INLINE)
 *     2. the path is full - its ring has no free slot, or the list holds  (TSQ_DEFER_RAN_FALLBACK)
 *        `bound` items: the caller runs the item itself, with how == TSQ_DEFER_FALLBACK, and
 *        a counter says so (the kernel frees locally)
 *     3. otherwise the item is queued                                     (TSQ_DEFER_QUEUED)
 *        and the owner is kicked once when its path crosses half its capacity, or when work
 *        arrives while the owner has said it is about to sleep.
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
 *     struct tsq_defer_opts o = { .size = sizeof(o), .ring_size = 256 };  // or NULL: lists only
 *     struct tsq_defer_shard *shards = tsq_defer_shards_alloc(nthreads);
 *     struct tsq_defer_set set;
 *     tsq_defer_set_init(&set, shards, nthreads, &o);         // bound 128, eventfd kicks
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
 *   it is queued), shards_alloc (setup), current_cpu (any thread).
 *   drain, drain_burst, idle_enter, idle_exit and wait on shard S are "owner only": one
 *   thread (S's worker) calls them. push may come from any thread; `self` must be the
 *   caller's own shard or TSQ_DEFER_NO_SHARD: two threads must never push with the same
 *   `self` at once (each (self, target) ring has one producer), and a non-shard thread never
 *   runs an item inline. A struct tsq_defer_batch belongs to one producer.
 *
 * Memory ordering (labels: R release, A acquire, S seq_cst or full fence, X acq_rel RMW)
 *   S1 list push: SEQ_CST CAS of the head; publishes the items. Pairs with A1 (the drain's
 *      take) and with S1 in idle_enter (the owner's SEQ_CST look at the head).
 *   S2 ring publish: SEQ_CST exchange of the tail; publishes the slots. Pairs with A2 (the
 *      drain's tail load) and with S2 in idle_enter (the owner's SEQ_CST look at the tails).
 *   S3 `idle`: the owner's SEQ_CST store in idle_enter, before its S1/S2 looks; the
 *      producer's SEQ_CST load after its S1/S2. A Dekker pair: either the owner sees the
 *      work (and does not sleep), or the producer sees idle == 1 and kicks; with SEQ_CST on
 *      all four accesses both cannot miss each other (acquire/release would let them).
 *   A1 drain's take of the list (acquire exchange): sees what producers wrote before S1.
 *   A2 drain's load of a ring tail (acquire): sees the slots and items written before S2.
 *   R3 drain's store of a ring head (release) after delivering the slots; pairs with A3, the
 *      producer's load of the head when its cached copy says "full": only then is a slot
 *      reused.
 *   X4 the single-flight kick: the producer's 0 -> 1 CAS of kick_pending (acquire) pairs with
 *      R4, the owner's re-arm (release store of 0) at the start of a non-empty drain and in
 *      idle_enter before S3.
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
 *     (producer shard, target) pair, as the kernel bounds each (CPU, node) list.
 *   - A batch that does not fit links what fits and runs the rest as fallbacks.
 *   The kick at half: once per crossing of bound / 2 (list) or ring_size / 2 (ring) since
 *   the owner last emptied that path.
 *
 * Memory
 *   struct tsq_defer_shard: 192 bytes (three cache lines). With rings, the set allocates
 *   nr_shards^2 rings (the nr_shards self-pairs stay unused: the index is a multiply-add) of
 *   128 + 8 * ring_size bytes: ring_size 256 is 2176 B a ring, 544 KiB for 16 shards, 8.5 MiB
 *   for 64; freed by tsq_defer_set_destroy(). A drain looks at nr_shards - 1 ring tails (a
 *   load each, from lines that stay cached while no producer writes them).
 *
 * Counters (per shard, tsq_defer_stats()): pushed (queued for the owner), inline (ran at
 * once, caller was the owner), fallback (ran by the caller, path full), kicks (wake-ups
 * sent), drained (items the owner ran or was handed), drains (non-empty drains).
 * pushed == drained once the producers have stopped and the owner has drained.
 *
 * Limitations
 *   The list push is lock-free, not wait-free; the ring push is wait-free. A preempted
 *   producer never stalls another producer (unlike a multi-producer ring's tail update).
 *   FIFO holds per path (per producer shard on rings; the shared list in link order), not
 *   across paths. The kick hook may be called from two producers at once (a stale kick and
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
/* opts.ring_size: no rings (the default), every producer uses the shared list. */
#define TSQ_DEFER_RINGS_OFF 0u
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
		int efd; /* default kick: an eventfd, -1 when a custom kick is used */
		uint32_t in_rings; /* a drain is delivering ring slots in place (re-entry guard) */
	} owner TSQ_CACHELINE_ALIGNED;
};

struct tsq_defer_opts {
	size_t size;              /* sizeof(struct tsq_defer_opts): forward compatibility */
	uint32_t bound;           /* items on a shard's shared list before fallback; 0: 128 */
	tsq_defer_kick_fn *kick;  /* NULL: an eventfd per shard (tsq_defer_fd(), tsq_defer_wait()) */
	void *kick_ctx;
	/* Since the second version of the struct: slots per (producer shard, target) ring,
	 * rounded up to a power of two (8..TSQ_DEFER_RING_MAX); TSQ_DEFER_RINGS_OFF (0): none. */
	uint32_t ring_size;
};

/* One (producer shard -> target) ring; private. Slots follow the two lines. */
struct tsq__defer_ring {
	struct {
		uint32_t tail;       /* next slot to fill; S2 publishes it */
		uint32_t head_cache; /* the producer's last view of cons.head */
		uint64_t pushed;     /* items queued here (producer-only counter) */
		uint64_t fallback;   /* items run by the producer, ring full */
	} prod TSQ_CACHELINE_ALIGNED;
	struct {
		uint32_t head; /* next slot to read; R3 frees the slots before it */
	} cons TSQ_CACHELINE_ALIGNED;
};

/* The set: read-mostly after init; its fields are private. */
struct tsq_defer_set {
	struct tsq_defer_shard *shards;
	unsigned nr_shards;
	uint32_t bound;
	uint32_t kick_at; /* bound / 2: the list's count crossing it kicks */
	uint32_t ring_size, ring_mask;
	size_t ring_stride;  /* bytes per ring: header lines + slots */
	unsigned char *rings; /* [target][producer] rings, NULL without rings */
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

/* The ring from `producer` to `target` (producer != target). */
static inline struct tsq__defer_ring *tsq__defer_ring(const struct tsq_defer_set *set, unsigned target,
						      unsigned producer)
{
	size_t idx = (size_t)target * set->nr_shards + producer;

	return (struct tsq__defer_ring *)(void *)(set->rings + idx * set->ring_stride);
}

static inline struct tsq_defer_item **tsq__defer_slots(struct tsq__defer_ring *r)
{
	return (struct tsq_defer_item **)(void *)(r + 1);
}


static inline int tsq__defer_alloc_rings(struct tsq_defer_set *set, uint32_t ring_size)
{
	uint32_t slots = 8;
	size_t n = (size_t)set->nr_shards * set->nr_shards, bytes;

	set->rings = NULL;
	set->ring_size = set->ring_mask = 0;
	set->ring_stride = 0;
	if (ring_size == TSQ_DEFER_RINGS_OFF || set->nr_shards < 2)
		return 0;
	if (ring_size > TSQ_DEFER_RING_MAX)
		return -EINVAL;
	while (slots < ring_size)
		slots <<= 1;
	set->ring_stride = sizeof(struct tsq__defer_ring) + (size_t)slots * sizeof(void *);
	bytes = n * set->ring_stride;
	if (bytes / set->ring_stride != n)
		return -ENOMEM;
	/* The [t][t] entries are never used; keeping them makes the index a multiply-add. */
	set->rings = (unsigned char *)aligned_alloc(TSQ_CACHELINE_SIZE, bytes);
	if (set->rings == NULL)
		return -ENOMEM;
	memset(set->rings, 0, bytes);
	set->ring_size = slots;
	set->ring_mask = slots - 1;
	return 0;
}

/*
 * tsq_defer_set_init - initialise a set over `nr_shards` caller-allocated shards.
 * opts may be NULL (bound 128, eventfd kicks, no rings). With opts->kick NULL, one eventfd
 * per shard is created (tsq_defer_fd() gives it for epoll; tsq_defer_wait() sleeps on it).
 * With opts->ring_size, the rings are allocated here (see "Memory").
 * Context: setup, before any other call on the set. Blocks: no (malloc, eventfd: syscalls).
 * Ordering: none; publish the set to other threads the usual way (thread creation, a release).
 * Pairs with: nothing.
 * Return: 0; -EINVAL if set or shards is NULL, nr_shards is 0, opts->size is smaller than
 * the first version of the struct or larger with non-zero unknown bytes, the bound is above
 * 2^31 (0 means the default, 128) or ring_size above TSQ_DEFER_RING_MAX; -ENOMEM if the rings
 * cannot be allocated; -ENOTSUP if no kick is given and eventfd is unavailable; -errno of
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
	if (o.bound > (1u << 31) || o.ring_size > TSQ_DEFER_RING_MAX)
		return -EINVAL;

	set->shards = shards;
	set->nr_shards = nr_shards;
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
			free(set->rings);
			set->rings = NULL;
			set->live = 0;
			return -err;
		}
		shards[i].owner.efd = fd;
	}
	set->kick = tsq__defer_eventfd_kick;
	set->kick_ctx = set;
	return 0;
#else
	free(set->rings);
	set->rings = NULL;
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
	free(set->rings);
	set->rings = NULL;
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
	       (self >= set->nr_shards && self != TSQ_DEFER_NO_SHARD);
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
 * The shared list: link items[0..n) (oldest first) to `target`, or as many as the bound
 * lets in; the rest run here. Returns how many were linked.
 */
static inline unsigned tsq__defer_list_link(struct tsq_defer_set *set, unsigned target,
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
	/* S1: SEQ_CST splice; publishes the items (pairs with A1) and is seen by idle_enter's S1. */
	was_empty = tsq_llist_push_batch_seqcst(&s->shared.list, &items[fit - 1]->node, &items[0]->node);
	TSQ__DEFER_HOOK("linked", set, target);
	/* Exactly one reservation per upward pass contains kick_at: it crossed half the bound. */
	if (tsq_unlikely(old <= set->kick_at && set->kick_at < old + fit))
		tsq__defer_kick(set, s, target);
	else if (was_empty && tsq_load(&s->wake.idle, TSQ_SEQ_CST)) /* S3, pairs with idle_enter's S3 */
		tsq__defer_kick(set, s, target);
	return fit;
}

/*
 * The ring looked full to the producer's cached head: look at the real one (A3), run what
 * does not fit here (counted). Returns how many of the n fit; updates the cached head.
 */
static inline uint32_t tsq__defer_ring_room(const struct tsq_defer_set *set, struct tsq__defer_ring *r,
					    uint32_t tail, struct tsq_defer_item *const *items, uint32_t n)
{
	/* A3: acquire; pairs with R3: the owner is done with the slots before `head`. */
	uint32_t head = r->prod.head_cache = tsq_load(&r->cons.head, TSQ_ACQUIRE);
	uint32_t fit = n;

	if (tail - head + n > set->ring_size) {
		fit = set->ring_size - (tail - head);
		tsq_counter_add_owner(&r->prod.fallback, n - fit);
		tsq__defer_run_fallback(items + fit, n - fit);
	}
	return fit;
}

/*
 * After a publish that crossed half the ring (by the producer's cached head) or found the
 * owner idle: kick if the ring is really over half, or if the owner is idle (S3).
 */
static inline void tsq__defer_ring_wake(struct tsq_defer_set *set, struct tsq__defer_ring *r, unsigned target,
					uint32_t tail, bool crossed)
{
	struct tsq_defer_shard *s = &set->shards[target];

	if (crossed) {
		/* Crossing half with a stale view of the head says little: look again (A3). */
		uint32_t head = r->prod.head_cache = tsq_load(&r->cons.head, TSQ_ACQUIRE);

		if (tail - head > set->ring_size / 2) {
			tsq__defer_kick(set, s, target);
			return;
		}
	}
	if (tsq_load(&s->wake.idle, TSQ_SEQ_CST)) /* S3, pairs with idle_enter's S3 */
		tsq__defer_kick(set, s, target);
}

/*
 * The ring from `self` to `target`: queue items[0..n) (oldest first), or as many as fit;
 * the rest run here. Returns how many were queued. The common case - room, owner awake, no
 * half crossing - is a slot store, the publishing exchange and one load of `idle`.
 */
static inline unsigned tsq__defer_ring_put(struct tsq_defer_set *set, unsigned target, unsigned self,
					   struct tsq_defer_item *const *items, unsigned n)
{
	struct tsq__defer_ring *r = tsq__defer_ring(set, target, self);
	struct tsq_defer_item **slot = tsq__defer_slots(r);
	/* Only this producer writes prod: relaxed loads of its own fields. */
	uint32_t tail = tsq_load(&r->prod.tail, TSQ_RELAXED);
	uint32_t used = tail - r->prod.head_cache; /* in use, as far as this producer knows */
	uint32_t fit = n, half = set->ring_size / 2, i;
	bool crossed;

	if (tsq_unlikely(used + n > set->ring_size)) {
		fit = tsq__defer_ring_room(set, r, tail, items, n);
		if (fit == 0)
			return 0;
		used = tail - r->prod.head_cache;
	}
	if (fit == 1) {
		slot[tail & set->ring_mask] = items[0];
	} else {
		/* Two contiguous copies (before and after the wrap): no index mask per item. */
		i = set->ring_size - (tail & set->ring_mask);
		i = i < fit ? i : fit;
		memcpy(&slot[tail & set->ring_mask], items, i * sizeof(*items));
		memcpy(&slot[0], items + i, (fit - i) * sizeof(*items));
	}
	/* S2: publish the slots (pairs with A2); SEQ_CST: seen by idle_enter's S2 (Dekker, S3). */
	tsq_xchg(&r->prod.tail, tail + fit, TSQ_SEQ_CST);
	tsq_counter_add_owner(&r->prod.pushed, fit);
	TSQ__DEFER_HOOK("published", set, target);
	crossed = used <= half && half < used + fit;
	if (tsq_unlikely(crossed) || tsq_unlikely(tsq_load(&set->shards[target].wake.idle, TSQ_SEQ_CST)))
		tsq__defer_ring_wake(set, r, target, tail + fit, crossed); /* S3 above: idle_enter's S3 */
	return fit;
}

/* Queue items[0..n) from `self` to `target` by the path `self` has; returns how many queued. */
static inline unsigned tsq__defer_put(struct tsq_defer_set *set, unsigned target, unsigned self,
				      struct tsq_defer_item *const *items, unsigned n)
{
	if (self != TSQ_DEFER_NO_SHARD && set->rings != NULL)
		return tsq__defer_ring_put(set, target, self, items, n);
	return tsq__defer_list_link(set, target, items, n, true);
}

/*
 * tsq_defer_push - hand `item` to shard `target`.
 * `self` is the caller's own shard (then it takes its ring to `target` when the set has
 * rings), or TSQ_DEFER_NO_SHARD (the shared list).
 * Context: any thread; one thread per `self` at a time. Blocks: never itself (ring:
 * wait-free; list: lock-free); runs item->fn inline when self == target or the path is full,
 * and may call the kick hook.
 * Ordering: the item's contents are released to the owner (S1 or S2).
 * Pairs with: A1/A2 in tsq_defer_drain(); S1/S2 and S3 in tsq_defer_idle_enter().
 * Return: TSQ_DEFER_RAN_INLINE (ran here, self == target), TSQ_DEFER_QUEUED (queued),
 * TSQ_DEFER_RAN_FALLBACK (ran here, path full; counted in `fallback`);
 * -EINVAL if set or item is NULL, item->fn is NULL, target >= nr_shards, or self is neither a
 * shard nor TSQ_DEFER_NO_SHARD. Nothing is queued or run on error. Under TSQ_DEBUG an item
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
	if (self != TSQ_DEFER_NO_SHARD && set->rings != NULL)
		return tsq__defer_ring_put(set, target, self, &item, 1) ? TSQ_DEFER_QUEUED : TSQ_DEFER_RAN_FALLBACK;
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
			 target >= set->nr_shards || (self >= set->nr_shards && self != TSQ_DEFER_NO_SHARD)))
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
		/* The pointers are independent loads: start every item's miss now, not one by one. */
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
		s->owner.in_rings = 1;
		for (unsigned p = 0; p < set->nr_shards; p++)
			if (p != self)
				n += tsq__defer_drain_ring(set, tsq__defer_ring(set, self, p), sink);
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
	for (unsigned p = 0; p < set->nr_shards; p++) {
		struct tsq__defer_ring *r;

		if (p == self)
			continue;
		r = tsq__defer_ring(set, self, p);
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
	tsq_store(&s->wake.idle, 1u, TSQ_SEQ_CST); /* S3, pairs with the producers' S3 */
	if (!tsq__defer_has_work(set, self, TSQ_SEQ_CST)) /* S1/S2, pairs with the pushes' S1/S2 */
		return true;
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
	if (set->rings != NULL) {
		for (unsigned p = 0; p < set->nr_shards; p++) {
			struct tsq__defer_ring *r;

			if (p == shard)
				continue;
			r = tsq__defer_ring(set, shard, p);
			pushed += tsq_load(&r->prod.pushed, TSQ_RELAXED);
			fallback += tsq_load(&r->prod.fallback, TSQ_RELAXED);
		}
	}
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
