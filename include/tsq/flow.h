/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/flow.h - TCP Small Queues, assembled: a flow's budget, its flags, its restart through
 * the home shard's deferred-work list, and deferral to the owner's release.
 *
 * Overview
 *   A stack writes one callback, send_more(), and calls four functions:
 *     sender:      while (data && tsq_flow_may_send(f, cost, 0)) {
 *                      tsq_flow_charge(f, cost); xmit;
 *                  }
 *     completion:  tsq_flow_complete(f, cost)  - any thread, once per unit handed down
 *     worker:      tsq_defer_drain(set, home)  - in its poll loop, as for any deferred work
 *     owner:       tsq_flow_release(f)          - at release (and backlog flush), still owner
 *   What happens in between:
 *     1. The sender stops over budget with THROTTLED set (full fence + re-check, budget.h).
 *     2. The completion that brings the flow back wins THROTTLED -> QUEUED, takes a reference
 *        (ops->hold) and links the flow to its home shard with tsq_defer_queue() - always
 *        through the list, never inline: completions are polled in the middle of ring
 *        processing, where sending would re-enter.
 *     3. The home worker's drain runs the flow: clear QUEUED (after the node is unlinked, so a
 *        completion during the handler re-queues instead of being lost), then under the flow's
 *        short lock (ops->lock) either send_more(TSQ_FLOW_DRAINED), or, if an application
 *        thread owns the flow, mark DEFERRED (one reference, on 0 -> 1 only). Then drop the
 *        queue reference (ops->put).
 *     4. The owner's release takes all deferred bits in one atomic (none in the common case);
 *        for DEFERRED it runs send_more(TSQ_FLOW_DEFERRED) and drops that reference.
 *   send_more() learns how it runs (enum tsq_flow_how, the words of defer.h's
 *   enum tsq_defer_how): DRAINED - the home worker took the flow off its list; DEFERRED - the
 *   owner's release runs what the worker deferred to it.
 *   References: one while queued, one per deferred bit - the flow cannot be freed under a
 *   worker that still has it on its list. send_more() runs with exclusion on the flow: under
 *   ops->lock from the worker, as owner from the release.
 *
 * Usage
 *     static void send_more(struct tsq_flow *f, enum tsq_flow_how how) {
 *         struct conn *c = tsq_container_of(f, struct conn, tsq);
 *         (void)how;  // TSQ_FLOW_DRAINED (the home worker) or TSQ_FLOW_DEFERRED (the release)
 *         while (conn_has_data(c) && tsq_flow_may_send(f, unit_cost(c), 0)) {
 *             tsq_flow_charge(f, unit_cost(c));  conn_xmit_one(c);
 *         }
 *     }
 *     static const struct tsq_flow_ops ops = { send_more, conn_lock, conn_unlock, conn_hold,
 *                                              conn_put };
 *     tsq_flow_init(&c->tsq, &set, home_worker, &ops, NULL);
 *   (tests/unit/test_flow.c compiles and runs this block as `usage_block_runs`.)
 *
 * Synchronization table ('-': safe concurrently, 'X': the caller must serialise; beyond
 * budget.h and flags.h)
 *                     may_send/charge  complete  worker run  release/defer  stats  init
 *     may_send/charge        X            -          X            X           -      X
 *     complete               -            -          -            -           -      X
 *     worker run             X            -          X            X           -      X
 *     release/defer          X            -          X            X           -      X
 *     stats                  -            -          -            -           -      X
 *     init                   X            X          X            X           X      X
 *   The X's between the first and fourth rows are the flow's own exclusion: the owner, or
 *   ops->lock when not owned. complete_at, complete_n and complete_n_at are complete;
 *   set_pacing_rate and learn_rate are may_send's (the sender's); limit and inflight are
 *   stats' (relaxed reads, anyone).
 *   "worker run" is the flow's item in its home shard's drain (tsq_defer_drain()), not a
 *   function of this header.
 *
 * Memory ordering (labels of budget.h, flags.h and defer.h; this header adds none)
 *   may_send: FLAGS_S1/BUDGET_S2, the sender's half of budget.h's Dekker pair.
 *   complete: BUDGET_S2/FLAGS_S1, the completion's half, then FLAGS_X3 (one winner) and
 *     DEFER_S1 (the SEQ_CST list push that publishes the flow to its worker).
 *   Worker run: DEFER_A1 (the drain's take), then FLAGS_S3 (unqueue), then FLAGS_X4 when it
 *     defers.
 *   release: FLAGS_A4/FLAGS_X4 (take the deferred bits).
 *
 * The limit is ~1 ms of the flow's rate, at least two units, at most the cap (budget.h): the
 * rate set with tsq_flow_set_pacing_rate(), or else the one its completions deliver, learned
 * over 1 ms windows (the default; 128 KiB until the first). tsq_flow_limit() and
 * tsq_flow_inflight() read both sides.
 *
 * Counters (tsq_flow_stats()): throttles, re-check saves and unmatched completions
 * (budget.h), queued (restarts linked by a completion), deferred (restarts handed to the
 * owner's release).
 *
 * Misuse and bad input: as budget.h (no overflow at any cost or cap; a unit completed twice
 * or never charged aborts under TSQ_DEBUG, else is clamped and counted) and flags.h
 * (TSQ_F_USER(n) out of range does not compile). tests/README.md has the table.
 */
#ifndef TSQ_FLOW_H
#define TSQ_FLOW_H

#include "budget.h"
#include "defer.h"
#include "flags.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * How send_more() came to run. A word has one value in every header's how-enum (tsq.h):
 * DRAINED is 1 as in enum tsq_defer_how; DEFERRED is 3, after defer.h's FALLBACK (2).
 */
enum tsq_flow_how {
	TSQ_FLOW_DRAINED = 1,  /* the home worker drained the restart: ops->lock held, not owned */
	TSQ_FLOW_DEFERRED = 3, /* the owner's release runs what the worker deferred (DEFERRED) */
};

struct tsq_flow;

struct tsq_flow_ops {
	/* Send what the budget allows (call tsq_flow_may_send before each unit). Required. */
	void (*send_more)(struct tsq_flow *flow, enum tsq_flow_how how);
	/*
	 * Take the flow's short lock (the one the owner's release also holds while it runs
	 * tsq_flow_release) and return whether an application thread owns the flow. Required;
	 * where one thread both sends and is the flow's home worker, use
	 * tsq_flow_single_thread_lock/unlock (TSQ_FLOW_OPS_SINGLE_THREAD) below.
	 */
	bool (*lock)(struct tsq_flow *flow);
	void (*unlock)(struct tsq_flow *flow); /* required */
	void (*hold)(struct tsq_flow *flow);   /* take a reference; NULL if flows are immortal */
	void (*put)(struct tsq_flow *flow);    /* drop one; NULL if flows are immortal */
};

/*
 * tsq_flow_single_thread_lock, tsq_flow_single_thread_unlock - ready-made ops->lock and
 * ops->unlock for a flow whose sender is also its home worker: one thread sends (may_send,
 * charge) and runs tsq_defer_drain() on the flow's home shard, so the drain's send_more() can
 * never run beside the sender, and no application thread ever owns the flow (owner.h is not
 * needed; tsq_flow_release() has nothing to run). Completions may still come from any thread.
 * TSQ_FLOW_OPS_SINGLE_THREAD(send_more) is a whole struct tsq_flow_ops initializer with them
 * (immortal flows: hold and put NULL).
 * Context: the home worker's drain, as ops->lock/unlock. Blocks: never. Ordering: none
 * (nothing shared: exclusion comes from being one thread).
 * Return: lock - false (not owned: the drain runs send_more() at once).
 */
static inline bool tsq_flow_single_thread_lock(struct tsq_flow *flow)
{
	(void)flow;
	return false;
}

/* The ops->unlock of tsq_flow_single_thread_lock(): nothing to release. */
static inline void tsq_flow_single_thread_unlock(struct tsq_flow *flow)
{
	(void)flow;
}

/* A struct tsq_flow_ops initializer for a sender that is its flow's home worker (see above). */
#define TSQ_FLOW_OPS_SINGLE_THREAD(send_more_fn)                                                  \
	{                                                                                         \
		(send_more_fn), tsq_flow_single_thread_lock, tsq_flow_single_thread_unlock, NULL, \
			NULL                                                                      \
	}

/*
 * A flow. The budget and the flags share the first cache line: every completion touches
 * both (the kernel moved sk_tsq_flags next to sk_wmem_alloc for the same reason). Embed it;
 * its fields are private: use the functions below.
 */
struct tsq_flow {
	struct tsq_flags flags;   /* line 1 */
	struct tsq_budget budget; /* line 1 (its first 55 bytes): sender + completions */
	unsigned home;            /* the shard whose worker restarts this flow */
	struct tsq_defer_set *set;
	const struct tsq_flow_ops *ops;
	struct tsq_defer_item work TSQ_CACHELINE_ALIGNED; /* owned by whoever set QUEUED */
	uint64_t queued;   /* completions that linked the flow (any thread: atomic add) */
	uint64_t deferred; /* restarts handed to the owner (the worker) */
} TSQ_CACHELINE_ALIGNED;

struct tsq_flow_stats {
	struct tsq_budget_stats budget;
	uint64_t queued;
	uint64_t deferred;
	uint32_t flags;
};

static inline void tsq__flow_run(struct tsq_defer_item *item, enum tsq_defer_how how);

/*
 * tsq_flow_init - set up a flow that restarts on shard `home` of `set`.
 * opts configures the budget (NULL: today's kernel defaults, see budget.h).
 * Context: before the flow is shared. Blocks: never.
 * Ordering: none (plain stores); publish the flow the usual way.
 * Return: 0; -EINVAL for NULL flow/set/ops, missing required ops, home out of range, or bad
 * opts (see tsq_budget_init()).
 */
static inline int tsq_flow_init(struct tsq_flow *flow, struct tsq_defer_set *set, unsigned home,
				const struct tsq_flow_ops *ops, const struct tsq_budget_opts *opts)
{
	int err;

	if (flow == NULL || set == NULL || ops == NULL || ops->send_more == NULL ||
	    ops->lock == NULL || ops->unlock == NULL || home >= tsq_defer_nr_shards(set))
		return -EINVAL;
	err = tsq_budget_init(&flow->budget, opts);
	if (err != 0)
		return err;
	tsq_flags_init(&flow->flags);
	flow->home = home;
	flow->set = set;
	flow->ops = ops;
	tsq_defer_item_init(&flow->work, tsq__flow_run);
	flow->queued = 0;
	flow->deferred = 0;
	return 0;
}

/*
 * tsq_flow_may_send - may the sender hand down the next unit of `cost` bytes (factor 1 for
 * retransmits)? On false THROTTLED is set and a completion will restart the flow.
 * Context: the sender (owner, or send_more under ops->lock). Blocks: never.
 * Ordering: as tsq_budget_may_send(): FLAGS_S1 then BUDGET_S2, the sender's half of the Dekker
 * pair.
 * Return: true - send (charge first); false - stop sending.
 */
static inline bool tsq_flow_may_send(struct tsq_flow *flow, uint32_t cost, unsigned factor)
{
	return tsq_budget_may_send(&flow->budget, &flow->flags, cost, factor);
}

/*
 * tsq_flow_charge - account a unit about to be handed down (before it can complete).
 * Context: the sender. Blocks: never. Ordering: as tsq_budget_charge() (relaxed).
 */
static inline void tsq_flow_charge(struct tsq_flow *flow, uint32_t cost)
{
	tsq_budget_charge(&flow->budget, cost);
}

/* Take n references (ops->hold NULL: the flows are immortal, nothing to take). */
static inline void tsq__flow_hold(struct tsq_flow *flow, uint32_t n)
{
	if (flow->ops->hold != NULL)
		while (n-- != 0)
			flow->ops->hold(flow);
}

/* We won THROTTLED -> QUEUED (FLAGS_X3): the node is ours until the worker unqueues it. */
static inline void tsq__flow_queue(struct tsq_flow *flow)
{
	tsq__flow_hold(flow, 1);
	tsq_counter_add_shared(&flow->queued, 1);
	tsq_defer_queue(flow->set, flow->home, &flow->work);
}

/*
 * tsq_flow_complete - a unit of `cost` bytes of this flow completed. If that restarts the
 * flow, take a reference and queue it to its home worker.
 * Once per charged unit: a completion without a charge, or a second one, aborts under
 * TSQ_DEBUG; otherwise it is clamped at zero and counted (tsq_budget_complete()).
 * Context: any thread (completion context). Blocks: never (may call ops->hold and the set's
 * kick hook).
 * Ordering: BUDGET_S2 then FLAGS_S1 (tsq_budget_complete()); FLAGS_X3 for the winner; the winner's
 * link is
 * DEFER_S1, a SEQ_CST list push that publishes the flow to its worker.
 * Return: true if this call queued the flow, false otherwise.
 */
static inline bool tsq_flow_complete(struct tsq_flow *flow, uint32_t cost)
{
	if (tsq_likely(!tsq_budget_complete(&flow->budget, &flow->flags, cost)))
		return false;
	tsq__flow_queue(flow);
	return true;
}

/*
 * tsq_flow_complete_at - tsq_flow_complete() with the caller's clock: `now_ns`, monotonic
 * nanoseconds (one read per completion batch, or a simulation's virtual time), measures the
 * windows of the learned rate (tsq_budget_complete_at()).
 * Context, Blocks, Ordering, Return: as tsq_flow_complete().
 */
static inline bool tsq_flow_complete_at(struct tsq_flow *flow, uint32_t cost, uint64_t now_ns)
{
	if (tsq_likely(!tsq_budget_complete_at(&flow->budget, &flow->flags, cost, now_ns)))
		return false;
	tsq__flow_queue(flow);
	return true;
}

/*
 * tsq_flow_complete_n - `units` units of this flow, `bytes` bytes in all, completed (e.g. the
 * flow's share of one completion poll): tsq_flow_complete() for each, in one uncharge
 * (tsq_budget_complete_n_at() says why that is the same). If that restarts the flow, take
 * a reference and queue it to its home worker.
 * Context, Blocks, Ordering: as tsq_flow_complete().
 * Return: true if this call queued the flow, false otherwise (always for units 0).
 */
static inline bool tsq_flow_complete_n(struct tsq_flow *flow, uint64_t bytes, uint32_t units)
{
	if (tsq_likely(!tsq_budget_complete_n(&flow->budget, &flow->flags, bytes, units)))
		return false;
	tsq__flow_queue(flow);
	return true;
}

/*
 * tsq_flow_complete_n_at - tsq_flow_complete_n() with the caller's clock, `now_ns` as in
 * tsq_flow_complete_at() (tsq_budget_complete_n_at()).
 * Context, Blocks, Ordering, Return: as tsq_flow_complete_n().
 */
static inline bool tsq_flow_complete_n_at(struct tsq_flow *flow, uint64_t bytes, uint32_t units,
					  uint64_t now_ns)
{
	if (tsq_likely(
		    !tsq_budget_complete_n_at(&flow->budget, &flow->flags, bytes, units, now_ns)))
		return false;
	tsq__flow_queue(flow);
	return true;
}

/*
 * tsq_flow_set_pacing_rate - the flow's pacing rate in bytes per second, for the limit's
 * ~1 ms term (rate >> pacing shift); it replaces the rate learned from completions
 * (TSQ_BUDGET_RATE_UNLIMITED: the cap alone limits). tsq_flow_learn_rate() goes back.
 * Context: the sender (owner, or under ops->lock). Blocks: never.
 * Ordering: relaxed stores (tsq_budget_set_pacing_rate()).
 */
static inline void tsq_flow_set_pacing_rate(struct tsq_flow *flow, uint64_t bytes_per_sec)
{
	tsq_budget_set_pacing_rate(&flow->budget, bytes_per_sec);
}

/*
 * tsq_flow_learn_rate - drop the rate set and learn it from completions again (the default).
 * Context: the sender. Blocks: never. Ordering: as tsq_budget_learn_rate() (relaxed).
 */
static inline void tsq_flow_learn_rate(struct tsq_flow *flow)
{
	tsq_budget_learn_rate(&flow->budget);
}

/*
 * tsq_flow_limit - the flow's byte limit now, before the two-unit floor:
 * min(rate >> pacing shift, cap), rate being the one set, else the learned one (while none
 * is learned yet, TSQ_BUDGET_CAP_2012 takes the term's place; with none set and learning
 * off, the cap alone). A unit of cost c may go while in-flight < max(this, 2c) (at most
 * the cap).
 * Context: any thread. Blocks: never. Ordering: relaxed loads (a snapshot).
 * Return: bytes.
 */
static inline uint64_t tsq_flow_limit(const struct tsq_flow *flow)
{
	return tsq_budget_limit(&flow->budget, 0, 0);
}

/*
 * tsq_flow_inflight - the bytes charged and not yet completed (handed down, still below).
 * Context: any thread. Blocks: never. Ordering: a relaxed load (a snapshot).
 * Return: bytes.
 */
static inline uint64_t tsq_flow_inflight(const struct tsq_flow *flow)
{
	return tsq_budget_inflight(&flow->budget);
}

/* The home worker's handler for a queued flow (run by tsq_defer_drain). */
static inline void tsq__flow_run(struct tsq_defer_item *item, enum tsq_defer_how how)
{
	struct tsq_flow *flow = tsq_container_of(item, struct tsq_flow, work);
	const struct tsq_flow_ops *ops = flow->ops;

	(void)how; /* always TSQ_DEFER_DRAINED: flows are queued, never pushed */
	/* The drain read item->node.next before calling us: the node is unlinked. */
	tsq_flags_unqueue(&flow->flags); /* FLAGS_S3, pairs with FLAGS_X3 */
	if (!ops->lock(flow)) {
		ops->send_more(flow, TSQ_FLOW_DRAINED);
	} else if (tsq_flags_mark_deferred(&flow->flags, TSQ_F_DEFERRED)) { /* FLAGS_X4 */
		/* 0 -> 1: the bit carries its own reference until the release runs it. */
		tsq__flow_hold(flow, 1);
		tsq_counter_add_shared(&flow->deferred, 1);
	}
	ops->unlock(flow);
	if (ops->put != NULL)
		ops->put(flow); /* the queue reference taken in tsq_flow_complete() */
}

/*
 * tsq_flow_release - the owner's release callback (the kernel's tcp_release_cb): take every
 * deferred bit in one atomic (no atomic when none is set); for DEFERRED run
 * send_more(TSQ_FLOW_DEFERRED) and drop its reference.
 * Context: the owner, still owning the flow, holding the flow's short lock (the same one
 * ops->lock takes), at release and at backlog flush. Blocks: only inside send_more.
 * Ordering: FLAGS_A4/FLAGS_X4 (tsq_flags_take_deferred()): what the markers wrote is visible.
 * Return: the caller-defined bits (TSQ_F_USER(n)) that were set: the caller runs them, in its
 * own order, and drops one reference for each (they were marked with tsq_flow_defer()).
 */
static inline uint32_t tsq_flow_release(struct tsq_flow *flow)
{
	uint32_t bits = tsq_flags_take_deferred(&flow->flags);

	if (tsq_likely(bits == 0))
		return 0;
	if (bits & TSQ_F_DEFERRED) {
		flow->ops->send_more(flow, TSQ_FLOW_DEFERRED);
		if (flow->ops->put != NULL)
			flow->ops->put(flow);
	}
	return bits & TSQ_F_USER_ALL;
}

/*
 * tsq_flow_defer - mark caller-defined deferred actions (TSQ_F_USER(n)) for the owner's
 * release, taking one reference per bit that was newly set (a timer that fired while the
 * flow was owned, a delayed ACK ...).
 * Context: any thread, under the flow's short lock with the flow owned (otherwise run the
 * action directly). Blocks: never (may call ops->hold).
 * Ordering: FLAGS_X4 (tsq_flags_mark_deferred()): what the caller wrote before is visible to the
 * release that runs the bits.
 * Return: the bits newly set (bits outside TSQ_F_USER_ALL are ignored).
 */
static inline uint32_t tsq_flow_defer(struct tsq_flow *flow, uint32_t user_bits)
{
	/* FLAGS_X4 */
	uint32_t fresh = tsq_flags_mark_deferred(&flow->flags, user_bits & TSQ_F_USER_ALL);

	tsq__flow_hold(flow, (uint32_t)__builtin_popcount(fresh));
	return fresh;
}

/*
 * tsq_flow_stats - read the flow's counters and state.
 * Context: any thread. Blocks: never.
 * Ordering: relaxed loads of the counters, field by field; the flag word through
 * tsq_flags_load() (FLAGS_A5, an acquire load: a plain load on x86 and AArch64's LDAR).
 * A snapshot for reading, not for acting on.
 * Return: 0; -EINVAL for NULL arguments (out untouched).
 */
static inline int tsq_flow_stats(const struct tsq_flow *flow, struct tsq_flow_stats *out)
{
	if (flow == NULL || out == NULL)
		return -EINVAL;
	tsq_budget_stats(&flow->budget, &out->budget);
	out->queued = tsq_load(&flow->queued, TSQ_RELAXED);
	out->deferred = tsq_load(&flow->deferred, TSQ_RELAXED);
	out->flags = tsq_flags_load(&flow->flags);
	return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_FLOW_H */
