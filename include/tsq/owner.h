/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/owner.h - an owner lock with a backlog: lock_sock / release_sock / sk_flush_backlog.
 *
 * Overview
 *   An object (a flow, a connection) is *owned* by an application thread for the length of
 *   an operation - a long send - while worker threads keep receiving for it. A worker must
 *   never wait for the owner: it enters with tsq_owner_deliver(), which takes the object's
 *   short lock and either processes the work at once (not owned) or parks it in the object's
 *   backlog (owned), bounded in bytes of caller-given cost (-ENOBUFS beyond, the item handed
 *   back and counted). The owner processes the backlog
 *     - at release: drain (repeatedly, with the short lock dropped while processing, so
 *       producers keep appending), run the release callback while still owner (deferred
 *       actions, e.g. tsq_flow_release()), clear ownership, wake one waiter;
 *     - in the middle of a long operation, without giving up ownership: tsq_owner_flush()
 *       (one load when the backlog is empty), e.g. every 16 units of work as the kernel's
 *       tcp_sendmsg does - so incoming work waits one flush interval, not the whole call.
 *
 *   The backlog length is reset only when a drain has emptied the backlog: during a drain
 *   the bytes already taken still count against the limit, so a flooding producer cannot
 *   keep the owner draining forever - it gets -ENOBUFS instead.
 *   The kernel's TCP limit is 2 * rcvbuf + sndbuf / 2 + 64 KiB (both the backlog and the
 *   receive queue may legitimately reach rcvbuf; 64 KiB of headroom because only the owner
 *   can prune); tsq_owner_tcp_limit() computes it.
 *
 * Usage
 *     static void rx(struct tsq_owner *o, struct tsq_owner_work *w, enum tsq_owner_how how);
 *     static void release_cb(struct tsq_owner *o) {
 *         run_deferred(conn_of(o)); // e.g. tsq_flow_release
 *     }
 *     static const struct tsq_owner_ops ops = { rx, release_cb };
 *     struct tsq_owner_opts opts = { .size = sizeof(opts) };
 *     opts.limit = tsq_owner_tcp_limit(rcvbuf, sndbuf);  // NULL opts: TSQ_OWNER_LIMIT_DEFAULT
 *     tsq_owner_init(&c->own, &ops, &opts);
 *     // worker, per received frame:
 *     if (tsq_owner_deliver(&c->own, &f->work, f->len, rmem_queued(c)) == -ENOBUFS) drop(f);
 *     // application thread:
 *     tsq_owner_acquire(&c->own);
 *     for (unsigned n = 0; have_data(); ) { copy_64k(); tsq_owner_flush_every(&c->own, &n, 16); }
 *     tsq_owner_release(&c->own);
 *   (tests/unit/test_owner.c compiles and runs this block as `usage_block_runs`.)
 *
 * Synchronization table ('-': safe concurrently, 'X': the caller must serialise)
 *                    deliver  acquire/  lock_fast  lock_check  release  flush     stats  init/
 *                             try                                       (_every)         destroy
 *     deliver           -        -          -          -          -        -        -       X
 *     acquire/
 *       try_acquire     -        -          -          -          -        -        -       X
 *     lock_fast/
 *       unlock_fast     -        -          -          -          -        -        -       X
 *     lock_check/
 *       unlock          -        -          -          -          -        -        -       X
 *     release           -        -          -          -          X        X        -       X
 *     flush(_every)     -        -          -          -          X        X        -       X
 *     stats             -        -          -          -          -        -        -       X
 *     init/destroy      X        X          X          X          X        X        X       X
 *   release and flush are for the current owner only (one thread), and so is unlock_fast
 *   after a lock_fast that returned true. unlock and unlock_fast(false) are for the thread
 *   that holds the short lock (after lock_check, or a lock_fast that returned false).
 *   deliver runs the process callback under the short lock (keep it short, never block in
 *   it); the owner runs it for backlogged items without the short lock, in FIFO order.
 *   tcp_limit is a pure function (no object).
 *
 * Memory ordering
 *   The short lock (a pthread mutex) orders everything: the backlog, `owned`, the waiters.
 *   Two relaxed atomics read without it, by design: the backlog tail in flush (a hint - an
 *   item appended right after the look is processed by the next flush or the release) and
 *   the counters in stats. No acquire/release pairs, so no labels.
 *
 * Misuse and bad input (tests/README.md has the table)
 *   - An item whose cost alone exceeds the limit can never fit: -E2BIG (handed back, counted
 *     in `dropped`), not parked - whenever it would be parked (owned object).
 *   - NULL object or item: -EINVAL, in every call that returns int.
 *   - A work item delivered again while it is still parked (or in a drain not yet processed):
 *     its link would loop the drain forever or lose the items behind it. Caught under
 *     TSQ_DEBUG (deliver marks a parked item; the drain clears the mark before process()).
 *   - Any call on a destroyed object (other than tsq_owner_init) is undefined; TSQ_DEBUG
 *     aborts in deliver, acquire, try_acquire, lock_fast and lock_check. destroy itself
 *     returns -EINVAL for an object it already destroyed, while its memory is still there.
 *
 * Limitations
 *   The short lock and the waiters use a pthread mutex and condition variable (libc only).
 *   The process callback for inline delivery runs under the short lock: it must not call
 *   back into the same tsq_owner. acquire is not recursive.
 */
#ifndef TSQ_OWNER_H
#define TSQ_OWNER_H

#include <errno.h>
#include <pthread.h>

#include "atomic.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A unit of work for the backlog. Embed it; `cost` is set by tsq_owner_deliver(). `mark` is
 * private: TSQ_DEBUG's "parked" mark (it takes the padding after cost on 64-bit targets, and
 * is never touched without TSQ_DEBUG). With TSQ_DEBUG, zero new items (calloc, = { 0 }):
 * deliver reads the mark, and a memory checker flags a read of never-written memory.
 */
struct tsq_owner_work {
	struct tsq_owner_work *next;
	uint32_t cost;
	uint32_t mark;
};

/* The value of tsq_owner_work.mark while the item is parked (TSQ_DEBUG only). */
#define TSQ__OWNER_PARKED 0x7b5c1a9du

/* How process() came to run (the words of defer.h's enum tsq_defer_how). */
enum tsq_owner_how {
	TSQ_OWNER_INLINE = 0,  /* at once, by the deliverer: object not owned, short lock held */
	TSQ_OWNER_DRAINED = 1, /* by the owner, drained from the backlog, short lock not held */
};

/* What tsq_owner_deliver() did (non-negative returns). */
enum tsq_owner_result {
	TSQ_OWNER_PROCESSED = 0,
	TSQ_OWNER_BACKLOGGED = 1,
};

struct tsq_owner;

struct tsq_owner_ops {
	/* Process one item (the kernel's sk_backlog_rcv). Required. */
	void (*process)(struct tsq_owner *o, struct tsq_owner_work *w, enum tsq_owner_how how);
	/*
	 * Deferred actions (the kernel's release_cb), run at release and after a flush that ran
	 * work, with the short lock held and ownership still held; must not block. May be NULL.
	 */
	void (*release_cb)(struct tsq_owner *o);
};

/*
 * The default backlog limit: tsq_owner_tcp_limit() of the kernel's default buffers
 * (tcp_rmem[1] = 128 KiB, tcp_wmem[1] = 16 KiB): 2 * 131072 + 16384 / 2 + 65536.
 */
#define TSQ_OWNER_LIMIT_DEFAULT 335872u

/*
 * Options of tsq_owner_init() (NULL: the defaults). Set size to sizeof(struct tsq_owner_opts):
 * an older, smaller struct reads the fields it lacks as zero; a newer, larger one is refused
 * (-EINVAL) if its unknown tail is not zero.
 */
struct tsq_owner_opts {
	size_t size;    /* sizeof(struct tsq_owner_opts): forward compatibility */
	uint64_t limit; /* backlog bytes, e.g. tsq_owner_tcp_limit(); 0 = TSQ_OWNER_LIMIT_DEFAULT */
};

/* Counters (all uint64_t: tsq_owner_stats() copies the object's twin field by field). */
struct tsq_owner_stats {
	uint64_t backlogged;  /* items parked because the object was owned */
	uint64_t inline_runs; /* items processed at once by the deliverer (TSQ_OWNER_INLINE) */
	uint64_t dropped;     /* items refused with -ENOBUFS or -E2BIG (handed back) */
	uint64_t flushes;     /* tsq_owner_flush() calls that ran work */
	uint64_t max_backlog_bytes; /* highest backlog length seen */
	uint64_t backlog_bytes;     /* current backlog length (bytes since the last full drain) */
};

/* The object's lock state. Fields are private: use the functions below. */
struct tsq_owner {
	pthread_mutex_t slock; /* the short lock: owned, backlog, waiters */
	pthread_cond_t wait;   /* waiters for ownership */
	uint32_t owned;
	uint32_t waiters;
	struct tsq_owner_work *head, *tail; /* tail is read without the lock by flush (a hint) */
	uint64_t backlog_len;
	uint64_t limit;
	const struct tsq_owner_ops *ops;
	struct tsq_owner_stats st; /* written under slock, read relaxed by anyone */
};

/*
 * tsq_owner_tcp_limit - the kernel's TCP backlog limit: 2 * rcvbuf + sndbuf / 2 + 64 KiB,
 * clamped to UINT32_MAX.
 * Context: any thread. Blocks: never. Ordering: none (no shared memory).
 * Return: the limit in bytes.
 */
static inline uint64_t tsq_owner_tcp_limit(uint64_t rcvbuf, uint64_t sndbuf)
{
	uint64_t limit;

	/* Larger arguments clamp anyway; testing them first keeps the sum below 2^64. */
	if (rcvbuf > UINT32_MAX || sndbuf > 2 * (uint64_t)UINT32_MAX)
		return UINT32_MAX;
	limit = 2 * rcvbuf + sndbuf / 2 + (64u << 10);
	return limit > UINT32_MAX ? UINT32_MAX : limit;
}

/*
 * tsq_owner_init - set up an unowned object with an empty backlog limited to opts->limit
 * bytes (opts NULL: TSQ_OWNER_LIMIT_DEFAULT).
 * Context: before the object is shared. Blocks: never.
 * Ordering: none (plain stores); publish the object the usual way.
 * Return: 0; -EINVAL for NULL o/ops/ops->process, or opts->size smaller than the first
 * version of the struct or larger with non-zero unknown bytes; -errno of pthread init
 * (nothing left initialised).
 */
static inline int tsq_owner_init(struct tsq_owner *o, const struct tsq_owner_ops *ops,
				 const struct tsq_owner_opts *opts)
{
	const size_t v1 = offsetof(struct tsq_owner_opts, limit) + sizeof(uint64_t);
	struct tsq_owner_opts opt;
	int err;

	if (o == NULL || ops == NULL || ops->process == NULL ||
	    !tsq__opts_read(opts, v1, &opt, sizeof(opt)))
		return -EINVAL;
	err = pthread_mutex_init(&o->slock, NULL);
	if (err != 0)
		return -err;
	err = pthread_cond_init(&o->wait, NULL);
	if (err != 0) {
		pthread_mutex_destroy(&o->slock);
		return -err;
	}
	o->owned = 0;
	o->waiters = 0;
	o->head = o->tail = NULL;
	o->backlog_len = 0;
	o->limit = opt.limit != 0 ? opt.limit : TSQ_OWNER_LIMIT_DEFAULT;
	o->ops = ops;
	o->st.backlogged = o->st.inline_runs = o->st.dropped = 0;
	o->st.flushes = o->st.max_backlog_bytes = o->st.backlog_bytes = 0;
	return 0;
}

/*
 * tsq_owner_destroy - free the lock resources. The object must be unowned with an empty
 * backlog and no waiters. Afterwards no call but tsq_owner_init() may use it: TSQ_DEBUG
 * catches deliver/acquire/try_acquire/lock_fast/lock_check on it (destroy clears `ops`).
 * Context: teardown, when no other call on the object can happen. Blocks: never.
 * Ordering: none.
 * Return: 0; -EBUSY if owned, waited for, or the backlog is not empty (nothing destroyed);
 * -EINVAL for NULL, or an object destroyed already (or never initialised: `ops` NULL).
 */
static inline int tsq_owner_destroy(struct tsq_owner *o)
{
	if (o == NULL || o->ops == NULL)
		return -EINVAL;
	if (o->owned || o->head != NULL || o->waiters)
		return -EBUSY;
	pthread_cond_destroy(&o->wait);
	pthread_mutex_destroy(&o->slock);
	o->ops = NULL; /* "destroyed": checked by destroy, and by the others under TSQ_DEBUG */
	return 0;
}

/* TSQ_DEBUG: a call on a destroyed object (its lock is gone). Read without the lock: any
 * caller racing destroy is already wrong. */
#define tsq__owner_check_alive(o, call) \
	TSQ__MISUSE_IF((o)->ops == NULL, (call), "object destroyed (or never initialised)")

/* Counters change under slock; relaxed stores so lock-free readers are race-free. */
#define tsq__owner_count(o, field, v) tsq_counter_add_owner(&(o)->st.field, (v))

/*
 * Drain the backlog (slock held on entry and exit): detach the whole chain, drop the lock,
 * process in FIFO order, retake the lock, until empty; only then reset the length.
 */
static inline bool tsq__owner_drain_locked(struct tsq_owner *o)
{
	bool ran = false;

	while (o->head != NULL) {
		struct tsq_owner_work *w = o->head;

		o->head = NULL;
		tsq_store(&o->tail, (struct tsq_owner_work *)NULL, TSQ_RELAXED);
		pthread_mutex_unlock(&o->slock);
		while (w != NULL) {
			struct tsq_owner_work *next = w->next;

#ifdef TSQ_DEBUG
			w->mark = 0; /* no longer parked: process() may deliver it again */
#endif
			o->ops->process(o, w, TSQ_OWNER_DRAINED);
			w = next;
		}
		ran = true;
		pthread_mutex_lock(&o->slock);
	}
	o->backlog_len = 0;
	tsq_store(&o->st.backlog_bytes, (uint64_t)0, TSQ_RELAXED);
	return ran;
}

/* Wait (asleep, slock dropped meanwhile) until unowned, then own; slock held on entry and exit. */
static inline void tsq__owner_take_locked(struct tsq_owner *o)
{
	while (o->owned) {
		/* Waiters register under slock, release checks them under it: no lost wake-up. */
		o->waiters++;
		pthread_cond_wait(&o->wait, &o->slock);
		o->waiters--;
	}
	o->owned = 1;
}

/*
 * tsq_owner_acquire - become the owner, waiting (asleep) while another thread owns it.
 * Context: any thread that does not own the object. Blocks: may sleep (condition variable).
 * Ordering: the short lock: everything the previous owner did happens-before.
 * Pairs with: the short lock's unlock in tsq_owner_release() (and in every other holder).
 */
static inline void tsq_owner_acquire(struct tsq_owner *o)
{
	tsq__owner_check_alive(o, "tsq_owner_acquire");
	pthread_mutex_lock(&o->slock);
	tsq__owner_take_locked(o);
	pthread_mutex_unlock(&o->slock);
}

/*
 * tsq_owner_try_acquire - become the owner if nobody owns the object.
 * Context: any thread that does not own it. Blocks: only on the short lock (briefly).
 * Ordering: as tsq_owner_acquire(). Pairs with: as tsq_owner_acquire().
 * Return: true if the caller now owns the object; false if another thread owns it.
 */
static inline bool tsq_owner_try_acquire(struct tsq_owner *o)
{
	bool got;

	tsq__owner_check_alive(o, "tsq_owner_try_acquire");
	pthread_mutex_lock(&o->slock);
	got = !o->owned;
	if (got)
		o->owned = 1;
	pthread_mutex_unlock(&o->slock);
	return got;
}

/*
 * tsq_owner_release - drain the backlog, run the release callback as owner, give up
 * ownership and wake one waiter.
 * Context: the owner. Blocks: on the short lock; runs process/release_cb.
 * Ordering: the short lock publishes everything the owner did to the next owner.
 * Pairs with: the short lock in tsq_owner_acquire()/try_acquire()/lock_fast() of the next
 * owner.
 */
static inline void tsq_owner_release(struct tsq_owner *o)
{
	pthread_mutex_lock(&o->slock);
	tsq__owner_drain_locked(o);
	if (o->ops->release_cb != NULL)
		o->ops->release_cb(o);
	o->owned = 0;
	if (o->waiters)
		pthread_cond_signal(&o->wait);
	pthread_mutex_unlock(&o->slock);
}

/*
 * tsq_owner_flush - process the backlog now, keeping ownership (the kernel's
 * sk_flush_backlog); runs the release callback too when work ran, so deferred actions (an
 * ACK, a TSQ restart) do not wait for the end of the operation.
 * Context: the owner. Blocks: on the short lock, only when the backlog is non-empty.
 * Ordering: one relaxed load of the backlog tail when empty (a hint: an item appended right
 * after is processed by the next flush or the release). Otherwise the short lock.
 * Pairs with: the short lock in tsq_owner_deliver() (what the deliverer wrote is visible to
 * process()).
 * Return: true if backlogged work ran, false if the backlog was empty.
 */
static inline bool tsq_owner_flush(struct tsq_owner *o)
{
	bool ran;

	if (tsq_likely(tsq_load(&o->tail, TSQ_RELAXED) == NULL))
		return false;
	pthread_mutex_lock(&o->slock);
	ran = tsq__owner_drain_locked(o);
	if (ran) {
		tsq__owner_count(o, flushes, 1);
		if (o->ops->release_cb != NULL)
			o->ops->release_cb(o);
	}
	pthread_mutex_unlock(&o->slock);
	return ran;
}

/*
 * tsq_owner_flush_every - call in a long operation's loop once per unit of work: flushes on
 * every `every`-th call (the kernel flushes before every 16th new 64 KB buffer).
 * `*counter` is the caller's, starting at 0.
 * Context: the owner. Blocks: as tsq_owner_flush(), on the calls that flush.
 * Ordering: as tsq_owner_flush(). Pairs with: as tsq_owner_flush().
 * Return: true if this call flushed and work ran; false otherwise.
 */
static inline bool tsq_owner_flush_every(struct tsq_owner *o, unsigned *counter, unsigned every)
{
	if (++*counter < every)
		return false;
	*counter = 0;
	return tsq_owner_flush(o);
}

/*
 * tsq_owner_deliver - the producer's entry (the kernel's bh_lock_sock + owned check +
 * sk_add_backlog): process `w` now if the object is not owned, else park it in the backlog
 * if backlog bytes + `queued` (the caller's other queued bytes, e.g. its receive queue) do
 * not exceed the limit. The item's own cost is not counted in that test (a big item still
 * goes in while there is room), but is added to the backlog length - unless the cost alone
 * exceeds the limit: such an item could never fit, and is refused with -E2BIG (the kernel's
 * limits are far above any one skb's truesize, so it never meets this case).
 * Inline delivery (not owned) parks nothing and ignores the limit and the cost.
 * `w` must not be parked already (here or in another object): TSQ_DEBUG aborts
 * ("tsq: tsq_owner_deliver: work delivered again while parked"). Not after destroy (TSQ_DEBUG
 * aborts).
 * Context: any thread that does not own the object. Blocks: never sleeps; takes the short
 * lock and runs process() under it on inline delivery.
 * Ordering: the short lock; a backlogged item is processed by the owner after it.
 * Pairs with: the short lock in tsq_owner_release()/flush(), which process the backlog.
 * Return: TSQ_OWNER_PROCESSED, TSQ_OWNER_BACKLOGGED; -ENOBUFS (over the limit: `w` is handed
 * back untouched and counted in `dropped`); -E2BIG (owned, and `cost` > the limit: handed back
 * untouched, counted in `dropped`); -EINVAL for NULL o or w (not counted).
 */
static inline int tsq_owner_deliver(struct tsq_owner *o, struct tsq_owner_work *w, uint32_t cost,
				    uint64_t queued)
{
	if (o == NULL || w == NULL)
		return -EINVAL;
	tsq__owner_check_alive(o, "tsq_owner_deliver");
	pthread_mutex_lock(&o->slock);
	if (!o->owned) {
		tsq__owner_count(o, inline_runs, 1);
		o->ops->process(o, w, TSQ_OWNER_INLINE);
		pthread_mutex_unlock(&o->slock);
		return TSQ_OWNER_PROCESSED;
	}
	/* Set below, cleared by the drain just before process(): set means "parked right now". */
	TSQ__MISUSE_IF(w->mark == TSQ__OWNER_PARKED, "tsq_owner_deliver",
		       "work delivered again while parked");
	/* Could never fit: refuse it now rather than let it fill the backlog many times over. */
	if (tsq_unlikely(cost > o->limit)) {
		tsq__owner_count(o, dropped, 1);
		pthread_mutex_unlock(&o->slock);
		return -E2BIG;
	}
	/* backlog_len + queued > limit, written so that a huge `queued` cannot wrap around. */
	if (queued > o->limit || o->backlog_len > o->limit - queued) {
		tsq__owner_count(o, dropped, 1);
		pthread_mutex_unlock(&o->slock);
		return -ENOBUFS;
	}
#ifdef TSQ_DEBUG
	w->mark = TSQ__OWNER_PARKED;
#endif
	w->cost = cost;
	w->next = NULL;
	if (o->head == NULL)
		o->head = w;
	else
		o->tail->next = w;
	tsq_store(&o->tail, w, TSQ_RELAXED);
	o->backlog_len += cost;
	tsq__owner_count(o, backlogged, 1);
	tsq_store(&o->st.backlog_bytes, o->backlog_len, TSQ_RELAXED);
	if (o->backlog_len > o->st.max_backlog_bytes)
		tsq_store(&o->st.max_backlog_bytes, o->backlog_len, TSQ_RELAXED);
	pthread_mutex_unlock(&o->slock);
	return TSQ_OWNER_BACKLOGGED;
}

/*
 * tsq_owner_lock_fast - for short operations (the kernel's lock_sock_fast): if the object is
 * not owned, return false holding only the short lock (no ownership, no backlog work); if it
 * is owned, wait for ownership like acquire and return true. End the section with
 * tsq_owner_unlock_fast(o, returned value).
 * Context: any thread that does not own it. Blocks: may sleep (slow path).
 * Ordering: the short lock, as tsq_owner_acquire().
 * Pairs with: the short lock's unlock in every other holder (release, unlock, unlock_fast).
 * Return: false (fast: short lock held) or true (slow: caller owns the object).
 */
static inline bool tsq_owner_lock_fast(struct tsq_owner *o)
{
	tsq__owner_check_alive(o, "tsq_owner_lock_fast");
	pthread_mutex_lock(&o->slock);
	if (!o->owned)
		return false;
	tsq__owner_take_locked(o);
	pthread_mutex_unlock(&o->slock);
	return true;
}

/*
 * tsq_owner_unlock_fast - end a tsq_owner_lock_fast() section: release if `slow`, else drop
 * the short lock.
 * Context: the caller of lock_fast. Blocks: as tsq_owner_release() if slow; never otherwise.
 * Ordering: the short lock (its unlock publishes the section's writes).
 * Pairs with: the short lock's next holder.
 */
static inline void tsq_owner_unlock_fast(struct tsq_owner *o, bool slow)
{
	if (slow)
		tsq_owner_release(o);
	else
		pthread_mutex_unlock(&o->slock);
}

/*
 * tsq_owner_lock_check - take the short lock and report whether the object is owned; for
 * code that must decide "do it now, or defer it to the owner" (tsq_flow_ops.lock). Always
 * follow with tsq_owner_unlock().
 * Context: any thread that does not own it. Blocks: on the short lock (briefly).
 * Ordering: the short lock: what its previous holder wrote is visible.
 * Pairs with: the short lock's unlock in every other holder.
 * Return: true if an owner holds the object; false if nobody does (the caller may act as
 * if it owned it until tsq_owner_unlock()).
 */
static inline bool tsq_owner_lock_check(struct tsq_owner *o)
{
	tsq__owner_check_alive(o, "tsq_owner_lock_check");
	pthread_mutex_lock(&o->slock);
	return o->owned != 0;
}

/*
 * tsq_owner_unlock - drop the short lock taken by tsq_owner_lock_check().
 * Context: the thread that called tsq_owner_lock_check(). Blocks: never.
 * Ordering: the short lock's unlock publishes what the caller wrote under it.
 * Pairs with: the short lock in its next holder.
 */
static inline void tsq_owner_unlock(struct tsq_owner *o)
{
	pthread_mutex_unlock(&o->slock);
}

/*
 * tsq_owner_stats - read the counters.
 * Context: any thread. Blocks: never. Ordering: relaxed loads, field by field.
 * Return: 0; -EINVAL for NULL arguments (out untouched).
 */
static inline int tsq_owner_stats(const struct tsq_owner *o, struct tsq_owner_stats *out)
{
	return o != NULL && tsq__counters_read(out, &o->st, sizeof(*out)) ? 0 : -EINVAL;
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_OWNER_H */
