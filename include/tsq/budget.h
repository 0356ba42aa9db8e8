/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/budget.h - the small-queue limiter (TCP Small Queues' byte budget).
 *
 * Overview
 *   A flow may have only so many bytes *below* it - in a TX ring, a qdisc, a device - so that
 *   a bulk sender cannot bury everyone else's packets behind megabytes of its own. The budget
 *   counts what the flow handed down and what came back (its in-flight cost, the kernel's
 *   sk_wmem_alloc), and allows the next unit while
 *
 *       in_flight < limit,  limit = min(max(2 * next_cost, pacing_rate >> shift), cap) << factor
 *
 *   (the kernel's 1 + sk_wmem_alloc <= limit), and always when nothing is in flight: about
 *   two units, or ~1 ms at the pacing rate (shift 10), never above the cap; factor
 *   1 doubles it for retransmits. Optionally ("allow_one", the kernel's 2023 relaxation) a flow
 *   with zero or one unit in flight may always send: on devices with slow completions a
 *   completion round-trip per unit would otherwise throttle it.
 *
 *   Over the limit, the sender sets THROTTLED, issues a full fence and re-checks: the Dekker
 *   pair with the completion (uncharge, then read THROTTLED) that guarantees a restart is
 *   never lost (see tsq_budget_may_send()). A completion that finds the flow THROTTLED moves it
 *   to QUEUED (one winner) and the caller queues the flow for its worker (tsq/flow.h does it).
 *
 *   Costs are caller-given (payload + overhead, like skb->truesize). Charge before the unit
 *   can complete (before it is published to the ring), uncharge exactly once per charge.
 *
 *   The learned rate (the default: no rate set, opts->no_rate_learning false)
 *     A stack without a pacing rate (lwIP, a QUIC stack without pacing) would be limited by
 *     the cap alone - 4 MiB, more than most device queues hold, so TSQ would never stop it.
 *     Until tsq_budget_set_pacing_rate() is called the budget therefore learns a delivery
 *     rate from its own completions, as BQL learns from them, and uses it as the pacing rate:
 *     a sample is the bytes completed between two completion timestamps at least one window
 *     apart (opts->rate_window_ns, 1 ms), the kernel's delivery-rate sample (tcp_rate.c)
 *     with completions for ACKs; the rate used is the larger of the last two samples (one
 *     window that caught a gap between completion batches reads low). The limit is then
 *     ~1 ms of what the flow actually delivers, and never below the two-unit floor, so a
 *     flow keeps going whatever the estimate. A window in which the flow ran empty (a
 *     completion took its last unit in flight) may hold an idle gap: like the kernel's
 *     application-limited samples, its sample may raise the rate, never lower it. Until
 *     the first window closes (about 1 ms after the first completion) the startup limit
 *     takes the pacing term's place: TSQ_BUDGET_CAP_2012 (128 KiB), still at least two units
 *     and at most the cap - not the cap alone, which would let a sender faster than its
 *     link fill the device queue with up to 4 MiB before the first sample (the kernel always
 *     has a pacing rate, so it never starts that way).
 *
 *   Misuse and bad input (tests/README.md has the table)
 *     - No overflow at any cost or cap: the check stops at TSQ_BUDGET_MAX_INFLIGHT bytes
 *       (1 TiB - 4 GiB: a limit saturates there) or TSQ_BUDGET_MAX_UNITS units in flight,
 *       whatever the limit, so one charge after a "go" always fits the packed fields.
 *       Charging past a "stop" (or without checking) until the fields overflow is caught
 *       under TSQ_DEBUG.
 *     - A completion without a charge, or a second one: caught under TSQ_DEBUG; otherwise
 *       in-flight is clamped at zero (units and bytes) and counted (unmatched_completions).
 *
 * Usage
 *     struct tsq_budget b;  struct tsq_flags fl = TSQ_FLAGS_INIT;
 *     tsq_budget_init(&b, NULL);                       // cap 4 MiB, shift 10, rate learned
 *     tsq_budget_set_pacing_rate(&b, 125000000);       // have one? 1 Gbit/s in bytes/s
 *     while (have_data() && tsq_budget_may_send(&b, &fl, cost, 0)) {
 *         tsq_budget_charge(&b, cost);  hand_to_ring(cost);
 *     }
 *     // completion context, for each unit (or tsq_budget_complete_n() for several at once):
 *     if (tsq_budget_complete(&b, &fl, cost)) queue_flow_for_its_worker();
 *   (tests/unit/test_budget.c compiles and runs this block as `usage_block_runs`.)
 *
 * Synchronization table ('-': safe concurrently, 'X': the caller must serialise)
 *                             may_send  charge  complete  set_pacing_rate  limit,           init
 *                                                                          inflight, stats
 *     may_send                   X        X        -             X                -          X
 *     charge                     X        X        -             X                -          X
 *     complete                   -        -        -             -                -          X
 *     set_pacing_rate            X        X        -             X                -          X
 *     limit, inflight, stats     -        -        -             -                -          X
 *     init                       X        X        X             X                X          X
 *   may_send, charge and set_pacing_rate (and learn_rate) belong to the sender (one thread at
 *   a time: the flow's owner, or whoever holds the flow's send lock); complete (and
 *   complete_at, complete_n, complete_n_at) may run on any thread, concurrently with
 *   everything, each other included; limit, inflight, rate and stats are relaxed reads for
 *   anyone.
 *   size_goal and size_goal_half_limit are pure functions of their arguments (no budget).
 *
 * Memory ordering (labels: R release, A acquire, S seq_cst or fence, X acq_rel RMW; FLAGS_S1 and
 * FLAGS_X3 are flags.h's, the other halves of the same protocol)
 *   BUDGET_S2 in-flight: the completion's SEQ_CST RMW uncharge (and its fix-up of an unmatched
 *      completion) in complete (complete_n: one for all its units); the sender's SEQ_CST
 *      re-check load in may_send.
 *   FLAGS_S1 THROTTLED (flags.h): the sender's SEQ_CST RMW (tsq_flags_throttle) in may_send; the
 *      completion's SEQ_CST load (tsq_flags_load_seqcst) in complete, after its BUDGET_S2.
 *      FLAGS_S1 and BUDGET_S2 form a store-buffering (Dekker) pair: with all four accesses SEQ_CST
 *      either the sender's re-check sees the room or the completion sees THROTTLED.
 *   FLAGS_X3 (flags.h): tsq_flags_throttled_to_queued picks one winner among the completions.
 *   charge, set_pacing_rate and the counters are relaxed: numbers, not publications (the
 *   unit's own publication to the lower layer orders its charge before its completion).
 *   BUDGET_A5/BUDGET_R5, the learning window: the completion that closes a window claims it
 *   with an acquire CAS (BUDGET_A5, BUSY set) and hands it on with a release CAS (BUDGET_R5),
 *   so the next closer sees the window's start bytes and the last sample it wrote. Others
 *   never wait: they see BUSY and skip. The learned rate itself is a relaxed store and load -
 *   the limit may use a rate one window old, which no restart depends on (a THROTTLED flow
 *   always has a unit in flight, whose completion restarts it whatever the limit has become;
 *   tests/check/tsq_model.c, model (c)).
 *
 * Limitations
 *   In-flight bytes are kept in 40 bits (1 TiB) and units in 24 bits (16 M): one 64-bit word,
 *   so a completion is one atomic read-modify-write. A single cost must be < 2^32 (the type
 *   says so). The check therefore never lets more than TSQ_BUDGET_MAX_INFLIGHT bytes or
 *   TSQ_BUDGET_MAX_UNITS units be in flight, whatever the cap. The clamp of an unmatched
 *   completion is exact when no other completion of the flow runs at the same moment (the
 *   misuse itself is the caller's bug; TSQ_DEBUG stops at it).
 *   The learned rate is what the flow delivered: if completions plus the restart take about
 *   1 ms or more to come back, a flow held at the limit delivers less than the link could
 *   and the learned rate settles below it (the floor still keeps the flow going); set a rate
 *   there. A learning tsq_budget_complete() reads the clock (TSQ_CFG_NOW_NS()) about 16
 *   times per window, not per completion, so its window closes up to ~1/16 window late;
 *   tsq_budget_complete_at() takes the caller's time at every completion.
 */
#ifndef TSQ_BUDGET_H
#define TSQ_BUDGET_H

#include <errno.h>

#include "atomic.h"
#include "flags.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Today's kernel cap (net.ipv4.tcp_limit_output_bytes, 4 MiB since 2025). */
#define TSQ_BUDGET_CAP_DEFAULT (4ull << 20)
/*
 * The fixed limit of TSQ as it was merged in 2012 (no pacing term yet): 128 KiB. Also the
 * startup limit of a learning budget before its first rate sample.
 */
#define TSQ_BUDGET_CAP_2012 (128ull << 10)
/* limit ~ 1 ms of the pacing rate: rate >> 10 (sk_pacing_shift's default). */
#define TSQ_BUDGET_PACING_SHIFT_DEFAULT 10u
/* "No pacing rate yet": the pacing term then never limits (the kernel's ~0UL). */
#define TSQ_BUDGET_RATE_UNLIMITED UINT64_MAX

/* The learning window: a rate sample is the bytes completed over at least this long. */
#define TSQ_BUDGET_RATE_WINDOW_NS_DEFAULT 1000000ull /* 1 ms */

/*
 * The clock of tsq_budget_complete() (tsq_budget_complete_at() takes the caller's):
 * TSQ_CFG_NOW_NS() returns nanoseconds as a uint64_t, e.g. a simulator's virtual clock.
 * Default: CLOCK_MONOTONIC (also under strict ISO C on Linux, which hides its declaration),
 * else C11's timespec_get(TIME_UTC) (a clock that goes backwards only drops a window).
 */
#ifndef TSQ_CFG_NOW_NS
#include <time.h>
#if !defined(CLOCK_MONOTONIC) && defined(__linux__) && !defined(__cplusplus)
/* glibc and musl declare it only for POSIX; the symbol is always there, clockid_t an int. */
extern int clock_gettime(int clock_id, struct timespec *ts);
#define TSQ__BUDGET_CLOCK_MONOTONIC 1 /* CLOCK_MONOTONIC in the Linux ABI */
#elif defined(CLOCK_MONOTONIC)
#define TSQ__BUDGET_CLOCK_MONOTONIC CLOCK_MONOTONIC
#endif
static inline uint64_t tsq__budget_clock_ns(void)
{
	struct timespec ts;

#ifdef TSQ__BUDGET_CLOCK_MONOTONIC
	if (clock_gettime(TSQ__BUDGET_CLOCK_MONOTONIC, &ts) != 0)
		return 0;
#else
	if (timespec_get(&ts, TIME_UTC) == 0)
		return 0;
#endif
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#define TSQ_CFG_NOW_NS() tsq__budget_clock_ns()
#endif

#define TSQ__BUDGET_UNITS_SHIFT 40
#define TSQ__BUDGET_BYTES_MASK ((1ull << TSQ__BUDGET_UNITS_SHIFT) - 1)
#define TSQ__BUDGET_ONE_UNIT (1ull << TSQ__BUDGET_UNITS_SHIFT)
/*
 * The most the check lets be in flight, whatever the limit: bytes below which one more unit
 * of any cost (< 2^32) still fits the 40-bit field, and the largest 24-bit unit count.
 */
#define TSQ_BUDGET_MAX_INFLIGHT (TSQ__BUDGET_BYTES_MASK - UINT32_MAX)     /* 2^40 - 2^32 */
#define TSQ_BUDGET_MAX_UNITS ((1u << (64 - TSQ__BUDGET_UNITS_SHIFT)) - 1) /* 2^24 - 1 */

/* The window word: start time in ns with its three low bits used as flags. */
#define TSQ__BUDGET_WIN_BUSY 1ull /* a completion is closing the window: others skip */
#define TSQ__BUDGET_WIN_IDLE 2ull /* the flow ran empty in it: its sample may only raise the rate */
#define TSQ__BUDGET_WIN_NEW 4ull  /* no window open: the next completion opens one */
#define TSQ__BUDGET_WIN_FLAGS 7ull

/*
 * Options of tsq_budget_init() and tsq_flow_init() (NULL: today's kernel defaults). Set size
 * to sizeof(struct tsq_budget_opts): an older, smaller struct reads the fields it lacks as
 * zero; a newer, larger one is refused (-EINVAL) if its unknown tail is not zero.
 */
struct tsq_budget_opts {
	size_t size;           /* sizeof(struct tsq_budget_opts): forward compatibility */
	uint64_t cap;          /* bytes; 0 means TSQ_BUDGET_CAP_DEFAULT */
	unsigned pacing_shift; /* 0 means TSQ_BUDGET_PACING_SHIFT_DEFAULT; at most 63 */
	bool allow_one;        /* zero or one unit in flight may always go */
	/*
	 * Version 2: the rate learned from completions (see "The learned rate" above). Past the
	 * first version's sizeof, so that its tail padding never reads as a new field.
	 */
	uint64_t rate_window_ns; /* 0 means TSQ_BUDGET_RATE_WINDOW_NS_DEFAULT */
	bool no_rate_learning;   /* true: no rate until one is set, the cap alone limits */
};

/*
 * The limiter. Keep it next to the flow's struct tsq_flags (tsq_flow does): a completion
 * touches both, so they should share a cache line. Fields are private: use the functions.
 */
struct tsq_budget {
	/* The first 55 bytes are what the sender's check and every completion touch. */
	uint64_t inflight;    /* (units << 40) | bytes: sender adds, completions subtract */
	uint64_t pacing_rate; /* bytes per second set by the sender (used unless learning) */
	uint64_t rate_est;    /* learned bytes per second: the window's closer writes */
	uint64_t delivered;   /* bytes completed, modulo 2^64: completions add (learning only) */
	uint64_t win;         /* window start in ns | TSQ__BUDGET_WIN_*: completions */
	uint64_t cap;
	uint32_t pacing_shift;
	bool allow_one;
	bool learning;       /* no rate set: learn one (sender writes, completions read) */
	uint8_t clock_shift; /* complete() reads the clock when `delivered` crosses 2^this */
	/* Only the completion that holds the window (TSQ__BUDGET_WIN_BUSY) touches these two. */
	uint64_t win_delivered; /* `delivered` when the window opened */
	uint64_t rate_prev;     /* the previous window's sample */
	uint64_t window_ns;
	uint64_t throttles;     /* sender stopped (re-check confirmed): sender-written */
	uint64_t recheck_saves; /* re-check found room after setting THROTTLED: sender-written */
	uint64_t unmatched;     /* completions clamped at zero: any thread, atomic add */
	uint64_t rate_samples;  /* windows closed with a rate sample: the closer, atomic add */
	uint64_t rate_restarts; /* windows dropped (the flow ran empty, the clock went back) */
};

struct tsq_budget_stats {
	uint64_t inflight_bytes;
	uint64_t inflight_units;
	uint64_t throttles;
	uint64_t recheck_saves;
	/*
	 * Completions that found fewer units or bytes in flight than they uncharged (a completion
	 * without a charge, or twice): clamped at zero instead of wrapping. Only without TSQ_DEBUG
	 * (with it, such a completion aborts).
	 */
	uint64_t unmatched_completions;
	/*
	 * The rate the pacing term uses, bytes per second: the one set, or the learned one, or
	 * TSQ_BUDGET_RATE_UNLIMITED before a rate is set or learned (learning: the startup limit,
	 * TSQ_BUDGET_CAP_2012, stands in for the pacing term; else the cap alone limits).
	 */
	uint64_t rate;
	uint64_t rate_samples;  /* learning windows closed with a sample */
	uint64_t rate_restarts; /* windows dropped: the flow ran empty, or the clock went back */
};

/*
 * tsq_budget_init - set up a budget; opts may be NULL for today's kernel defaults.
 * Context: before the budget is shared. Blocks: never.
 * Ordering: none (plain stores); publish the budget the usual way.
 * Return: 0; -EINVAL for a NULL budget, opts->size smaller than the first version of the
 * struct or larger with non-zero unknown bytes, or pacing_shift > 63 (nothing changed).
 */
static inline int tsq_budget_init(struct tsq_budget *b, const struct tsq_budget_opts *opts)
{
	const size_t v1 = offsetof(struct tsq_budget_opts, allow_one) + sizeof(bool);
	struct tsq_budget_opts o;

	if (b == NULL || !tsq__opts_read(opts, v1, &o, sizeof(o)) || o.pacing_shift > 63)
		return -EINVAL;
	b->inflight = 0;
	b->pacing_rate = TSQ_BUDGET_RATE_UNLIMITED;
	b->rate_est = TSQ_BUDGET_RATE_UNLIMITED; /* nothing learned: the startup limit */
	b->delivered = 0;
	b->win = TSQ__BUDGET_WIN_NEW; /* the first completion opens the first window */
	b->cap = o.cap != 0 ? o.cap : TSQ_BUDGET_CAP_DEFAULT;
	b->pacing_shift = o.pacing_shift != 0 ? o.pacing_shift : TSQ_BUDGET_PACING_SHIFT_DEFAULT;
	b->allow_one = o.allow_one;
	b->learning = !o.no_rate_learning;
	b->clock_shift = 0; /* nothing learned: read the clock at every completion */
	b->win_delivered = 0;
	b->rate_prev = 0;
	b->window_ns = o.rate_window_ns != 0 ? o.rate_window_ns : TSQ_BUDGET_RATE_WINDOW_NS_DEFAULT;
	b->throttles = 0;
	b->recheck_saves = 0;
	b->unmatched = 0;
	b->rate_samples = 0;
	b->rate_restarts = 0;
	return 0;
}

/*
 * tsq_budget_set_pacing_rate - the flow's pacing rate in bytes per second; it replaces the
 * learned rate from now on (TSQ_BUDGET_RATE_UNLIMITED: no pacing term, the cap alone limits;
 * 0: the two-unit floor alone). tsq_budget_learn_rate() goes back to learning.
 * Context: the sender. Blocks: never. Ordering: relaxed stores (numbers, not publications):
 * a completion running meanwhile may still close one learning window.
 */
static inline void tsq_budget_set_pacing_rate(struct tsq_budget *b, uint64_t bytes_per_sec)
{
	tsq_store(&b->pacing_rate, bytes_per_sec, TSQ_RELAXED);
	tsq_store(&b->learning, false, TSQ_RELAXED);
}

/*
 * tsq_budget_learn_rate - forget the rate set and learn one from completions again (the
 * default after init, unless opts->no_rate_learning): until the first window closes the
 * startup limit (TSQ_BUDGET_CAP_2012, at most the cap) stands in for the rate, as after init.
 * Context: the sender. Blocks: never.
 * Ordering: relaxed stores, and a relaxed RMW that marks the window to reopen (completions
 * RMW the same word concurrently).
 */
static inline void tsq_budget_learn_rate(struct tsq_budget *b)
{
	tsq_store(&b->rate_est, TSQ_BUDGET_RATE_UNLIMITED, TSQ_RELAXED);
	tsq_store(&b->clock_shift, 0, TSQ_RELAXED);
	tsq_fetch_or(&b->win, TSQ__BUDGET_WIN_NEW, TSQ_RELAXED);
	tsq_store(&b->learning, true, TSQ_RELAXED);
}

/*
 * tsq_budget_rate - the rate the pacing term uses, in bytes per second: the one set with
 * tsq_budget_set_pacing_rate(), or else the learned one, or TSQ_BUDGET_RATE_UNLIMITED while
 * none is known (learning: the startup limit stands in for the pacing term; else the cap
 * limits). A learned rate is never 0 nor TSQ_BUDGET_RATE_UNLIMITED (a saturated sample
 * reads one less).
 * Context: any thread. Blocks: never. Ordering: relaxed loads (a snapshot).
 * Return: bytes per second.
 */
static inline uint64_t tsq_budget_rate(const struct tsq_budget *b)
{
	if (tsq_load(&b->learning, TSQ_RELAXED))
		return tsq_load(&b->rate_est, TSQ_RELAXED);
	return tsq_load(&b->pacing_rate, TSQ_RELAXED);
}

/*
 * The pacing term: rate >> shift, rate being tsq_budget_rate(); while learning with no sample
 * yet, the startup limit TSQ_BUDGET_CAP_2012 instead (the caller still applies floor and cap).
 * One relaxed load of each field, so a completion storing the first sample meanwhile yields
 * either term, never a mix.
 */
static inline uint64_t tsq__budget_term(const struct tsq_budget *b)
{
	uint64_t rate;

	if (!tsq_load(&b->learning, TSQ_RELAXED))
		return tsq_load(&b->pacing_rate, TSQ_RELAXED) >> b->pacing_shift;
	rate = tsq_load(&b->rate_est, TSQ_RELAXED);
	if (rate == TSQ_BUDGET_RATE_UNLIMITED)
		return TSQ_BUDGET_CAP_2012; /* nothing learned yet: not the cap alone */
	return rate >> b->pacing_shift;
}

/*
 * tsq_budget_limit - the byte limit for a next unit of `next_cost` bytes:
 * min(max(2 * next_cost, rate >> shift), cap) << factor, rate being tsq_budget_rate(); while
 * learning before the first sample, TSQ_BUDGET_CAP_2012 (128 KiB) replaces rate >> shift.
 * Context: any thread. Blocks: never. Ordering: relaxed reads of the configuration.
 * Return: the limit in bytes; saturates at TSQ_BUDGET_MAX_INFLIGHT (any cap, any factor)
 * instead of overflowing.
 */
static inline uint64_t tsq_budget_limit(const struct tsq_budget *b, uint32_t next_cost,
					unsigned factor)
{
	uint64_t limit = tsq__budget_term(b);

	if (limit < 2ull * next_cost)
		limit = 2ull * next_cost; /* one unit in flight, one about to go */
	if (limit > b->cap)
		limit = b->cap;
	/* Saturate below the field's top: a "go" at in_flight < limit leaves room for any cost. */
	if (factor >= TSQ__BUDGET_UNITS_SHIFT || limit > (TSQ_BUDGET_MAX_INFLIGHT >> factor))
		return limit == 0 ? 0 : TSQ_BUDGET_MAX_INFLIGHT;
	return limit << factor;
}

static inline bool tsq__budget_over(const struct tsq_budget *b, uint64_t inflight, uint64_t limit)
{
	uint64_t units = inflight >> TSQ__BUDGET_UNITS_SHIFT;

	/*
	 * Nothing below us: no completion could ever restart a throttled flow, so never stop
	 * (the kernel gets the same from its "retransmit queue empty" shortcut).
	 */
	if (units == 0)
		return false;
	/* One more unit would wrap the 24-bit count (zero-cost units never reach a byte limit). */
	if (tsq_unlikely(units >= TSQ_BUDGET_MAX_UNITS))
		return true;
	/*
	 * The kernel stops when 1 + in_flight > limit (sk_wmem_alloc carries a base reference
	 * of 1), i.e. when in_flight >= limit: with the 2 x cost floor, two units fill it.
	 */
	if ((inflight & TSQ__BUDGET_BYTES_MASK) < limit)
		return false;
	/* The 2023 relaxation: a single unit below us may always be joined by one more. */
	return !(b->allow_one && units <= 1);
}

/*
 * tsq_budget_may_send - may the sender hand down a unit of `next_cost` bytes (factor 1 for
 * retransmits)? If not, THROTTLED is set and a completion will restart the flow.
 * Context: the sender. Blocks: never.
 * Ordering: the lost-wake-up race (the sender reads "over", the last completion uncharges and
 * sees THROTTLED still clear, then the sender sets THROTTLED and stops: nothing left in flight
 * to restart it) is closed with a store-buffering (Dekker) pair:
 *     sender:      FLAGS_S1 SEQ_CST RMW set THROTTLED;  BUDGET_S2 SEQ_CST load of in-flight
 *     completion:  BUDGET_S2 SEQ_CST RMW uncharge;      FLAGS_S1 SEQ_CST load of the flags
 * With all four SEQ_CST, at least one side sees the other: the sender sees the room and goes
 * on, or the completion sees THROTTLED and queues the flow. Acquire/release is NOT enough:
 * it allows both loads to read the old values (each store still sitting in its CPU's store
 * buffer), which is exactly the stall. tests/check/ proves it over every interleaving with
 * store buffers, and shows that dropping the fence or the re-check loses the restart.
 * The fast path (under the limit) is one relaxed load.
 * Return: true - go ahead (charge, then hand the unit down); false - stop, THROTTLED is set:
 * over the limit, or TSQ_BUDGET_MAX_INFLIGHT bytes / TSQ_BUDGET_MAX_UNITS units in flight
 * (never with nothing in flight).
 */
static inline bool tsq_budget_may_send(struct tsq_budget *b, struct tsq_flags *f,
				       uint32_t next_cost, unsigned factor)
{
	uint64_t limit = tsq_budget_limit(b, next_cost, factor);

	if (tsq_likely(!tsq__budget_over(b, tsq_load(&b->inflight, TSQ_RELAXED), limit)))
		return true;
	tsq_flags_throttle(f); /* FLAGS_S1, pairs with FLAGS_S1 in tsq_flags_load_seqcst() */
	/* BUDGET_S2, pairs with BUDGET_S2 in tsq_budget_complete() */
	if (tsq__budget_over(b, tsq_load(&b->inflight, TSQ_SEQ_CST), limit)) {
		tsq_counter_add_owner(&b->throttles, 1);
		return false;
	}
	/* A completion made room meanwhile. We keep running, so we need no restart. */
	tsq_flags_clear_throttled(f);
	tsq_counter_add_owner(&b->recheck_saves, 1);
	return true;
}

/*
 * tsq_budget_charge - account a unit of `cost` bytes handed down. Charge one unit per "go"
 * of tsq_budget_may_send(): that keeps in-flight within the packed fields. Charging on after a
 * "stop" until 2^24 units or 2^40 bytes are in flight is misuse: TSQ_DEBUG aborts
 * ("tsq: tsq_budget_charge: ..."); without it the fields wrap.
 * Context: the sender, before the unit is published to the layer that completes it.
 * Blocks: never.
 * Ordering: a relaxed RMW; the publication of the unit (a release in the ring) orders it
 * before the unit's completion (and so before its BUDGET_S2 uncharge).
 */
static inline void tsq_budget_charge(struct tsq_budget *b, uint32_t cost)
{
	uint64_t old = tsq_fetch_add(&b->inflight, TSQ__BUDGET_ONE_UNIT | cost, TSQ_RELAXED);

	/* Completions only subtract, so the value before our add bounds what we added to. */
	TSQ__MISUSE_IF((old >> TSQ__BUDGET_UNITS_SHIFT) >= TSQ_BUDGET_MAX_UNITS ||
			       (old & TSQ__BUDGET_BYTES_MASK) > TSQ__BUDGET_BYTES_MASK - cost,
		       "tsq_budget_charge",
		       "in-flight units or bytes overflow (charged past a stop)");
	(void)old;
}

/*
 * The slow path of an unmatched completion (the BUDGET_S2 uncharge of `units` units and `bytes`
 * bytes took units or bytes that were not in flight): give back what it took beyond zero, as
 * seen in the value it replaced, so the net effect is "uncharge at most what was there". The
 * fix-up is BUDGET_S2 too, a SEQ_CST RMW between the uncharge and the FLAGS_S1 load: a re-check
 * (BUDGET_S2) that read the wrapped value in between (and stopped) is ordered before it and so
 * before the FLAGS_S1 load, which then sees THROTTLED - the Dekker argument of
 * tsq_budget_may_send() still holds. `call` names the completion for TSQ_DEBUG's message.
 */
static inline void tsq__budget_unmatched(struct tsq_budget *b, uint64_t old, uint64_t bytes,
					 uint32_t units, const char *call)
{
	uint64_t have = old & TSQ__BUDGET_BYTES_MASK, have_units = old >> TSQ__BUDGET_UNITS_SHIFT;
	uint64_t took = ((have_units < units ? have_units : units) << TSQ__BUDGET_UNITS_SHIFT) +
			(have < bytes ? have : bytes);

	TSQ__MISUSE_IF(true, call,
		       "more completed than charged (a completion without a charge, or twice)");
	(void)call;
	/* BUDGET_S2 (fix-up) */
	tsq_fetch_add(&b->inflight, (((uint64_t)units << TSQ__BUDGET_UNITS_SHIFT) + bytes) - took,
		      TSQ_SEQ_CST);
	tsq_counter_add_shared(&b->unmatched, 1);
}

/* bytes * 1e9 / ns, saturating at UINT64_MAX, for any bytes and any ns >= 1. */
static inline uint64_t tsq__budget_rate_of(uint64_t bytes, uint64_t ns)
{
	const uint64_t g = 1000000000ull;
	uint64_t q = bytes / ns, r = bytes % ns;

	if (q > UINT64_MAX / g)
		return UINT64_MAX;
	q *= g;
	/* r < ns: r * g fits once ns <= 2^64 / 1e9 (18 s); scale a longer window down to that. */
	while (ns > UINT64_MAX / g) {
		r >>= 1;
		ns >>= 1;
	}
	r = r * g / ns;
	return q > UINT64_MAX - r ? UINT64_MAX : q + r;
}

/*
 * How often tsq_budget_complete() reads the clock: when `delivered` crosses a multiple of
 * 2^shift bytes, about 1/16 of a window's bytes at `rate` (floor(log2 rate) + floor(log2
 * window) - 34, as 16e9 ~ 2^34: never more than that, so a window still closes within about
 * a sixteenth of its length). A fast flow thus reads it once per many completions.
 */
static inline uint8_t tsq__budget_clock_shift(uint64_t rate, uint64_t window_ns)
{
	int s;

	if (rate == 0 || window_ns == 0)
		return 0;
	s = (63 - __builtin_clzll(rate)) + (63 - __builtin_clzll(window_ns)) - 34;
	return (uint8_t)(s < 0 ? 0 : s > 40 ? 40 : s);
}

/*
 * Take the sample of a window that ran from t0 to now: `bytes` completed over now - t0. If
 * the flow ran empty in it (idle), the gap is in it: the sample may raise the rate, never
 * lower it (the kernel's rule for application-limited delivery-rate samples).
 */
static inline bool tsq__budget_sample(struct tsq_budget *b, uint64_t bytes, uint64_t ns, bool idle)
{
	uint64_t sample = tsq__budget_rate_of(bytes, ns);
	uint64_t est = tsq_load(&b->rate_est, TSQ_RELAXED);

	if (sample == 0)
		sample = 1; /* "learned" is never 0: the two-unit floor then limits */
	else if (sample == TSQ_BUDGET_RATE_UNLIMITED)
		sample--; /* nor UNLIMITED, which means "nothing learned" (the startup limit) */
	if (idle && est != TSQ_BUDGET_RATE_UNLIMITED && sample < est)
		return false;
	/* A max over two windows: a window that caught a completion batch's gap reads low. */
	est = sample > b->rate_prev ? sample : b->rate_prev;
	tsq_store(&b->rate_est, est, TSQ_RELAXED);
	tsq_store(&b->clock_shift, tsq__budget_clock_shift(est, b->window_ns), TSQ_RELAXED);
	b->rate_prev = sample;
	return true;
}

/*
 * Close the window this completion claimed (w: the word it claimed, t0 | its flags) with a
 * sample of `mine - win_delivered` bytes over now - t0 - none if no window was open or the
 * clock went back - and open the next one at now.
 */
static inline void tsq__budget_close_window(struct tsq_budget *b, uint64_t w, uint64_t mine,
					    uint64_t now)
{
	uint64_t t0 = w & ~TSQ__BUDGET_WIN_FLAGS, next;
	uint64_t cur = t0 | TSQ__BUDGET_WIN_BUSY; /* as claimed: the window's flags are consumed */

	if (w & TSQ__BUDGET_WIN_NEW)
		b->rate_prev = 0; /* learning from scratch: nothing to take the max with */
	if (!(w & TSQ__BUDGET_WIN_NEW) && now > t0 && now - t0 >= b->window_ns &&
	    tsq__budget_sample(b, mine - b->win_delivered, now - t0,
			       (w & TSQ__BUDGET_WIN_IDLE) != 0))
		tsq_counter_add_shared(&b->rate_samples, 1);
	else
		tsq_counter_add_shared(&b->rate_restarts, 1);
	b->win_delivered = mine;
	/*
	 * Hand the window on. Under BUSY only IDLE and NEW can be set (others' fetch_or): three
	 * tries at most.
	 */
	do {
		next = now | (cur & (TSQ__BUDGET_WIN_IDLE | TSQ__BUDGET_WIN_NEW));
		/* BUDGET_R5, pairs with BUDGET_A5 in tsq__budget_window_step() */
	} while (!tsq_cmpxchg(&b->win, &cur, next, TSQ_RELEASE, TSQ_RELAXED));
}

/*
 * The learning step of a completion whose bytes bring `delivered` to `mine`, at `now` (ns).
 * The completion that finds the window at least window_ns old claims it (BUSY, one winner)
 * and closes it; the others only add their bytes. Nobody waits.
 */
static inline void tsq__budget_window_step(struct tsq_budget *b, uint64_t mine, uint64_t now)
{
	uint64_t w = tsq_load(&b->win, TSQ_RELAXED);
	uint64_t t0 = w & ~TSQ__BUDGET_WIN_FLAGS;

	now &= ~TSQ__BUDGET_WIN_FLAGS;
	if ((w & TSQ__BUDGET_WIN_BUSY) ||
	    !((w & TSQ__BUDGET_WIN_NEW) || now < t0 || now - t0 >= b->window_ns))
		return; /* being closed by another completion, or not over yet */
	/* BUDGET_A5, pairs with BUDGET_R5: the last closer's win_delivered and rate_prev */
	if (tsq_cmpxchg(&b->win, &w, t0 | TSQ__BUDGET_WIN_BUSY, TSQ_ACQUIRE, TSQ_RELAXED))
		tsq__budget_close_window(b, w, mine, now);
}

/* The completion of `units` took the last ones in flight: a gap may follow, so the open
 * window's sample may not lower the rate. */
static inline void tsq__budget_emptied(struct tsq_budget *b, uint64_t old, uint32_t units)
{
	if ((old >> TSQ__BUDGET_UNITS_SHIFT) == units)
		tsq_fetch_or(&b->win, TSQ__BUDGET_WIN_IDLE, TSQ_RELAXED);
}

/*
 * Uncharge `units` units of `bytes` bytes in all and pick the restart: BUDGET_S2 then FLAGS_S1,
 * and FLAGS_X3 for the winner. `old`: the value BUDGET_S2 replaced. bytes < 2^40, units < 2^24
 * (the callers bound them), so the word's subtrahend cannot overflow.
 */
static inline bool tsq__budget_uncharge(struct tsq_budget *b, struct tsq_flags *f, uint64_t bytes,
					uint32_t units, uint64_t *old, const char *call)
{
	uint32_t flags;

	/* BUDGET_S2, pairs with BUDGET_S2 in may_send */
	*old = tsq_fetch_sub(&b->inflight, ((uint64_t)units << TSQ__BUDGET_UNITS_SHIFT) + bytes,
			     TSQ_SEQ_CST);
	/* A plain test of what BUDGET_S2 returned: fewer units, or fewer bytes, than completed. */
	if (tsq_unlikely((*old >> TSQ__BUDGET_UNITS_SHIFT) < units ||
			 (*old & TSQ__BUDGET_BYTES_MASK) < bytes))
		tsq__budget_unmatched(b, *old, bytes, units, call);
	/* FLAGS_S1, pairs with FLAGS_S1 in tsq_flags_throttle() */
	flags = tsq_flags_load_seqcst(f);
	if (tsq_likely(!(flags & TSQ_F_THROTTLED) || (flags & TSQ_F_QUEUED)))
		return false;
	return tsq_flags_throttled_to_queued(f); /* FLAGS_X3 */
}

/* The learning step after an uncharge (`old`, its result) of `units` units, `bytes` bytes. */
static inline void tsq__budget_learn_at(struct tsq_budget *b, uint64_t old, uint64_t bytes,
					uint32_t units, uint64_t now_ns)
{
	if (!tsq_load(&b->learning, TSQ_RELAXED))
		return;
	tsq__budget_window_step(b, tsq_fetch_add(&b->delivered, bytes, TSQ_RELAXED) + bytes,
				now_ns);
	tsq__budget_emptied(b, old, units);
}

/* The same on the budget's clock, read when `delivered` crosses a multiple of 2^clock_shift. */
static inline void tsq__budget_learn(struct tsq_budget *b, uint64_t old, uint64_t bytes,
				     uint32_t units)
{
	uint64_t mine;

	if (!tsq_load(&b->learning, TSQ_RELAXED))
		return;
	mine = tsq_fetch_add(&b->delivered, bytes, TSQ_RELAXED) + bytes;
	if (((mine - bytes) ^ mine) >> tsq_load(&b->clock_shift, TSQ_RELAXED) != 0)
		tsq__budget_window_step(b, mine, TSQ_CFG_NOW_NS());
	tsq__budget_emptied(b, old, units);
}

/*
 * tsq_budget_complete_at - tsq_budget_complete() at the caller's time `now_ns` (a monotonic
 * clock in nanoseconds, e.g. one read per completion batch, or a simulation's): the time
 * the learned rate's windows are measured with. Unused once a rate is set.
 * Context, Blocks, Ordering, Return: as tsq_budget_complete(); the learning step after them
 * adds relaxed RMWs and BUDGET_A5/BUDGET_R5 (one completion at a time closes a window).
 */
static inline bool tsq_budget_complete_at(struct tsq_budget *b, struct tsq_flags *f, uint32_t cost,
					  uint64_t now_ns)
{
	uint64_t old;
	bool restart = tsq__budget_uncharge(b, f, cost, 1, &old, "tsq_budget_complete");

	tsq__budget_learn_at(b, old, cost, 1, now_ns);
	return restart;
}

/*
 * tsq_budget_complete - a unit of `cost` bytes left the lower layer: uncharge it and say
 * whether the flow must be restarted. Fast path (not throttled): one atomic RMW and a load;
 * while learning (no rate set) also one relaxed RMW (its bytes) and a load, plus a clock read
 * (TSQ_CFG_NOW_NS()) and the window's test when the bytes completed cross a multiple of about
 * 1/16 of a window's worth at the learned rate (every completion before the first sample),
 * and once per window the close (tsq_budget_complete_at() takes the time instead).
 * Context: any thread (completion context). Blocks: never.
 * Ordering: BUDGET_S2, a SEQ_CST RMW uncharge, then FLAGS_S1, a SEQ_CST flags load
 * (tsq_flags_load_seqcst). If the flow is THROTTLED, FLAGS_X3 (tsq_flags_throttled_to_queued)
 * picks exactly one winner among concurrent completions. The learning step comes after them
 * (relaxed; BUDGET_A5/BUDGET_R5 hand the window from one closer to the next).
 * A completion with nothing (or less than `cost`) in flight - one without a charge, or the
 * second of one unit - is misuse: TSQ_DEBUG aborts ("tsq: tsq_budget_complete: ..."); without
 * it in-flight is clamped at zero (units and bytes separately) and counted in
 * unmatched_completions, instead of wrapping to 2^24 units / 1 TiB (a flow throttled forever).
 * Return: true if this caller won THROTTLED -> QUEUED and must queue the flow on its worker
 * (it owns the flow's list node until the worker unqueues it); false otherwise.
 */
static inline bool tsq_budget_complete(struct tsq_budget *b, struct tsq_flags *f, uint32_t cost)
{
	uint64_t old;
	bool restart = tsq__budget_uncharge(b, f, cost, 1, &old, "tsq_budget_complete");

	tsq__budget_learn(b, old, cost, 1);
	return restart;
}

/* A multi-unit completion's input cut to what can be in flight (the excess is then unmatched). */
static inline void tsq__budget_n_bound(uint64_t *bytes, uint32_t *units)
{
	if (*units > TSQ_BUDGET_MAX_UNITS)
		*units = TSQ_BUDGET_MAX_UNITS;
	if (*bytes > TSQ__BUDGET_BYTES_MASK)
		*bytes = TSQ__BUDGET_BYTES_MASK;
}

/*
 * tsq_budget_complete_n_at - `units` units of `bytes` bytes in all left the lower layer
 * (e.g. one flow's completions of a poll round): tsq_budget_complete_at() for each of them,
 * in one uncharge. `now_ns` as tsq_budget_complete_at(): the caller's monotonic clock.
 * Equivalent to `units` single completions: as if each ran on its own thread and all their
 * uncharges came before all their flag loads. Those loads then read the same flag word, so
 * FLAGS_X3 lets at most one of them win, as the single load here; and the sender's re-check
 * (BUDGET_S2) sees all of the uncharges or none, never a part, so a restart is never lost
 * (the Dekker pair is the same two SEQ_CST accesses: tests/check/ covers it). The learned
 * rate counts the same bytes; the window may close at this call's time rather than at one
 * of its units'.
 * units 0: nothing completed (returns false). Bytes or units beyond what can be in flight
 * (TSQ_BUDGET_MAX_INFLIGHT + UINT32_MAX, TSQ_BUDGET_MAX_UNITS) are cut to those maxima and,
 * like any completion of more than is in flight, clamped and counted (TSQ_DEBUG aborts,
 * "tsq: tsq_budget_complete_n: ...").
 * Context: any thread (completion context). Blocks: never.
 * Ordering: BUDGET_S2 (one SEQ_CST RMW for all the units), then FLAGS_S1 and FLAGS_X3 for the
 * winner, as tsq_budget_complete(); then the learning step (relaxed; BUDGET_A5/BUDGET_R5).
 * Return: true if this caller won THROTTLED -> QUEUED and must queue the flow on its worker;
 * false otherwise.
 */
static inline bool tsq_budget_complete_n_at(struct tsq_budget *b, struct tsq_flags *f,
					    uint64_t bytes, uint32_t units, uint64_t now_ns)
{
	uint64_t old;
	bool restart;

	if (units == 0)
		return false;
	tsq__budget_n_bound(&bytes, &units);
	restart = tsq__budget_uncharge(b, f, bytes, units, &old, "tsq_budget_complete_n");
	tsq__budget_learn_at(b, old, bytes, units, now_ns);
	return restart;
}

/*
 * tsq_budget_complete_n - tsq_budget_complete_n_at() on the budget's clock (TSQ_CFG_NOW_NS(),
 * read as tsq_budget_complete() reads it: when the bytes completed cross a multiple of about
 * 1/16 of a window's worth).
 * Context, Blocks, Ordering, Return: as tsq_budget_complete_n_at().
 */
static inline bool tsq_budget_complete_n(struct tsq_budget *b, struct tsq_flags *f, uint64_t bytes,
					 uint32_t units)
{
	uint64_t old;
	bool restart;

	if (units == 0)
		return false;
	tsq__budget_n_bound(&bytes, &units);
	restart = tsq__budget_uncharge(b, f, bytes, units, &old, "tsq_budget_complete_n");
	tsq__budget_learn(b, old, bytes, units);
	return restart;
}

/*
 * tsq_budget_inflight - bytes currently charged.
 * Context: any thread. Blocks: never. Ordering: a relaxed load (a hint off the sender).
 * Return: the byte count.
 */
static inline uint64_t tsq_budget_inflight(const struct tsq_budget *b)
{
	return tsq_load(&b->inflight, TSQ_RELAXED) & TSQ__BUDGET_BYTES_MASK;
}

/*
 * tsq_budget_stats - counters and the current in-flight amount.
 * Context: any thread. Blocks: never. Ordering: relaxed loads, field by field.
 * Return: 0; -EINVAL for NULL arguments (out untouched).
 */
static inline int tsq_budget_stats(const struct tsq_budget *b, struct tsq_budget_stats *out)
{
	uint64_t w;

	if (b == NULL || out == NULL)
		return -EINVAL;
	w = tsq_load(&b->inflight, TSQ_RELAXED);
	out->inflight_bytes = w & TSQ__BUDGET_BYTES_MASK;
	out->inflight_units = w >> TSQ__BUDGET_UNITS_SHIFT;
	out->throttles = tsq_load(&b->throttles, TSQ_RELAXED);
	out->recheck_saves = tsq_load(&b->recheck_saves, TSQ_RELAXED);
	out->unmatched_completions = tsq_load(&b->unmatched, TSQ_RELAXED);
	out->rate = tsq_budget_rate(b);
	out->rate_samples = tsq_load(&b->rate_samples, TSQ_RELAXED);
	out->rate_restarts = tsq_load(&b->rate_restarts, TSQ_RELAXED);
	return 0;
}

/*
 * tsq_budget_size_goal_half_limit - the 2012 rule, for the fixed limit of the time
 * (TSQ_BUDGET_CAP_2012): cap a burst (a TSO/GSO unit) at half the limit, so two bursts fit
 * in flight.
 * Context: any thread. Blocks: never. Ordering: none (no shared memory).
 * Return: min(size_goal, limit / 2), at least 1.
 */
static inline uint32_t tsq_budget_size_goal_half_limit(uint64_t limit, uint32_t size_goal)
{
	uint64_t half = limit / 2;

	if (half == 0)
		half = 1;
	return size_goal < half ? size_goal : (uint32_t)half;
}

/*
 * tsq_budget_size_goal - today's pacing rule (the kernel's tcp_tso_autosize without the RTT
 * bonus): about 1 ms of the pacing rate (rate >> shift), at least `min_segs` segments of
 * `mss`, at most `max_bytes` (the GSO limit), rounded down to whole segments.
 * Context: any thread. Blocks: never. Ordering: none (no shared memory).
 * Return: the burst size in bytes; 0 if mss is 0.
 */
static inline uint32_t tsq_budget_size_goal(uint64_t pacing_rate, unsigned shift, uint32_t mss,
					    uint32_t min_segs, uint32_t max_bytes)
{
	uint64_t bytes, segs;

	if (mss == 0)
		return 0;
	bytes = shift > 63 ? 0 : pacing_rate >> shift;
	if (bytes > max_bytes)
		bytes = max_bytes;
	segs = bytes / mss;
	if (segs < min_segs)
		segs = min_segs;
	if (segs * mss > max_bytes && max_bytes >= mss)
		segs = max_bytes / mss;
	if (segs * mss > UINT32_MAX) /* min_segs of a huge mss: saturate, do not wrap */
		segs = UINT32_MAX / mss;
	return (uint32_t)(segs * mss);
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_BUDGET_H */
