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
 *
 * Synchronization table: every transition is a single atomic on the word, so all may run
 * concurrently ('-') with each other; *who* may call each is the protocol:
 *     throttle, clear_throttled: the sender (the thread that owns sending on the flow)
 *     throttled_to_queued:       any completion context
 *     unqueue:                   the worker that took the flow off its list
 *     mark_deferred:             any thread (in tsq, the worker, under the flow's short lock)
 *     take_deferred:             the owner at release/flush (under the flow's short lock)
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
#define TSQ_F_USER(n)                                                                      \
	(1u << (TSQ_F_USER_SHIFT + (n) +                                                   \
		0 * sizeof(char[(unsigned long long)(n) < TSQ_F_USER_MAX ? 1 : -1])))
#define TSQ_F_USER_ALL (~0u << TSQ_F_USER_SHIFT)
/* Everything the owner's release runs: DEFERRED and all user bits (not THROTTLED/QUEUED). */
#define TSQ_F_DEFERRED_ALL (TSQ_F_DEFERRED | TSQ_F_USER_ALL)

struct tsq_flags {
	uint32_t word; /* use the functions below */
};

/*
 * tsq_flags_user - TSQ_F_USER(n) for an n known only at run time.
 * Context: any. Blocks: never. Ordering: none.
 * Return: the bit; 0 (no bit) for n >= TSQ_F_USER_MAX.
 */
static inline uint32_t tsq_flags_user(unsigned n)
{
	return n < TSQ_F_USER_MAX ? 1u << (TSQ_F_USER_SHIFT + n) : 0u;
}

#define TSQ_FLAGS_INIT { 0 }

/*
 * tsq_flags_load - read the word.
 * Context: any thread. Blocks: never. Ordering: acquire (pairs with the RMWs below).
 * Return: the current bits.
 */
static inline uint32_t tsq_flags_load(const struct tsq_flags *f)
{
	return tsq_load(&f->word, TSQ_ACQUIRE);
}

/*
 * tsq_flags_throttle - set THROTTLED: "I stop; restart me on a completion".
 * Context: the sender. Blocks: never.
 * Ordering: F1, SEQ_CST RMW. This is the store half of the sender's Dekker pair: the sender
 * must re-read its in-flight counter with a SEQ_CST load *after* it (tsq_budget does). Pairs
 * with: C1/C2 in tsq_budget_complete() (SEQ_CST fetch_sub of in-flight, SEQ_CST flags load).
 * Return: true if THROTTLED was already set.
 */
static inline bool tsq_flags_throttle(struct tsq_flags *f)
{
	return (tsq_fetch_or(&f->word, TSQ_F_THROTTLED, TSQ_SEQ_CST) & TSQ_F_THROTTLED) != 0; /* F1 */
}

/*
 * tsq_flags_clear_throttled - withdraw THROTTLED after the re-check found room: the sender
 * keeps running, so it needs no restart. Harmless if a completion has already queued it.
 * Context: the sender. Blocks: never. Ordering: relaxed RMW (a stale THROTTLED only costs
 * one spurious queueing). Return: nothing.
 */
static inline void tsq_flags_clear_throttled(struct tsq_flags *f)
{
	tsq_fetch_and(&f->word, ~TSQ_F_THROTTLED, TSQ_RELAXED);
}

/*
 * tsq_flags_throttled_to_queued - the completion's transition: THROTTLED -> QUEUED in one CAS.
 * Exactly one caller wins per throttle; losers saw THROTTLED clear or QUEUED already set.
 * Context: any completion context. Blocks: never (lock-free CAS loop).
 * Ordering: F2, acquire-release CAS: the winner's list link (which writes the flow's node)
 * happens after the previous worker's unqueue (F3, release) that finished reading it.
 * Return: true if the caller won and must link the flow (it now owns the flow's node).
 */
static inline bool tsq_flags_throttled_to_queued(struct tsq_flags *f)
{
	uint32_t old = tsq_load(&f->word, TSQ_ACQUIRE);

	do {
		if (!(old & TSQ_F_THROTTLED) || (old & TSQ_F_QUEUED))
			return false;
	} while (!tsq_cmpxchg_weak(&f->word, &old, (old & ~TSQ_F_THROTTLED) | TSQ_F_QUEUED, TSQ_ACQ_REL,
				   TSQ_ACQUIRE)); /* F2 */
	return true;
}

/*
 * tsq_flags_unqueue - the worker's transition, after the flow's node is off the list and no
 * longer read: clear QUEUED. From here on a completion may link the node again, so clear it
 * *before* running the flow's handler: a completion during the handler re-queues the flow
 * instead of being lost.
 * Context: the worker that unlinked the flow. Blocks: never.
 * Ordering: F3, SEQ_CST RMW (the kernel's full barrier + clear_bit): the unlink and every
 * read of the node happen before a new winner of F2 writes it. Release would suffice for the
 * node; SEQ_CST also orders it before the handler's own budget check (its Dekker pair).
 * Return: nothing.
 */
static inline void tsq_flags_unqueue(struct tsq_flags *f)
{
	tsq_fetch_and(&f->word, ~TSQ_F_QUEUED, TSQ_SEQ_CST); /* F3, pairs with F2 */
}

/*
 * tsq_flags_mark_deferred - set deferred bits (TSQ_F_DEFERRED and/or TSQ_F_USER(n)) for the
 * owner's release.
 * Context: any thread; in tsq, the worker holding the flow's short lock. Blocks: never.
 * Ordering: F4, acquire-release RMW: what the caller wrote before is visible to the owner that
 * takes the bits (F5). Pairs with: F5 in tsq_flags_take_deferred().
 * Return: the bits that went 0 -> 1: take one flow reference for each (they are released by
 * whoever runs the bits). 0 if all were already set.
 */
static inline uint32_t tsq_flags_mark_deferred(struct tsq_flags *f, uint32_t bits)
{
	bits &= TSQ_F_DEFERRED_ALL;
	return bits & ~tsq_fetch_or(&f->word, bits, TSQ_ACQ_REL); /* F4 */
}

/*
 * tsq_flags_take_deferred - take and clear every deferred bit at once (THROTTLED and QUEUED
 * stay). No atomic RMW at all when none is set: release paths are hot.
 * Context: the owner, at release or flush. Blocks: never.
 * Ordering: F5, acquire (load, and the CAS on success). Pairs with: F4.
 * Return: the deferred bits that were set (each carries the reference its marker took).
 */
static inline uint32_t tsq_flags_take_deferred(struct tsq_flags *f)
{
	uint32_t old = tsq_load(&f->word, TSQ_ACQUIRE);

	do {
		if (!(old & TSQ_F_DEFERRED_ALL))
			return 0;
	} while (!tsq_cmpxchg_weak(&f->word, &old, old & ~TSQ_F_DEFERRED_ALL, TSQ_ACQ_REL,
				   TSQ_ACQUIRE)); /* F5 */
	return old & TSQ_F_DEFERRED_ALL;
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_FLAGS_H */
