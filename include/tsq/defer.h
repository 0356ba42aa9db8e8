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
 *   tsq_defer_push(set, target, self, item) decides in this order:
 *     1. self == target: the caller is the owner, the item runs at once    (TSQ_DEFER_RAN_INLINE)
 *     2. the target has >= bound items since its last drain: the caller    (TSQ_DEFER_RAN_FALLBACK)
 *        runs the item itself, with how == TSQ_DEFER_FALLBACK, and a counter says so
 *        (never while the target's list is empty: then the owner has caught up)
 *     3. otherwise the item is linked with one CAS                         (TSQ_DEFER_QUEUED)
 *        and the owner is kicked once when the count crosses bound / 2, or when the list goes
 *        empty -> non-empty while the owner has said it is about to sleep.
 *   The item's function learns how it runs: a per-worker pool must not be touched by a
 *   foreign thread, so a fallback run has to take another route (free(), a shared pool).
 *
 *   The owner calls tsq_defer_drain() from its loop (items run oldest first), and may sleep
 *   with tsq_defer_wait() (default eventfd kick) or with its own primitive between
 *   tsq_defer_idle_enter() and tsq_defer_idle_exit().
 *
 * Usage
 *     struct buf { struct tsq_defer_item d; unsigned home; char data[2048]; };
 *     static void recycle(struct tsq_defer_item *it, enum tsq_defer_how how) {
 *         struct buf *b = tsq_container_of(it, struct buf, d);
 *         if (how == TSQ_DEFER_FALLBACK) free(b); else pool_put(b->home, b);
 *     }
 *     struct tsq_defer_shard *shards = tsq_defer_shards_alloc(nthreads);
 *     struct tsq_defer_set set;
 *     tsq_defer_set_init(&set, shards, nthreads, NULL);       // bound 128, eventfd kicks
 *     // any thread that is done with b:
 *     tsq_defer_item_init(&b->d, recycle);
 *     tsq_defer_push(&set, b->home, my_shard, &b->d);
 *     // worker `me`, every poll-loop round:
 *     tsq_defer_drain(&set, me);
 *     if (nothing_else_to_do) tsq_defer_wait(&set, me, -1);   // sleeps without losing a kick
 *
 * Synchronization table ('-': safe concurrently, 'X': the caller must serialise)
 *
 *                     push/queue/batch  drain  idle/wait  stats  set_init/destroy
 *     push/queue/batch         -            -        -        -           X
 *     drain                    -            X        X        -           X
 *     idle/wait                -            X        X        -           X
 *     stats                    -            -        -        -           X
 *   drain, idle_enter, idle_exit and wait on shard S are "owner only": one thread (S's worker)
 *   calls them. push may come from any thread, including non-shard threads (self =
 *   TSQ_DEFER_NO_SHARD), which never run an item inline.
 *
 * Counters (per shard, tsq_defer_stats()): pushed (linked for the owner), inline (ran at once,
 * caller was the owner), fallback (ran by the caller, target over its bound), kicks (wake-ups
 * sent), drained (items the owner ran from its list), drains (non-empty drains).
 * pushed == drained once the producers have stopped and the owner has drained.
 *
 * Limitations
 *   push is lock-free, not wait-free. The bound counts push attempts since the owner's last
 *   drain, like the kernel: a push that races with a drain may be counted in the epoch before
 *   the list it lands in, so the list can briefly hold a few more than `bound` items; a batch checks the bound once and
 *   may overshoot by its size. The kick hook must be "sticky": a kick sent before the owner
 *   sleeps must make that sleep return (eventfd, a futex on a counter, a semaphore do; a bare
 *   condition-variable signal does not).
 */
#ifndef TSQ_DEFER_H
#define TSQ_DEFER_H

#include <errno.h>
#include <stdlib.h>

#include "llist.h"

#if defined(__linux__) && !defined(TSQ_CFG_NO_EVENTFD)
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>
#define TSQ__DEFER_HAVE_EVENTFD 1
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
/* Largest private chain a struct tsq_defer_batch builds before it splices by itself. */
#define TSQ_DEFER_BATCH_MAX 32u

/* How an item came to run; passed to its function. */
enum tsq_defer_how {
	TSQ_DEFER_INLINE = 0,   /* the owner pushed to itself: run at once, on the owner */
	TSQ_DEFER_DRAINED = 1,  /* the owner took it from its list: on the owner */
	TSQ_DEFER_FALLBACK = 2, /* the target was over its bound: on the *pushing* thread */
};

/* What tsq_defer_push() did (non-negative returns). */
enum tsq_defer_result {
	TSQ_DEFER_RAN_INLINE = 0,
	TSQ_DEFER_QUEUED = 1,
	TSQ_DEFER_RAN_FALLBACK = 2,
};

struct tsq_defer_item;
typedef void tsq_defer_fn(struct tsq_defer_item *item, enum tsq_defer_how how);

/* A unit of work. Embed it; set fn with tsq_defer_item_init(). Use the functions below. */
struct tsq_defer_item {
	struct tsq_llist_node node;
	tsq_defer_fn *fn;
};

/* The kick hook: wake the owner of `shard`. Called from producers, at most once in flight. */
typedef void tsq_defer_kick_fn(void *kick_ctx, unsigned shard);

/*
 * One shard. Allocate an array with tsq_defer_shards_alloc() (or any 64-byte-aligned memory)
 * and treat the fields as private: use the functions below.
 */
struct tsq_defer_shard {
	/* Line 1, written by producers (and once per drain by the owner). */
	struct {
		struct tsq_llist_head list;
		uint64_t tickets;      /* push attempts ever (items), fetch_add by producers */
		uint64_t drain_mark;   /* tickets at the last drain: written by the owner */
		uint64_t fallback;     /* items run by producers over the bound */
		uint64_t kicks;        /* wake-ups sent */
		uint32_t kick_pending; /* single-flight: 1 from a kick until the owner's next drain */
		uint32_t idle;         /* owner is about to sleep (Dekker partner of the list head) */
	} shared TSQ_CACHELINE_ALIGNED;
	/* Line 2, written by the owner only. */
	struct {
		uint64_t inline_runs;
		uint64_t drained;
		uint64_t drains;
		int efd; /* default kick: an eventfd, -1 when a custom kick is used */
	} owner TSQ_CACHELINE_ALIGNED;
};

struct tsq_defer_opts {
	size_t size;              /* sizeof(struct tsq_defer_opts): forward compatibility */
	uint32_t bound;           /* items per shard before fallback; 0 means the default (128) */
	tsq_defer_kick_fn *kick;  /* NULL: an eventfd per shard (tsq_defer_fd(), tsq_defer_wait()) */
	void *kick_ctx;
};

/* The set: read-mostly after init; its fields are private. */
struct tsq_defer_set {
	struct tsq_defer_shard *shards;
	unsigned nr_shards;
	uint32_t bound;
	uint32_t kick_at; /* bound / 2: the one attempt number per epoch that kicks */
	tsq_defer_kick_fn *kick;
	void *kick_ctx;
};

/* Counter snapshot of one shard; each field is read atomically, the set is not a snapshot. */
struct tsq_defer_stats {
	uint64_t pushed;
	uint64_t inline_runs;
	uint64_t fallback;
	uint64_t kicks;
	uint64_t drained;
	uint64_t drains;
};

/* Producer-side private chain for tsq_defer_batch_add(); one per (producer, target). */
struct tsq_defer_batch {
	struct tsq_llist_node *first, *last; /* newest first */
	unsigned n;
	unsigned target;
};

/* ---------------------------------------------------------------------------------------- */
/* Setup                                                                                      */
/* ---------------------------------------------------------------------------------------- */

/*
 * tsq_defer_item_init - set the function an item runs.
 * Context: the thread that owns the item (before it is pushed). Blocks: never.
 * Ordering: none; the push publishes it. Return: nothing.
 */
static inline void tsq_defer_item_init(struct tsq_defer_item *item, tsq_defer_fn *fn)
{
	item->node.next = NULL;
	item->fn = fn;
}

/*
 * tsq_defer_shards_alloc - allocate `n` cache-line-aligned shards (uninitialised; init does it).
 * Context: setup, any thread. Blocks: may (malloc). Ordering: none.
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

/*
 * tsq_defer_set_init - initialise a set over `nr_shards` caller-allocated shards.
 * opts may be NULL (bound 128, eventfd kicks). With opts->kick NULL, one eventfd per shard
 * is created (tsq_defer_fd() gives it for epoll; tsq_defer_wait() sleeps on it).
 * Context: setup, before any other call on the set. Blocks: no (eventfd creation is a syscall).
 * Ordering: none; publish the set to other threads the usual way (thread creation, a release).
 * Return: 0; -EINVAL if set or shards is NULL, nr_shards is 0, opts->size is too small or the
 * bound is above 2^31 (a bound of 0 means the default, 128); -ENOTSUP if no kick is given and
 * eventfd is unavailable; -errno of eventfd() (e.g. -EMFILE), in which case nothing is left open.
 */
static inline int tsq_defer_set_init(struct tsq_defer_set *set, struct tsq_defer_shard *shards,
				     unsigned nr_shards, const struct tsq_defer_opts *opts)
{
	uint32_t bound = TSQ_DEFER_DEFAULT_BOUND;

	if (set == NULL || shards == NULL || nr_shards == 0 || nr_shards == TSQ_DEFER_NO_SHARD)
		return -EINVAL;
	if (opts != NULL) {
		if (opts->size < sizeof(struct tsq_defer_opts))
			return -EINVAL;
		if (opts->bound != 0)
			bound = opts->bound;
	}
	/* "0 means default" above; an explicit huge bound would overflow the epoch arithmetic. */
	if (bound > (1u << 31))
		return -EINVAL;

	set->shards = shards;
	set->nr_shards = nr_shards;
	set->bound = bound;
	set->kick_at = bound / 2;
	set->kick = opts != NULL ? opts->kick : NULL;
	set->kick_ctx = opts != NULL ? opts->kick_ctx : NULL;

	for (unsigned i = 0; i < nr_shards; i++) {
		struct tsq_defer_shard *s = &shards[i];

		tsq_llist_init(&s->shared.list);
		s->shared.tickets = 0;
		s->shared.drain_mark = 0;
		s->shared.fallback = 0;
		s->shared.kicks = 0;
		s->shared.kick_pending = 0;
		s->shared.idle = 0;
		s->owner.inline_runs = 0;
		s->owner.drained = 0;
		s->owner.drains = 0;
		s->owner.efd = -1;
	}
	if (set->kick != NULL)
		return 0;
#ifdef TSQ__DEFER_HAVE_EVENTFD
	for (unsigned i = 0; i < nr_shards; i++) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (fd < 0) {
			int err = errno;

			tsq__defer_close_eventfds(set, i);
			return -err;
		}
		shards[i].owner.efd = fd;
	}
	set->kick = tsq__defer_eventfd_kick;
	set->kick_ctx = set;
	return 0;
#else
	return -ENOTSUP;
#endif
}

/*
 * tsq_defer_set_destroy - close the default eventfds. Items still queued are NOT run: drain
 * every shard first if they matter (tsq_defer_pending() tells).
 * Context: teardown, when no other call on the set can happen. Blocks: never.
 * Ordering: none. Return: nothing. The shards' memory stays the caller's.
 */
static inline void tsq_defer_set_destroy(struct tsq_defer_set *set)
{
	if (set == NULL || set->shards == NULL)
		return;
	tsq__defer_close_eventfds(set, set->nr_shards);
}

/*
 * tsq_defer_fd - the eventfd the owner of `shard` can add to its epoll/poll set (readable
 * when kicked). Context: any thread. Blocks: never.
 * Return: the fd; -EINVAL for a bad shard; -ENOTSUP when the set uses a custom kick.
 */
static inline int tsq_defer_fd(const struct tsq_defer_set *set, unsigned shard)
{
	if (set == NULL || shard >= set->nr_shards)
		return -EINVAL;
	return set->shards[shard].owner.efd >= 0 ? set->shards[shard].owner.efd : -ENOTSUP;
}

/* ---------------------------------------------------------------------------------------- */
/* Producers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static inline void tsq__defer_kick(struct tsq_defer_set *set, struct tsq_defer_shard *s, unsigned target)
{
	uint32_t idle = 0;

	/*
	 * K1: single flight. Only the producer that moves kick_pending 0 -> 1 calls the hook;
	 * the owner re-arms it at the start of its next non-empty drain (K2) and whenever it
	 * wakes (K3). Acquire on success orders the hook call after the owner's re-arm.
	 */
	if (!tsq_cmpxchg(&s->shared.kick_pending, &idle, 1u, TSQ_ACQUIRE, TSQ_RELAXED))
		return;
	tsq_counter_add_shared(&s->shared.kicks, 1);
	set->kick(set->kick_ctx, target);
}

static inline void tsq__defer_run_chain(struct tsq_llist_node *chain, enum tsq_defer_how how)
{
	struct tsq_llist_node *n, *next;

	tsq_llist_for_each_safe(n, next, chain) {
		struct tsq_defer_item *it = tsq_container_of(n, struct tsq_defer_item, node);

		it->fn(it, how);
	}
}

/*
 * Link a chain of n items (first = newest, last = oldest) to `target`, or run it here when
 * the target is over its bound. Returns TSQ_DEFER_QUEUED or TSQ_DEFER_RAN_FALLBACK.
 */
static inline int tsq__defer_link(struct tsq_defer_set *set, unsigned target,
				  struct tsq_llist_node *first, struct tsq_llist_node *last, unsigned n,
				  bool bounded)
{
	struct tsq_defer_shard *s = &set->shards[target];
	/*
	 * T1: take n tickets. Relaxed: the count is a heuristic bound and kick trigger; the list
	 * CAS (L1) carries the ordering. Epoch position = tickets since the owner's last drain.
	 */
	uint64_t t = tsq_fetch_add(&s->shared.tickets, (uint64_t)n, TSQ_RELAXED);
	uint64_t mark = tsq_load(&s->shared.drain_mark, TSQ_RELAXED);
	/* A ticket taken before a concurrent drain moved the mark counts as position 0. */
	uint64_t pos = t >= mark ? t - mark : 0;
	bool was_empty;

	/*
	 * Over the bound only while the list holds something. The count can read "full" with the
	 * list already empty: a ticket taken after the drain read `tickets` but before it stored
	 * the new mark is measured against the old mark. An empty drain never moves the mark, so
	 * once `bound` such attempts had fallen back, every later push fell back too and nothing
	 * was linked (or kicked) again. An empty list means the owner has caught up: link.
	 */
	if (tsq_unlikely(pos >= set->bound && bounded) && !tsq_llist_empty(&s->shared.list)) {
		/* Over the bound: the caller does the work (the kernel frees locally), counted. */
		tsq_counter_add_shared(&s->shared.fallback, n);
		/* The chain ends at `last`: a reused item's ->next still points into an old chain. */
		last->next = NULL;
		tsq__defer_run_chain(tsq_llist_reverse(first), TSQ_DEFER_FALLBACK);
		return TSQ_DEFER_RAN_FALLBACK;
	}
	/*
	 * L1: SEQ_CST splice (a release for the items; SEQ_CST for the Dekker pair with the
	 * owner's I1 store of `idle` and I2 load of the list: either we see idle == 1 below, or
	 * the owner sees our items and does not sleep). Same instruction as a release CAS on x86.
	 */
	was_empty = tsq_llist_push_batch_sc(&s->shared.list, first, last);

	/* Exactly one attempt number per epoch equals kick_at: that push crosses half the bound. */
	if (tsq_unlikely(pos <= set->kick_at && set->kick_at < pos + n))
		tsq__defer_kick(set, s, target);
	else if (was_empty && tsq_load(&s->shared.idle, TSQ_SEQ_CST)) /* L2, pairs with I1 */
		tsq__defer_kick(set, s, target);
	return TSQ_DEFER_QUEUED;
}

/*
 * tsq_defer_push - hand `item` to shard `target`.
 * `self` is the caller's own shard, or TSQ_DEFER_NO_SHARD.
 * Context: any thread. Blocks: never itself (lock-free); runs item->fn inline when
 * self == target or the target is over its bound, and may call the kick hook.
 * Ordering: the item's contents are released to the owner (L1 pairs with D2 in drain).
 * Return: TSQ_DEFER_RAN_INLINE (ran here, self == target), TSQ_DEFER_QUEUED (linked),
 * TSQ_DEFER_RAN_FALLBACK (ran here, target over its bound; counted in `fallback`);
 * -EINVAL if set or item is NULL, item->fn is NULL, target >= nr_shards, or self is neither a
 * shard nor TSQ_DEFER_NO_SHARD. Nothing is linked or run on error.
 */
static inline int tsq_defer_push(struct tsq_defer_set *set, unsigned target, unsigned self,
				 struct tsq_defer_item *item)
{
	if (tsq_unlikely(set == NULL || item == NULL || item->fn == NULL || target >= set->nr_shards ||
			 (self >= set->nr_shards && self != TSQ_DEFER_NO_SHARD)))
		return -EINVAL;
	if (self == target) {
		/* Already on the right thread: no deferral (the kernel's "same CPU" rule). */
		tsq_counter_add_owner(&set->shards[self].owner.inline_runs, 1);
		item->fn(item, TSQ_DEFER_INLINE);
		return TSQ_DEFER_RAN_INLINE;
	}
	return tsq__defer_link(set, target, &item->node, &item->node, 1, true);
}

/*
 * tsq_defer_queue - always link `item` to shard `target`: never inline, never a fallback,
 * not limited by the bound (it still counts towards it and kicks like tsq_defer_push()).
 * For work that must run on the owner's thread and in its loop, even when pushed by the
 * owner itself from a context where running it would re-enter (TSQ: a flow restarted from
 * the TX-completion poll), and whose number the caller bounds itself (one entry per flow).
 * Context: any thread. Blocks: never (lock-free). Ordering: as tsq_defer_push().
 * Return: TSQ_DEFER_QUEUED; -EINVAL if set or item is NULL, item->fn is NULL or target is
 * out of range (nothing linked).
 */
static inline int tsq_defer_queue(struct tsq_defer_set *set, unsigned target, struct tsq_defer_item *item)
{
	if (tsq_unlikely(set == NULL || item == NULL || item->fn == NULL || target >= set->nr_shards))
		return -EINVAL;
	return tsq__defer_link(set, target, &item->node, &item->node, 1, false);
}

/*
 * tsq_defer_batch_init - start an empty private chain towards `target`.
 * Context: the producer that owns `b`. Blocks: never. Ordering: none. Return: nothing.
 */
static inline void tsq_defer_batch_init(struct tsq_defer_batch *b, unsigned target)
{
	b->first = b->last = NULL;
	b->n = 0;
	b->target = target;
}

/*
 * tsq_defer_batch_flush - splice the private chain with one CAS (or run it as a fallback).
 * Context: the producer that owns `b`. Blocks: never (lock-free).
 * Ordering: as tsq_defer_push(). Return: the number of items handed over (0 for an empty
 * batch); -EINVAL if set or b is NULL or b->target is out of range (the chain is kept).
 */
static inline int tsq_defer_batch_flush(struct tsq_defer_set *set, struct tsq_defer_batch *b)
{
	unsigned n;

	if (set == NULL || b == NULL || b->target >= set->nr_shards)
		return -EINVAL;
	n = b->n;
	if (n == 0)
		return 0;
	tsq__defer_link(set, b->target, b->first, b->last, n, true);
	tsq_defer_batch_init(b, b->target);
	return (int)n;
}

/*
 * tsq_defer_batch_add - add an item to a private chain; splices by itself when it holds
 * TSQ_DEFER_BATCH_MAX items. If self == b->target the item runs at once instead.
 * Always call tsq_defer_batch_flush() when the producer has nothing more to add.
 * Context: the producer that owns `b`. Blocks: never.
 * Ordering: none until the splice (then as tsq_defer_push()).
 * Return: TSQ_DEFER_RAN_INLINE, or TSQ_DEFER_QUEUED (kept privately or spliced);
 * -EINVAL for NULL arguments, item->fn NULL, a bad target, or a bad self.
 */
static inline int tsq_defer_batch_add(struct tsq_defer_set *set, struct tsq_defer_batch *b,
				      unsigned self, struct tsq_defer_item *item)
{
	if (tsq_unlikely(set == NULL || b == NULL || item == NULL || item->fn == NULL ||
			 b->target >= set->nr_shards ||
			 (self >= set->nr_shards && self != TSQ_DEFER_NO_SHARD)))
		return -EINVAL;
	if (self == b->target)
		return tsq_defer_push(set, b->target, self, item);
	tsq_llist_link_local(&b->first, &b->last, &item->node);
	if (++b->n >= TSQ_DEFER_BATCH_MAX)
		tsq_defer_batch_flush(set, b);
	return TSQ_DEFER_QUEUED;
}

/* ---------------------------------------------------------------------------------------- */
/* The owner                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/*
 * tsq_defer_drain - run every item queued for shard `self`, oldest first.
 * Context: owner of `self` only. Blocks: only inside the items' functions.
 * Ordering: D2 (acquire exchange) sees everything the producers wrote before L1. K2 re-arms
 * the kick (release) before the list is taken, so a push that lands after the take can kick.
 * Return: the number of items run (>= 0); -EINVAL for a bad set or shard.
 */
static inline long tsq_defer_drain(struct tsq_defer_set *set, unsigned self)
{
	struct tsq_defer_shard *s;
	struct tsq_llist_node *chain;
	long n = 0;

	if (tsq_unlikely(set == NULL || self >= set->nr_shards))
		return -EINVAL;
	s = &set->shards[self];
	/* Empty: no stores at all, the producers' line stays where it is. */
	if (tsq_llist_empty(&s->shared.list))
		return 0;
	if (tsq_load(&s->shared.kick_pending, TSQ_RELAXED))
		tsq_store(&s->shared.kick_pending, 0u, TSQ_RELEASE); /* K2, pairs with K1 */
	chain = tsq_llist_reverse(tsq_llist_take_all(&s->shared.list)); /* D2 */
	/*
	 * New epoch: pushes from here on count against an empty list. The mark moves after the
	 * take, so a ticket taken after this load belongs to an item linked after the take and
	 * counts against the list it lands in. Marking before the take counted items this take
	 * removed against the new epoch (pushes fell back with the list nearly empty).
	 */
	tsq_store(&s->shared.drain_mark, tsq_load(&s->shared.tickets, TSQ_RELAXED), TSQ_RELAXED);

	while (chain != NULL) {
		struct tsq_llist_node *next = chain->next;
		struct tsq_defer_item *it = tsq_container_of(chain, struct tsq_defer_item, node);

		__builtin_prefetch(next);
		it->fn(it, TSQ_DEFER_DRAINED);
		chain = next;
		n++;
	}
	tsq_counter_add_owner(&s->owner.drained, (uint64_t)n);
	tsq_counter_add_owner(&s->owner.drains, 1);
	return n;
}

/*
 * tsq_defer_idle_enter - the owner declares it is about to sleep. If it returns true the
 * owner may sleep on its kick primitive: any later push to an empty list kicks it. If it
 * returns false there is work: drain instead (the idle mark has been withdrawn).
 * Context: owner only. Blocks: never.
 * Ordering: I1 (SEQ_CST store of idle) then I2 (SEQ_CST load of the list): a Dekker pair
 * with L1/L2 in push. Acquire/release would allow both sides to miss each other.
 * Return: true (list empty, may sleep), false (work pending); false also for a bad shard.
 */
static inline bool tsq_defer_idle_enter(struct tsq_defer_set *set, unsigned self)
{
	struct tsq_defer_shard *s;

	if (set == NULL || self >= set->nr_shards)
		return false;
	s = &set->shards[self];
	tsq_store(&s->shared.idle, 1u, TSQ_SEQ_CST); /* I1, pairs with L2 */
	if (tsq_load(&s->shared.list.first, TSQ_SEQ_CST) == NULL) /* I2, pairs with L1 */
		return true;
	tsq_store(&s->shared.idle, 0u, TSQ_RELAXED);
	return false;
}

/*
 * tsq_defer_idle_exit - the owner is awake again (after sleeping, or after giving up on
 * sleeping); it must drain next.
 * Context: owner only. Blocks: never.
 * Ordering: idle is cleared relaxed (a late clear only costs one extra kick). K3 re-arms the
 * kick (release, pairs with K1): once the owner is awake every kick sent so far has done its
 * job, and a kick left "pending" with an empty list would otherwise silence the next one.
 * Return: nothing.
 */
static inline void tsq_defer_idle_exit(struct tsq_defer_set *set, unsigned self)
{
	struct tsq_defer_shard *s;

	if (set == NULL || self >= set->nr_shards)
		return;
	s = &set->shards[self];
	tsq_store(&s->shared.idle, 0u, TSQ_RELAXED);
	if (tsq_load(&s->shared.kick_pending, TSQ_RELAXED))
		tsq_store(&s->shared.kick_pending, 0u, TSQ_RELEASE); /* K3, pairs with K1 */
}

/*
 * tsq_defer_wait - sleep until kicked or `timeout_ms` passes (-1: no timeout), unless work is
 * already queued. Uses the default eventfd kick. Drain after it returns.
 * Context: owner only. Blocks: may sleep (poll on the shard's eventfd).
 * Ordering: as tsq_defer_idle_enter(). Lost wake-up argument: the owner publishes idle (I1)
 * before it looks at the list (I2); a producer publishes its item (L1) before it looks at
 * idle (L2). With all four SEQ_CST one of them sees the other: either the owner sees the
 * item and does not sleep, or the producer sees idle and writes the eventfd, whose counter
 * keeps the wake-up until the owner's poll() reads it - even if it was written first.
 * Return: 1 if woken by a kick, 0 on timeout or when work was already pending, -EINVAL for a
 * bad shard, -ENOTSUP for a set with a custom kick, -errno from poll() (not -EINTR: retried).
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
	/*
	 * Consume the counter before K3 re-arms the kick (in idle_exit): a kick that wins K1
	 * after the re-arm then leaves its count in the fd for the next wait. Read after the
	 * re-arm, such a kick's count could be swallowed here while kick_pending stayed 1; with
	 * its item already drained, no drain would re-arm it and the next idle kick was lost.
	 */
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
 * Context: any thread. Blocks: never. Ordering: relaxed. Return: true if non-empty.
 */
static inline bool tsq_defer_pending(const struct tsq_defer_set *set, unsigned shard)
{
	if (set == NULL || shard >= set->nr_shards)
		return false;
	return !tsq_llist_empty(&set->shards[shard].shared.list);
}

/*
 * tsq_defer_stats - read shard `shard`'s counters.
 * Context: any thread. Blocks: never. Ordering: relaxed loads, field by field.
 * Return: 0; -EINVAL for NULL arguments or a bad shard (out untouched).
 */
static inline int tsq_defer_stats(const struct tsq_defer_set *set, unsigned shard,
				  struct tsq_defer_stats *out)
{
	const struct tsq_defer_shard *s;
	uint64_t tickets, fallback;

	if (set == NULL || out == NULL || shard >= set->nr_shards)
		return -EINVAL;
	s = &set->shards[shard];
	fallback = tsq_load(&s->shared.fallback, TSQ_RELAXED);
	tickets = tsq_load(&s->shared.tickets, TSQ_RELAXED);
	/* tickets count every attempt; the ones that fell back were never linked. */
	out->pushed = tickets >= fallback ? tickets - fallback : 0;
	out->inline_runs = tsq_load(&s->owner.inline_runs, TSQ_RELAXED);
	out->fallback = fallback;
	out->kicks = tsq_load(&s->shared.kicks, TSQ_RELAXED);
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
 * "inline" on a foreign shard). Passing it as a *target* is always safe.
 * Context: any thread. Blocks: never. Ordering: none.
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
