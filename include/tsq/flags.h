/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/flags.h - a flow's flag word: the TCP Small Queues state machine.
 *
 * Overview
 *   One 32-bit word per flow, changed only through the named transitions below, each with
 *   the one atomic it needs (the kernel's sk_tsq_flags):
 *
 *     THROTTLED  the sender stopped over its byte budget: "restart me on a completion".
 *                Set by the sender (tsq_flags_throttle); cleared by the completion that wins
 *                THROTTLED -> QUEUED, or by the sender itself when its re-check found room.
 *                It may stay set with nothing in flight when the flow stopped while a restart
 *                was already QUEUED and the sender then finished through the fast path: as
 *                in the kernel, nobody waits on it, and it costs one spurious queueing later.
 *     QUEUED     the flow is linked on its home shard's work list (it owns its list node).
 *                Set only by that winning completion; cleared by the worker after unlinking.
 *     DEFERRED   the worker found the flow owned by an application thread: the owner's
 *                release must send (the kernel's TSQ_DEFERRED, originally TSQ_OWNED).
 *     USER(n)    caller-defined deferred actions, n = 0..23 (the kernel has write-timer,
 *                delayed-ACK, MTU-reduced and ACK deferred); handled like DEFERRED.
 *                TSQ_F_USER(24) or any other constant out of range does not compile;
 *                tsq_flags_user(n) gives 0 for a run-time n out of range.
 *
 *   Lifecycle of a restart:
 *     sender:     over budget -> throttle -> full fence -> re-check -> stop
 *     completion: uncharge -> THROTTLED? -> CAS THROTTLED->QUEUED (exactly one winner) -> link
 *     worker:     unlink -> clear QUEUED -> send more, or mark DEFERRED if the flow is owned
 *     release:    take all deferred bits in one atomic (none in the common case) -> run them
 *
 * Usage
 *     struct tsq_flags fl = TSQ_FLAGS_INIT;
 *     if (tsq_flags_mark_deferred(&fl, TSQ_F_DEFERRED)) hold(flow);   // 0 -> 1: one reference
 *     uint32_t todo = tsq_flags_take_deferred(&fl);                   // at release
 *     if (todo & TSQ_F_DEFERRED) { send_more(flow); put(flow); }
 *   (tests/unit/test_flags.c compiles and runs this block as `usage_block_runs`.)
 *
 * Synchronization table: every transition is a single atomic on the word, so all may run
 * concurrently ('-') with each other, but init ('X': before the word is shared):
 *
 *                      throttle/clear  to_queued  unqueue  mark/take_deferred  load(_seqcst)  init
 *     throttle/clear         -             -         -             -                 -          X
 *     to_queued              -             -         -             -                 -          X
 *     unqueue                -             -         -             -                 -          X
 *     mark/take_deferred     -             -         -             -                 -          X
 *     load(_seqcst), user    -             -         -             -                 -          X
 *     init                   X             X         X             X                 X          X
 *   *Who* may call each is the protocol:
 *     throttle, clear_throttled: the sender (the thread that owns sending on the flow)
 *     throttled_to_queued:       any completion context
 *     unqueue:                   the worker that took the flow off its list
 *     mark_deferred:             any thread (in tsq, the worker, under the flow's short lock)
 *     take_deferred:             the owner at release/flush (under the flow's short lock)
 *     load, load_seqcst, user:   any thread
 *
 * Memory ordering (labels: R release, A acquire, S seq_cst or fence, X acq_rel RMW; shared
 * with budget.h, whose BUDGET_S2 is the other half of FLAGS_S1's Dekker pair)
 *   FLAGS_S1 THROTTLED: the sender's SEQ_CST RMW in throttle; the completion's SEQ_CST load in
 *      load_seqcst (tsq_budget_complete). With BUDGET_S2 (budget.h: the completion's SEQ_CST
 *      uncharge, the sender's SEQ_CST re-check of in-flight) a store-buffering pair: either
 *      the sender sees the room or the completion sees THROTTLED.
 *   FLAGS_X3 THROTTLED -> QUEUED: the completion's ACQ_REL CAS in throttled_to_queued (and
 *      FLAGS_A3, the acquire load before it) pairs with FLAGS_S3, the worker's SEQ_CST RMW in
 *      unqueue: a new winner writes the flow's list node only after the previous worker is done
 *      with it.
 *   FLAGS_X4 deferred bits: the marker's ACQ_REL RMW in mark_deferred pairs with FLAGS_X4, the
 *      owner's ACQ_REL CAS in take_deferred (and FLAGS_A4, the acquire load before it): what the
 *      marker wrote before marking is visible to the owner that takes the bits.
 *   FLAGS_A5 load: an acquire load; sees what was written before any transition it reads (the
 *      release half of FLAGS_S1, FLAGS_X3, FLAGS_S3, FLAGS_X4).
 *   clear_throttled is relaxed: a stale THROTTLED only costs one spurious queueing.
 */
#ifndef TSQ_FLAGS_H
#define TSQ_FLAGS_H

#include "atomic.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TSQ_F_THROTTLED (1u << 0)
#define TSQ_F_QUEUED (1u << 1)
#define TSQ_F_DEFERRED (1u << 2)
#define TSQ_F_USER_SHIFT 8u
#define TSQ_F_USER_MAX 24u
/*
 * Caller-defined deferred bit n, for an integer constant n, 0 <= n < 24. Any other constant
 * is a compile-time error (a negative array size; C11 and C++17 alike), not a shift past the
 * word that would alias TSQ_F_THROTTLED. The result is still an integer constant expression
 * (case labels, enumerators, static initializers). For an n known only at run time use
 * tsq_flags_user().
 */
#define TSQ_F_USER(n)                    \
	(1u << (TSQ_F_USER_SHIFT + (n) + \
		0 * sizeof(char[(unsigned long long)(n) < TSQ_F_USER_MAX ? 1 : -1])))
#define TSQ_F_USER_ALL (~0u << TSQ_F_USER_SHIFT)
/* Everything the owner's release runs: DEFERRED and all user bits (not THROTTLED/QUEUED). */
#define TSQ_F_DEFERRED_ALL (TSQ_F_DEFERRED | TSQ_F_USER_ALL)

struct tsq_flags {
	uint32_t word; /* private: use the functions below (other headers too) */
};

/*
 * tsq_flags_user - TSQ_F_USER(n) for an n known only at run time.
 * Context: any thread. Blocks: never. Ordering: none (no shared memory).
 * Return: the bit; 0 (no bit) for n >= TSQ_F_USER_MAX.
 */
static inline uint32_t tsq_flags_user(unsigned n)
{
	return n < TSQ_F_USER_MAX ? 1u << (TSQ_F_USER_SHIFT + n) : 0u;
}

#define TSQ_FLAGS_INIT \
	{              \
		0      \
	}

/*
 * tsq_flags_init - clear every bit (as TSQ_FLAGS_INIT does statically).
 * Context: before the word is shared. Blocks: never.
 * Ordering: none (a relaxed store); publish the flow the usual way.
 */
static inline void tsq_flags_init(struct tsq_flags *f)
{
	tsq_store(&f->word, 0u, TSQ_RELAXED);
}

/*
 * tsq_flags_load - read the word.
 * Context: any thread. Blocks: never.
 * Ordering: FLAGS_A5, acquire: what was written before a transition it sees is visible.
 * Return: the current bits.
 */
static inline uint32_t tsq_flags_load(const struct tsq_flags *f)
{
	return tsq_load(&f->word, TSQ_ACQUIRE); /* FLAGS_A5 */
}

/*
 * tsq_flags_load_seqcst - read the word as the load half of FLAGS_S1: the completion's look at
 * THROTTLED after its SEQ_CST uncharge (BUDGET_S2 in tsq_budget_complete()).
 * Context: any thread (in tsq, completion context). Blocks: never.
 * Ordering: FLAGS_S1, a SEQ_CST load (a plain load on x86): in the single total order with the
 * sender's FLAGS_S1 RMW and both BUDGET_S2 accesses, so either it sees THROTTLED or the sender's
 * re-check sees the room.
 * Return: the current bits.
 */
static inline uint32_t tsq_flags_load_seqcst(const struct tsq_flags *f)
{
	/* FLAGS_S1, pairs with FLAGS_S1 in tsq_flags_throttle() */
	return tsq_load(&f->word, TSQ_SEQ_CST);
}

/*
 * tsq_flags_throttle - set THROTTLED: "I stop; restart me on a completion".
 * Context: the sender. Blocks: never.
 * Ordering: FLAGS_S1, a SEQ_CST RMW: the store half of the sender's Dekker pair; the sender must
 * re-read its in-flight count with a SEQ_CST load *after* it (BUDGET_S2, as tsq_budget_may_send()
 * does).
 * Return: true if THROTTLED was already set, false if this call set it.
 */
static inline bool tsq_flags_throttle(struct tsq_flags *f)
{
	/* FLAGS_S1, pairs with FLAGS_S1 in tsq_flags_load_seqcst() */
	return (tsq_fetch_or(&f->word, TSQ_F_THROTTLED, TSQ_SEQ_CST) & TSQ_F_THROTTLED) != 0;
}

/*
 * tsq_flags_clear_throttled - withdraw THROTTLED after the re-check found room: the sender
 * keeps running, so it needs no restart. Harmless if a completion has already queued it.
 * Context: the sender. Blocks: never.
 * Ordering: a relaxed RMW (a stale THROTTLED only costs one spurious queueing).
 */
static inline void tsq_flags_clear_throttled(struct tsq_flags *f)
{
	tsq_fetch_and(&f->word, ~TSQ_F_THROTTLED, TSQ_RELAXED);
}

/*
 * tsq_flags_throttled_to_queued - the completion's transition: THROTTLED -> QUEUED in one CAS.
 * Exactly one caller wins per throttle; losers saw THROTTLED clear or QUEUED already set.
 * Context: any completion context. Blocks: never (lock-free CAS loop).
 * Ordering: FLAGS_A3 (acquire load) then FLAGS_X3 (ACQ_REL CAS): the winner's list link, which
 * writes the flow's node, happens after the previous worker's unqueue (FLAGS_S3) that finished
 * reading it.
 * Return: true if the caller won and must link the flow (it now owns the flow's node);
 * false otherwise.
 */
static inline bool tsq_flags_throttled_to_queued(struct tsq_flags *f)
{
	uint32_t old = tsq_load(&f->word, TSQ_ACQUIRE); /* FLAGS_A3, pairs with FLAGS_S3 */

	do {
		if (!(old & TSQ_F_THROTTLED) || (old & TSQ_F_QUEUED))
			return false;
		/* FLAGS_X3 (the CAS below), pairs with FLAGS_S3 in tsq_flags_unqueue() */
	} while (!tsq_cmpxchg_weak(&f->word, &old, (old & ~TSQ_F_THROTTLED) | TSQ_F_QUEUED,
				   TSQ_ACQ_REL, TSQ_ACQUIRE));
	return true;
}

/*
 * tsq_flags_unqueue - the worker's transition, after the flow's node is off the list and no
 * longer read: clear QUEUED. From here on a completion may link the node again, so clear it
 * *before* running the flow's handler: a completion during the handler re-queues the flow
 * instead of being lost.
 * Context: the worker that unlinked the flow. Blocks: never.
 * Ordering: FLAGS_S3, a SEQ_CST RMW (the kernel's full barrier + clear_bit): the unlink and every
 * read of the node happen before a new winner of FLAGS_X3 writes it. Release would suffice for the
 * node; SEQ_CST also orders it before the handler's own budget check (its Dekker pair).
 */
static inline void tsq_flags_unqueue(struct tsq_flags *f)
{
	tsq_fetch_and(&f->word, ~TSQ_F_QUEUED, TSQ_SEQ_CST); /* FLAGS_S3, pairs with FLAGS_X3 */
}

/*
 * tsq_flags_mark_deferred - set deferred bits (TSQ_F_DEFERRED and/or TSQ_F_USER(n)) for the
 * owner's release. Other bits in `bits` are ignored.
 * Context: any thread; in tsq, the worker holding the flow's short lock. Blocks: never.
 * Ordering: FLAGS_X4, an ACQ_REL RMW: what the caller wrote before is visible to the owner that
 * takes the bits.
 * Return: the bits that went 0 -> 1: take one flow reference for each (they are released by
 * whoever runs the bits); 0 if all were already set.
 */
static inline uint32_t tsq_flags_mark_deferred(struct tsq_flags *f, uint32_t bits)
{
	bits &= TSQ_F_DEFERRED_ALL;
	/* FLAGS_X4, pairs with FLAGS_X4 in take */
	return bits & ~tsq_fetch_or(&f->word, bits, TSQ_ACQ_REL);
}

/*
 * tsq_flags_take_deferred - take and clear every deferred bit at once (THROTTLED and QUEUED
 * stay). No atomic RMW at all when none is set: release paths are hot.
 * Context: the owner, at release or flush. Blocks: never (lock-free CAS loop).
 * Ordering: FLAGS_A4, an acquire load, then FLAGS_X4, an ACQ_REL CAS (acquire on failure): the
 * bits' markers' writes are visible to the caller.
 * Return: the deferred bits that were set (each carries the reference its marker took); 0
 * if none was.
 */
static inline uint32_t tsq_flags_take_deferred(struct tsq_flags *f)
{
	uint32_t old = tsq_load(&f->word, TSQ_ACQUIRE); /* FLAGS_A4, pairs with FLAGS_X4 in mark */

	do {
		if (!(old & TSQ_F_DEFERRED_ALL))
			return 0;
		/* FLAGS_X4 (the CAS below), pairs with FLAGS_X4 in tsq_flags_mark_deferred() */
	} while (!tsq_cmpxchg_weak(&f->word, &old, old & ~TSQ_F_DEFERRED_ALL, TSQ_ACQ_REL,
				   TSQ_ACQUIRE));
	return old & TSQ_F_DEFERRED_ALL;
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_FLAGS_H */
