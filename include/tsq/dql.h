/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/dql.h - dynamic queue limits (Byte Queue Limits) for a device TX ring.
 *
 * Overview
 *   A TX ring should hold just enough bytes that the device never runs dry between two
 *   completion rounds, and no more: every byte beyond that is queueing delay for whatever is
 *   sent next. The right amount depends on the line rate and on how the device batches its
 *   completions, so it is learned, not configured (the kernel's lib/dynamic_queue_limits.c).
 *   The sender charges each object it hands to the ring (tsq_dql_charge, the kernel's
 *   dql_queued); the completion path accounts what came back (tsq_dql_complete, the kernel's
 *   dql_completed) and moves the limit:
 *     - starved: the queue was over its limit and the device drained it (or could have,
 *       before the next enqueue): the limit grows by what was completed beyond the previous
 *       round's queue plus the previous over-limit amount;
 *     - busy for a whole round: the slack (limit less twice what the round completed, at
 *       least the unused part of the last object) is noted; when a hold time has passed, the
 *       limit shrinks by the *lowest* slack seen over it (hysteresis: one quiet round does not
 *       shrink it), then the watch restarts;
 *     - and it always stays within [min_limit, max_limit].
 *   tsq_dql_avail() = limit - bytes in flight; below 0 the sender should stop.
 *
 *   tsq_dql_tx_sent() / tsq_dql_tx_completed() add the stop/restart protocol of a driver's
 *   queue (the kernel's netdev_tx_sent_queue / netdev_tx_completed_queue): the sender sets
 *   STOPPED when it went over, re-checks after a full barrier and withdraws the stop if a
 *   completion made room meanwhile; the completion publishes its new limit, and after a full
 *   barrier reads STOPPED and restarts the queue when there is room - a store-buffering
 *   (Dekker) pair, SEQ_CST on both sides, so that a restart is never lost (tests/check/
 *   dql_model.c proves it over every interleaving and shows that either half alone fails).
 *
 *   Time is the caller's: every call that needs it takes now_ns, a monotonic clock in
 *   nanoseconds (CLOCK_MONOTONIC, or a virtual clock in a simulation or a test). A value
 *   that goes backwards counts as no time passing. The stall detector (off by default) counts
 *   completion gaps of at least stall_thrs_ns during whose first half something was queued.
 *
 * Usage
 *     struct tsq_dql q;
 *     tsq_dql_init(&q, NULL, now_ns());            // limit 0, max 1,879,048,192, hold 1 s
 *     // sender, after placing a frame, before the device can see it:
 *     int rc = tsq_dql_tx_sent(&q, frame_len, now_ns());
 *     if (rc == TSQ_DQL_STOPPED) stop_feeding_the_ring();   // a completion restarts it
 *     // completion context, once per completion round:
 *     if (tsq_dql_tx_completed(&q, bytes_done, now_ns()) == TSQ_DQL_RESTART)
 *         restart_feeding_the_ring();
 *   (tests/unit/test_dql.c compiles and runs this block as `usage_block_runs`.)
 *
 * Synchronization table ('-': safe concurrently, 'X': the caller must serialise)
 *                                charge/  complete/     readers  set_limits/    init/reset/
 *                                tx_sent  tx_completed           set_hold_time  set_stall_thrs
 *     charge/tx_sent                X          -           -           -              X
 *     complete/tx_completed         -          X           -           -              X
 *     readers                       -          -           -           -              X
 *     set_limits/set_hold_time      -          -           -           -              X
 *     init/reset/set_stall_thrs     X          X           X           X              X
 *   (readers: avail, stopped, limit, inflight, stats.)
 *   One sender at a time (the ring's producer, or whoever holds its TX lock) and one
 *   completion context at a time; the two run concurrently with each other. Readers and the
 *   limit/hold setters may run anywhere. Under TSQ_DEBUG two senders (or two completions) at
 *   once abort, naming the call.
 *
 * Memory ordering (labels: R release, A acquire, S seq_cst or fence, X acq_rel RMW)
 *   DQL_S1 STOPPED: the sender's SEQ_CST RMW that sets it in tx_sent; the completion's SEQ_CST
 *      load in tx_completed.
 *   DQL_S2 the snapshot (limit, completed): the completion's SEQ_CST store in complete; the
 *      sender's SEQ_CST re-check load in tx_sent. DQL_S1 and DQL_S2 form the stop/restart Dekker
 *      pair (see tsq_dql_tx_sent()): acquire/release would let each side read the other's
 *      old value.
 *   DQL_X1 the completion's ACQ_REL RMW that clears STOPPED (one winner); pairs with DQL_S1.
 *   DQL_R3/DQL_A3, DQL_R4/DQL_A4: the stall history is a small seqlock written by the sender
 *      (DQL_R3: release stores of the sequence; DQL_R4: of the history words and head) and read by
 *      the completion (DQL_A3/DQL_A4: acquire loads, then a re-read of the sequence).
 *   Everything else is a relaxed atomic: counts and limits are numbers, not publications.
 *
 * Counters (tsq_dql_stats()): stops (the sender stopped, re-check confirmed), recheck_saves
 * (the re-check found room), restarts (a completion cleared STOPPED and must restart the
 * queue), grows/shrinks (the limit moved up/down), stalls and stall_max_ns.
 *
 * Limitations
 *   Counters are u32 and wrap (wrap-safe arithmetic throughout). An object is at most
 *   TSQ_DQL_MAX_OBJECT bytes and at most TSQ_DQL_MAX_INFLIGHT bytes may be in flight
 *   (= TSQ_DQL_MAX_LIMIT + one maximal object, what a sender that stops at avail < 0 can
 *   reach): beyond that tsq_dql_charge() refuses with -EOVERFLOW. The stall detector sees a
 *   stall only when the late completion arrives (like the kernel's: a watchdog for a device
 *   that never completes is the caller's); its history has 256 ticks of stall_thrs_ns/32 to
 *   stall_thrs_ns/64 each, so stall_max_ns is rounded up to a tick, a queue older than the
 *   history is not seen, and a 64-bit nanosecond clock that wraps (after 584 years) may miss
 *   one stall. The detector is a statistic: racing with a sender that moves the history, a
 *   check retries a few times and then gives up.
 */
#ifndef TSQ_DQL_H
#define TSQ_DQL_H

#include <errno.h>

#include "atomic.h"

/*
 * Test hook: tests define it before including this header to run code at a named point.
 * Point "stop-set": in tsq_dql_tx_sent() after DQL_S1, before the DQL_S2 re-check (the unit tests
 * run a completion there to drive the re-check save deterministically).
 */
#ifndef TSQ__DQL_HOOK
#define TSQ__DQL_HOOK(point, d) ((void)0)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Largest object (one tsq_dql_charge() call): UINT32_MAX / 16, as the kernel's. */
#define TSQ_DQL_MAX_OBJECT 268435455u
/* Largest limit: UINT32_MAX / 2 - TSQ_DQL_MAX_OBJECT. */
#define TSQ_DQL_MAX_LIMIT 1879048192u
/* Most bytes in flight: UINT32_MAX / 2 = TSQ_DQL_MAX_LIMIT + TSQ_DQL_MAX_OBJECT. */
#define TSQ_DQL_MAX_INFLIGHT 2147483647u
/* Default hold time before the limit may shrink: 1 s (the kernel's HZ jiffies). */
#define TSQ_DQL_HOLD_NS_DEFAULT 1000000000ull

/* What tsq_dql_tx_sent() did (non-negative returns). */
enum tsq_dql_sent_result {
	TSQ_DQL_SENT = 0,    /* go on feeding the ring */
	TSQ_DQL_STOPPED = 1, /* the queue is stopped; a completion will restart it */
};

/* What tsq_dql_tx_completed() did (non-negative returns). */
enum tsq_dql_completed_result {
	TSQ_DQL_COMPLETED = 0, /* nothing more to do */
	TSQ_DQL_RESTART = 1,   /* this caller cleared STOPPED and must restart the queue */
};

#define TSQ__DQL_F_STOPPED 1u
#define TSQ__DQL_MAGIC 0x64716c31u /* "dql1": set by init, checked under TSQ_DEBUG */
#define TSQ__DQL_HIST_WORDS 4u     /* history: 4 x 64 ticks */
#define TSQ__DQL_HIST_TICKS 256u
#define TSQ__DQL_STALL_RETRIES 4

/*
 * Options of tsq_dql_init() (NULL: the kernel's defaults). Set size to
 * sizeof(struct tsq_dql_opts): an older, smaller struct reads the fields it lacks as zero; a
 * newer, larger one is refused (-EINVAL) if its unknown tail is not zero.
 */
struct tsq_dql_opts {
	size_t size;        /* sizeof(struct tsq_dql_opts): forward compatibility */
	uint32_t min_limit; /* bytes; 0 by default */
	uint32_t max_limit; /* bytes; 0 means TSQ_DQL_MAX_LIMIT */
	uint64_t hold_ns;   /* 0 means TSQ_DQL_HOLD_NS_DEFAULT (tsq_dql_set_hold_time takes 0) */
	uint64_t stall_thrs_ns; /* 0: stall detection off */
};

/*
 * The queue's limits. Fields are private: use the functions. The sender's fields and the
 * completion's are on separate cache lines; the published limit snapshot sits on the
 * sender's line (the completion writes it once per round) so that the sender's avail check
 * reads one line only.
 */
struct tsq_dql {
	struct {
		uint32_t num_queued; /* bytes ever queued (wraps): sender */
		uint32_t last_obj;   /* size of the last object queued: sender */
		uint32_t stopped;    /* TSQ__DQL_F_STOPPED: set by the sender, cleared by either */
		uint32_t magic;      /* TSQ__DQL_MAGIC once initialised */
		uint32_t busy;       /* TSQ_DEBUG: senders inside a call */
		uint64_t snap;       /* (num_completed << 32) | limit: completion-written */
		uint64_t stall_thrs_ns;
		uint64_t hist_seq;  /* even: history stable; odd: the sender is moving it */
		uint64_t hist_head; /* index (tick / 64) of the newest history word */
		uint64_t hist[TSQ__DQL_HIST_WORDS]; /* bit per tick: something was queued then */
		uint64_t stops, recheck_saves;      /* sender-written counters */
	} snd TSQ_CACHELINE_ALIGNED;
	struct {
		uint32_t limit;
		uint32_t num_completed; /* bytes ever completed (wraps) */
		uint32_t prev_ovlimit;  /* how far over the limit the queue was last round */
		uint32_t prev_num_queued;
		uint32_t prev_last_obj;
		uint32_t min_limit, max_limit; /* any thread writes (tsq_dql_set_limits) */
		uint32_t busy;                 /* TSQ_DEBUG: completions inside a call */
		uint64_t lowest_slack;         /* UINT64_MAX: none seen since the watch started */
		uint64_t slack_start_ns;
		uint64_t hold_ns;      /* any thread writes (tsq_dql_set_hold_time) */
		uint64_t last_reap_ns; /* time of the last completion */
		uint64_t restarts, grows, shrinks, stalls, stall_max_ns; /* completion-written */
	} cmp TSQ_CACHELINE_ALIGNED;
};

struct tsq_dql_stats {
	uint32_t limit, min_limit, max_limit;
	uint32_t inflight; /* bytes queued and not completed (a hint off the sender's thread) */
	int64_t avail;
	bool stopped;
	uint64_t hold_ns, stall_thrs_ns;
	uint64_t stops, recheck_saves, restarts, grows, shrinks, stalls, stall_max_ns;
};

/* ---- helpers ------------------------------------------------------------------------------ */

/* a - b for u32 quantities, 0 if b >= a. */
static inline uint32_t tsq__dql_posdiff(uint32_t a, uint32_t b)
{
	return a > b ? a - b : 0;
}

/* Wrap-safe "counter a is at or after counter b" (they are less than 2^31 apart). */
static inline bool tsq__dql_after_eq(uint32_t a, uint32_t b)
{
	return (uint32_t)(a - b) <= 0x7fffffffu;
}

/* Nanoseconds from `then` to `now`; 0 if the clock went backwards. No signed casts. */
static inline uint64_t tsq__dql_elapsed(uint64_t now, uint64_t then)
{
	uint64_t d = now - then;

	return d <= (uint64_t)INT64_MAX ? d : 0;
}

/* Bytes in flight seen from a snapshot; a reader's stale pair ("negative") reads as 0. */
static inline uint32_t tsq__dql_inflight_of(uint32_t num_queued, uint64_t snap)
{
	uint32_t v = num_queued - (uint32_t)(snap >> 32);

	return v <= TSQ_DQL_MAX_INFLIGHT ? v : 0;
}

static inline int64_t tsq__dql_avail_of(uint32_t num_queued, uint64_t snap)
{
	return (int64_t)(uint32_t)snap - (int64_t)tsq__dql_inflight_of(num_queued, snap);
}

/*
 * History ticks are 2^shift ns, the smallest power of two that puts stall_thrs_ns into at
 * most 64 ticks: thresholds span 33..64 ticks (or exactly thrs ticks of 1 ns below 65 ns),
 * so the 256-tick history covers at least four thresholds.
 */
static inline unsigned tsq__dql_tick_shift(uint64_t thrs)
{
	uint64_t x = (thrs - 1) >> 6;

	return thrs <= 64 ? 0 : 64u - (unsigned)__builtin_clzll(x);
}

#ifdef TSQ_DEBUG
#define tsq__dql_enter(busy, call, what) \
	TSQ__MISUSE_IF(tsq_fetch_add((busy), 1u, TSQ_RELAXED) != 0, (call), (what))
#define tsq__dql_leave(busy) ((void)tsq_fetch_sub((busy), 1u, TSQ_RELAXED))
#else
#define tsq__dql_enter(busy, call, what) ((void)0)
#define tsq__dql_leave(busy) ((void)0)
#endif

#define tsq__dql_check_init(d, call) \
	TSQ__MISUSE_IF((d)->snd.magic != TSQ__DQL_MAGIC, (call), "not set up with tsq_dql_init()")

/* Empties the stall history, its newest word being the one of now_ns. */
static inline void tsq__dql_hist_reset(struct tsq_dql *d, uint64_t thrs, uint64_t now_ns)
{
	for (unsigned i = 0; i < TSQ__DQL_HIST_WORDS; i++)
		tsq_store(&d->snd.hist[i], 0, TSQ_RELAXED);
	tsq_store(&d->snd.hist_head, (now_ns >> tsq__dql_tick_shift(thrs)) / 64, TSQ_RELAXED);
	tsq_store(&d->snd.hist_seq, 0, TSQ_RELAXED);
	tsq_store(&d->cmp.last_reap_ns, now_ns, TSQ_RELAXED);
}

/* The sender notes "something was queued in the tick of now_ns". */
static inline void tsq__dql_hist_note(struct tsq_dql *d, uint64_t thrs, uint64_t now_ns)
{
	uint64_t tick = now_ns >> tsq__dql_tick_shift(thrs);
	uint64_t word = tick / 64, head = tsq_load(&d->snd.hist_head, TSQ_RELAXED);
	uint64_t *w, bit = 1ull << (tick % 64), old;

	if (word != head) {
		uint64_t ahead = word - head, seq;

		if (ahead > (uint64_t)INT64_MAX) {
			/* The caller's clock is behind the history: note it if still covered. */
			if (head - word >= TSQ__DQL_HIST_WORDS)
				return;
		} else {
			/*
			 * Move the window forward: the words that now stand for new ticks are
			 * cleared. A reader that sees any of these stores sees the odd sequence
			 * on its re-read and retries.
			 */
			seq = tsq_load(&d->snd.hist_seq, TSQ_RELAXED);
			tsq_store(&d->snd.hist_seq, seq + 1, TSQ_RELAXED);
			if (ahead > TSQ__DQL_HIST_WORDS)
				ahead = TSQ__DQL_HIST_WORDS;
			for (uint64_t i = 1; i <= ahead; i++) /* DQL_R4, pairs with DQL_A4 */
				tsq_store(&d->snd.hist[(head + i) % TSQ__DQL_HIST_WORDS], 0,
					  TSQ_RELEASE);
			/* DQL_R4, pairs with DQL_A4 */
			tsq_store(&d->snd.hist_head, word, TSQ_RELEASE);
			/* DQL_R3, pairs with DQL_A3 */
			tsq_store(&d->snd.hist_seq, seq + 2, TSQ_RELEASE);
		}
	}
	w = &d->snd.hist[word % TSQ__DQL_HIST_WORDS];
	old = tsq_load(w, TSQ_RELAXED);
	if (!(old & bit))
		tsq_store(w, old | bit, TSQ_RELEASE); /* DQL_R4, pairs with DQL_A4 */
}

/*
 * The completion's stall check: if at least thrs passed since the previous completion, look
 * for a tick after that completion and at least thrs/2 before now in which something was
 * queued (it waited half a threshold and no completion came for a whole one).
 */
static inline void tsq__dql_check_stall(struct tsq_dql *d, uint64_t thrs, uint64_t now_ns)
{
	uint64_t reap = tsq_load(&d->cmp.last_reap_ns, TSQ_RELAXED);
	unsigned shift;

	if (thrs == 0 || tsq__dql_elapsed(now_ns, reap) < thrs)
		goto out;
	shift = tsq__dql_tick_shift(thrs);
	for (int tries = 0; tries < TSQ__DQL_STALL_RETRIES; tries++) {
		/* DQL_A3, pairs with DQL_R3 */
		uint64_t seq = tsq_load(&d->snd.hist_seq, TSQ_ACQUIRE);
		uint64_t head, start, end, last, n, t = 0;
		bool found = false;

		if (seq & 1)
			continue;
		head = tsq_load(&d->snd.hist_head, TSQ_ACQUIRE); /* DQL_A4, pairs with DQL_R4 */
		end = head * 64 + 63;                            /* newest tick held */
		start = end - (TSQ__DQL_HIST_TICKS - 1);         /* oldest tick held */
		if ((reap >> shift) + 1 - start <= (uint64_t)INT64_MAX)
			start = (reap >> shift) + 1; /* only ticks after the last completion */
		last = (now_ns - thrs / 2) >> shift;
		if (end - last <= (uint64_t)INT64_MAX)
			end = last; /* only what has waited at least half a threshold */
		n = end - start;
		if (n > (uint64_t)INT64_MAX)
			break; /* empty window */
		n = n + 1 < TSQ__DQL_HIST_TICKS ? n + 1 : TSQ__DQL_HIST_TICKS;
		for (uint64_t i = 0; i < n && !found; i++) {
			t = start + i;
			/* DQL_A4 */
			found = (tsq_load(&d->snd.hist[(t / 64) % TSQ__DQL_HIST_WORDS],
					  TSQ_ACQUIRE) >>
				 (t % 64)) &
				1;
		}
		/* The acquire loads above keep this re-read after them (a fenceless seqlock). */
		if (tsq_load(&d->snd.hist_seq, TSQ_RELAXED) != seq)
			continue;
		if (found) {
			uint64_t waited = tsq__dql_elapsed(now_ns, t << shift);

			tsq_counter_add_owner(&d->cmp.stalls, 1);
			if (waited > tsq_load(&d->cmp.stall_max_ns, TSQ_RELAXED))
				tsq_store(&d->cmp.stall_max_ns, waited, TSQ_RELAXED);
		}
		break;
	}
out:
	tsq_store(&d->cmp.last_reap_ns, now_ns, TSQ_RELAXED);
}

/* ---- setup ---------------------------------------------------------------------------------- */

/*
 * tsq_dql_reset - forget everything queued and learned: nothing in flight, the limit back to
 * min_limit, not stopped, slack watch and stall history restarted at now_ns. Configuration
 * and the statistics counters are kept (the kernel's dql_reset / netdev_tx_reset_queue).
 * Context: no sender or completion may run (e.g. the ring is down). Blocks: never.
 * Ordering: relaxed stores; publish the queue to other threads afterwards (thread start, a
 * lock, a release store).
 */
static inline void tsq_dql_reset(struct tsq_dql *d, uint64_t now_ns)
{
	uint32_t min = tsq_load(&d->cmp.min_limit, TSQ_RELAXED);

	tsq_store(&d->snd.num_queued, 0, TSQ_RELAXED);
	tsq_store(&d->snd.last_obj, 0, TSQ_RELAXED);
	tsq_store(&d->snd.stopped, 0, TSQ_RELAXED);
	tsq_store(&d->snd.snap, (uint64_t)min, TSQ_RELAXED);
	tsq_store(&d->cmp.limit, min, TSQ_RELAXED);
	tsq_store(&d->cmp.num_completed, 0, TSQ_RELAXED);
	d->cmp.prev_ovlimit = 0;
	d->cmp.prev_num_queued = 0;
	d->cmp.prev_last_obj = 0;
	d->cmp.lowest_slack = UINT64_MAX;
	d->cmp.slack_start_ns = now_ns;
	tsq__dql_hist_reset(d, tsq_load(&d->snd.stall_thrs_ns, TSQ_RELAXED), now_ns);
}

/*
 * tsq_dql_init - set up a queue; opts may be NULL for the kernel's defaults (limits 0 and
 * TSQ_DQL_MAX_LIMIT, hold 1 s, stall detection off). now_ns starts the clock.
 * Context: before the queue is shared. Blocks: never. Ordering: none (as tsq_dql_reset).
 * Return: 0; -EINVAL for a NULL queue, opts->size smaller than the first version of the
 * struct or larger with non-zero unknown bytes, max_limit > TSQ_DQL_MAX_LIMIT or
 * min_limit > max_limit (after 0 became the default); nothing changed.
 */
static inline int tsq_dql_init(struct tsq_dql *d, const struct tsq_dql_opts *opts, uint64_t now_ns)
{
	const size_t v1 = offsetof(struct tsq_dql_opts, stall_thrs_ns) + sizeof(uint64_t);
	struct tsq_dql_opts o;
	uint32_t max;

	if (d == NULL || !tsq__opts_read(opts, v1, &o, sizeof(o)))
		return -EINVAL;
	max = o.max_limit != 0 ? o.max_limit : TSQ_DQL_MAX_LIMIT;
	if (max > TSQ_DQL_MAX_LIMIT || o.min_limit > max)
		return -EINVAL;
	d->snd.magic = TSQ__DQL_MAGIC;
	d->snd.busy = 0;
	d->snd.stall_thrs_ns = o.stall_thrs_ns;
	d->snd.stops = 0;
	d->snd.recheck_saves = 0;
	d->cmp.min_limit = o.min_limit;
	d->cmp.max_limit = max;
	d->cmp.hold_ns = o.hold_ns != 0 ? o.hold_ns : TSQ_DQL_HOLD_NS_DEFAULT;
	d->cmp.busy = 0;
	d->cmp.restarts = 0;
	d->cmp.grows = 0;
	d->cmp.shrinks = 0;
	d->cmp.stalls = 0;
	d->cmp.stall_max_ns = 0;
	tsq_dql_reset(d, now_ns);
	return 0;
}

/*
 * tsq_dql_set_limits - bound the limit to [min, max] from the next completion on (the
 * sysfs limit_min / limit_max).
 * Context: any thread. Blocks: never. Ordering: two relaxed stores; a completion that runs
 * meanwhile may clamp with one old and one new bound once (never above either max).
 * Return: 0; -EINVAL if min > max or max > TSQ_DQL_MAX_LIMIT (nothing changed).
 */
static inline int tsq_dql_set_limits(struct tsq_dql *d, uint32_t min, uint32_t max)
{
	if (min > max || max > TSQ_DQL_MAX_LIMIT)
		return -EINVAL;
	tsq_store(&d->cmp.min_limit, min, TSQ_RELAXED);
	tsq_store(&d->cmp.max_limit, max, TSQ_RELAXED);
	return 0;
}

/*
 * tsq_dql_set_hold_time - how long the slack must stay before the limit shrinks (0: shrink
 * at the first busy round). Any value is accepted.
 * Context: any thread. Blocks: never. Ordering: relaxed store.
 */
static inline void tsq_dql_set_hold_time(struct tsq_dql *d, uint64_t hold_ns)
{
	tsq_store(&d->cmp.hold_ns, hold_ns, TSQ_RELAXED);
}

/*
 * tsq_dql_set_stall_thrs - switch the stall detector on (thrs_ns > 0) or off (0) and restart
 * its history at now_ns (the history's tick depends on the threshold).
 * Context: no sender or completion may run (as tsq_dql_reset). Blocks: never.
 * Ordering: relaxed stores.
 */
static inline void tsq_dql_set_stall_thrs(struct tsq_dql *d, uint64_t thrs_ns, uint64_t now_ns)
{
	tsq_store(&d->snd.stall_thrs_ns, thrs_ns, TSQ_RELAXED);
	tsq__dql_hist_reset(d, thrs_ns, now_ns);
}

/* ---- the sender ------------------------------------------------------------------------------ */

/*
 * tsq_dql_avail - limit minus the bytes in flight, as of the last completion's snapshot:
 * >= 0 there is room, < 0 the queue is over its limit.
 * Context: any thread; exact for the sender (it wrote num_queued) and the completion (it
 * wrote the snapshot); elsewhere a hint. Blocks: never.
 * Ordering: relaxed loads (tsq_dql_tx_sent()'s re-check uses DQL_S2 instead).
 * Return: the room in bytes, in [-TSQ_DQL_MAX_INFLIGHT, TSQ_DQL_MAX_LIMIT].
 */
static inline int64_t tsq_dql_avail(const struct tsq_dql *d)
{
	return tsq__dql_avail_of(tsq_load(&d->snd.num_queued, TSQ_RELAXED),
				 tsq_load(&d->snd.snap, TSQ_RELAXED));
}

/*
 * tsq_dql_charge - account an object of `count` bytes handed to the ring (dql_queued), and
 * note the time for the stall detector when it is on. Does not look at the limit: the
 * caller reads tsq_dql_avail(), or uses tsq_dql_tx_sent().
 * Context: the sender, before the object can complete (before the ring's producer index
 * shows it to the device). Blocks: never.
 * Ordering: relaxed stores of the sender's counters; the ring's own publication orders them
 * before the completion of the object. History stores DQL_R3/DQL_R4 when the stall detector is on.
 * Return: 0; -EINVAL if count > TSQ_DQL_MAX_OBJECT; -EOVERFLOW if more than
 * TSQ_DQL_MAX_INFLIGHT bytes would be in flight. On an error nothing is accounted: do not
 * complete those bytes.
 */
static inline int tsq_dql_charge(struct tsq_dql *d, uint32_t count, uint64_t now_ns)
{
	uint32_t nq = tsq_load(&d->snd.num_queued, TSQ_RELAXED);
	uint64_t thrs, snap = tsq_load(&d->snd.snap, TSQ_RELAXED);

	tsq__dql_check_init(d, "tsq_dql_charge");
	if (count > TSQ_DQL_MAX_OBJECT)
		return -EINVAL;
	/*
	 * The snapshot's completed count trails the real one, so this over-estimates what is in
	 * flight: the bound holds for the real count too, and every u32 difference stays exact.
	 */
	if ((uint64_t)(uint32_t)(nq - (uint32_t)(snap >> 32)) + count > TSQ_DQL_MAX_INFLIGHT)
		return -EOVERFLOW;
	tsq__dql_enter(&d->snd.busy, "tsq_dql_charge", "two senders at once (serialise them)");
	tsq_store(&d->snd.last_obj, count, TSQ_RELAXED);
	tsq_store(&d->snd.num_queued, nq + count, TSQ_RELAXED);
	thrs = tsq_load(&d->snd.stall_thrs_ns, TSQ_RELAXED);
	if (thrs != 0)
		tsq__dql_hist_note(d, thrs, now_ns);
	tsq__dql_leave(&d->snd.busy);
	return 0;
}

/*
 * tsq_dql_tx_sent - tsq_dql_charge(), then stop the queue if it went over its limit
 * (netdev_tx_sent_queue).
 * Context: the sender, as tsq_dql_charge(). Blocks: never.
 * Ordering: over the limit, the sender sets STOPPED and re-checks. The race it closes: the
 * last completion publishes room and reads STOPPED still clear just before the sender sets
 * it; the sender, which read the old snapshot, then stops with nothing left to restart it.
 * Closed with a store-buffering (Dekker) pair:
 *     sender:      DQL_S1 SEQ_CST RMW set STOPPED;        DQL_S2 SEQ_CST load of the snapshot
 *     completion:  DQL_S2 SEQ_CST store of the snapshot;  DQL_S1 SEQ_CST load of STOPPED
 * At least one side sees the other: the sender sees the room and withdraws its stop, or the
 * completion sees STOPPED and restarts the queue. Acquire/release is NOT enough (both loads
 * may read old values while the stores sit in store buffers): tests/check/dql_model.c.
 * Return: TSQ_DQL_SENT (0) - go on; TSQ_DQL_STOPPED - stopped: feed nothing more until a
 * completion returns TSQ_DQL_RESTART (a restart may also come while running: harmless); a
 * negative errno of tsq_dql_charge() (nothing accounted, nothing stopped).
 */
static inline int tsq_dql_tx_sent(struct tsq_dql *d, uint32_t bytes, uint64_t now_ns)
{
	int rc = tsq_dql_charge(d, bytes, now_ns);

	if (rc < 0)
		return rc;
	if (tsq_likely(tsq_dql_avail(d) >= 0))
		return TSQ_DQL_SENT;
	/* DQL_S1, pairs with DQL_S1/DQL_X1 in tx_completed */
	tsq_fetch_or(&d->snd.stopped, TSQ__DQL_F_STOPPED, TSQ_SEQ_CST);
	TSQ__DQL_HOOK("stop-set", d);
	/* DQL_S2 (the re-check load of the snapshot), pairs with DQL_S2 in complete */
	if (tsq__dql_avail_of(tsq_load(&d->snd.num_queued, TSQ_RELAXED),
			      tsq_load(&d->snd.snap, TSQ_SEQ_CST)) < 0) {
		tsq_counter_add_owner(&d->snd.stops, 1);
		return TSQ_DQL_STOPPED;
	}
	/* A completion made room meanwhile: we keep running, so withdraw the stop. */
	tsq_fetch_and(&d->snd.stopped, ~TSQ__DQL_F_STOPPED, TSQ_RELAXED);
	tsq_counter_add_owner(&d->snd.recheck_saves, 1);
	return TSQ_DQL_SENT;
}

/*
 * tsq_dql_stopped - is the queue stopped (tsq_dql_tx_sent returned TSQ_DQL_STOPPED and no
 * restart has cleared it)? A sender batching doorbells (the kernel's xmit_more) rings at
 * once when it finds the queue stopped after a tsq_dql_charge(): nothing else will.
 * Context: any thread; a hint off the sender's thread. Blocks: never.
 * Ordering: relaxed load.
 * Return: true if STOPPED is set.
 */
static inline bool tsq_dql_stopped(const struct tsq_dql *d)
{
	return (tsq_load(&d->snd.stopped, TSQ_RELAXED) & TSQ__DQL_F_STOPPED) != 0;
}

/* ---- the completion ------------------------------------------------------------------------- */

/*
 * tsq_dql_complete - account `count` bytes completed and move the limit (dql_completed):
 * grow when the queue starved, shrink by the lowest slack once hold_ns has passed, clamp
 * to [min_limit, max_limit]; then the stall check, and publish the new limit.
 * Context: the completion context (one at a time), once per completion round. count may be
 * 0 (the algorithm still runs). Blocks: never.
 * Ordering: DQL_S2, the SEQ_CST store of the snapshot (limit, completed): the store half of the
 * completion's Dekker pair. Stall check: DQL_A3/DQL_A4.
 * Return: 0; -EINVAL if count is more than the bytes in flight (nothing changed).
 */
static inline int tsq_dql_complete(struct tsq_dql *d, uint32_t count, uint64_t now_ns)
{
	uint32_t nq = tsq_load(&d->snd.num_queued, TSQ_RELAXED);
	uint32_t nc = d->cmp.num_completed, limit = d->cmp.limit;
	uint32_t prev_nq = d->cmp.prev_num_queued, prev_ov = d->cmp.prev_ovlimit;
	uint32_t completed, inflight, ovlimit, inprogress, min, max;
	uint64_t next = limit;
	bool all_prev_done;

	tsq__dql_check_init(d, "tsq_dql_complete");
	inflight = nq - nc;
	if (count > inflight)
		return -EINVAL;
	tsq__dql_enter(&d->cmp.busy, "tsq_dql_complete",
		       "two completions at once (serialise them)");
	completed = nc + count;
	ovlimit = tsq__dql_posdiff(inflight, limit);
	inprogress = nq - completed;
	/* Everything that was queued at the previous completion has now completed. */
	all_prev_done = tsq__dql_after_eq(completed, prev_nq);

	if ((ovlimit != 0 && inprogress == 0) || (prev_ov != 0 && all_prev_done)) {
		/*
		 * Starved: over the limit and drained, or over it last round and everything of that
		 * round is done (the device may have gone idle before the next object). Grow by
		 * what completed beyond last round's queue plus last round's excess (64-bit: this
		 * sum may pass 2^32 before the clamp).
		 */
		next += (uint64_t)(all_prev_done ? completed - prev_nq : 0) + prev_ov;
		d->cmp.slack_start_ns = now_ns;
		d->cmp.lowest_slack = UINT64_MAX;
	} else if (inprogress != 0 && prev_nq != nc && !all_prev_done) {
		/*
		 * Busy all round: slack is the excess of the limit over twice what this round
		 * completed, but at least the part of the last object that was under the limit.
		 */
		uint64_t slack = (uint64_t)limit + prev_ov, twice = 2ull * count;
		uint64_t last_objs =
			prev_ov != 0 ? tsq__dql_posdiff(d->cmp.prev_last_obj, prev_ov) : 0;

		slack = slack > twice ? slack - twice : 0;
		if (slack < last_objs)
			slack = last_objs;
		if (slack < d->cmp.lowest_slack)
			d->cmp.lowest_slack = slack;
		if (tsq__dql_elapsed(now_ns, d->cmp.slack_start_ns) >
		    tsq_load(&d->cmp.hold_ns, TSQ_RELAXED)) {
			next = next > d->cmp.lowest_slack ? next - d->cmp.lowest_slack : 0;
			d->cmp.slack_start_ns = now_ns;
			d->cmp.lowest_slack = UINT64_MAX;
		}
	}
	min = tsq_load(&d->cmp.min_limit, TSQ_RELAXED);
	max = tsq_load(&d->cmp.max_limit, TSQ_RELAXED);
	if (next < min)
		next = min;
	if (next > max)
		next = max; /* <= TSQ_DQL_MAX_LIMIT: fits in 32 bits */
	if ((uint32_t)next != limit) {
		tsq_counter_add_owner(next > limit ? &d->cmp.grows : &d->cmp.shrinks, 1);
		limit = (uint32_t)next;
		tsq_store(&d->cmp.limit, limit, TSQ_RELAXED);
		ovlimit = 0; /* a new limit: last round's excess no longer says anything */
	}
	d->cmp.prev_ovlimit = ovlimit;
	d->cmp.prev_last_obj = tsq_load(&d->snd.last_obj, TSQ_RELAXED);
	d->cmp.prev_num_queued = nq;
	tsq_store(&d->cmp.num_completed, completed, TSQ_RELAXED);
	tsq__dql_check_stall(d, tsq_load(&d->snd.stall_thrs_ns, TSQ_RELAXED), now_ns);
	/* DQL_S2, pairs with DQL_S2 in tx_sent */
	tsq_store(&d->snd.snap, ((uint64_t)completed << 32) | limit, TSQ_SEQ_CST);
	tsq__dql_leave(&d->cmp.busy);
	return 0;
}

/*
 * tsq_dql_tx_completed - tsq_dql_complete(), then restart the queue if it is stopped and
 * now has room (netdev_tx_completed_queue). bytes == 0 does nothing at all.
 * Context: the completion context (one at a time), once per completion round.
 * Blocks: never.
 * Ordering: DQL_S2 (in tsq_dql_complete), then DQL_S1, a SEQ_CST load of STOPPED: the load half of
 * the Dekker pair. When it reads the sender's DQL_S1 it also synchronises with it, so the
 * num_queued read for avail afterwards is the sender's latest. Exactly one caller wins
 * STOPPED -> clear (DQL_X1, an ACQ_REL RMW; the sender's own withdrawal is the other contender).
 * Return: TSQ_DQL_COMPLETED (0) - nothing to do; TSQ_DQL_RESTART - this caller cleared
 * STOPPED and must restart the queue (wake the sender); -EINVAL as tsq_dql_complete()
 * (nothing changed).
 */
static inline int tsq_dql_tx_completed(struct tsq_dql *d, uint32_t bytes, uint64_t now_ns)
{
	int rc;

	if (bytes == 0)
		return TSQ_DQL_COMPLETED;
	rc = tsq_dql_complete(d, bytes, now_ns);
	if (rc < 0)
		return rc;
	if (tsq_likely(!(tsq_load(&d->snd.stopped, TSQ_SEQ_CST) & TSQ__DQL_F_STOPPED))) /* DQL_S1 */
		return TSQ_DQL_COMPLETED;
	/* Still over: a later completion (bytes are in flight) restarts it. */
	if (tsq_dql_avail(d) < 0)
		return TSQ_DQL_COMPLETED;
	if (!(tsq_fetch_and(&d->snd.stopped, ~TSQ__DQL_F_STOPPED, TSQ_ACQ_REL) & /* DQL_X1 */
	      TSQ__DQL_F_STOPPED))
		return TSQ_DQL_COMPLETED;
	tsq_counter_add_owner(&d->cmp.restarts, 1);
	return TSQ_DQL_RESTART;
}

/* ---- readers -------------------------------------------------------------------------------- */

/*
 * tsq_dql_limit - the current limit in bytes.
 * Context: any thread. Blocks: never. Ordering: relaxed load.
 * Return: the limit.
 */
static inline uint32_t tsq_dql_limit(const struct tsq_dql *d)
{
	return tsq_load(&d->cmp.limit, TSQ_RELAXED);
}

/*
 * tsq_dql_inflight - bytes queued and not yet completed (the sysfs inflight).
 * Context: any thread; exact for the sender and the completion, a hint elsewhere.
 * Blocks: never. Ordering: relaxed loads.
 * Return: the byte count (0 if a stale pair of loads would make it negative).
 */
static inline uint32_t tsq_dql_inflight(const struct tsq_dql *d)
{
	uint32_t nc = tsq_load(&d->cmp.num_completed, TSQ_RELAXED);
	uint32_t v = tsq_load(&d->snd.num_queued, TSQ_RELAXED) - nc;

	return v <= TSQ_DQL_MAX_INFLIGHT ? v : 0;
}

/*
 * tsq_dql_stats - configuration, state and counters in one struct.
 * Context: any thread (each field exact when the queue is quiet). Blocks: never.
 * Ordering: relaxed loads.
 * Return: 0; -EINVAL for NULL arguments.
 */
static inline int tsq_dql_stats(const struct tsq_dql *d, struct tsq_dql_stats *out)
{
	if (d == NULL || out == NULL)
		return -EINVAL;
	out->limit = tsq_dql_limit(d);
	out->min_limit = tsq_load(&d->cmp.min_limit, TSQ_RELAXED);
	out->max_limit = tsq_load(&d->cmp.max_limit, TSQ_RELAXED);
	out->inflight = tsq_dql_inflight(d);
	out->avail = tsq_dql_avail(d);
	out->stopped = tsq_dql_stopped(d);
	out->hold_ns = tsq_load(&d->cmp.hold_ns, TSQ_RELAXED);
	out->stall_thrs_ns = tsq_load(&d->snd.stall_thrs_ns, TSQ_RELAXED);
	out->stops = tsq_load(&d->snd.stops, TSQ_RELAXED);
	out->recheck_saves = tsq_load(&d->snd.recheck_saves, TSQ_RELAXED);
	out->restarts = tsq_load(&d->cmp.restarts, TSQ_RELAXED);
	out->grows = tsq_load(&d->cmp.grows, TSQ_RELAXED);
	out->shrinks = tsq_load(&d->cmp.shrinks, TSQ_RELAXED);
	out->stalls = tsq_load(&d->cmp.stalls, TSQ_RELAXED);
	out->stall_max_ns = tsq_load(&d->cmp.stall_max_ns, TSQ_RELAXED);
	return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_DQL_H */
