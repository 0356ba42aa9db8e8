/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/llist.h - lock-less, intrusive, NULL-terminated singly linked list (MPSC).
 *
 * Overview
 *   Any number of threads push nodes; one consumer at a time takes the whole list with a
 *   single exchange and walks the detached chain at leisure. This is the building block of
 *   every hand-off in tsq (deferred work, returned buffers, throttled flows).
 *
 *   - push is one compare-and-swap on the head (lock-free, not wait-free: a push can retry
 *     while other pushes win) and reports whether the list was empty, which is what a caller
 *     needs to send exactly one wake-up per empty -> non-empty transition;
 *   - push_batch splices a chain the caller linked privately with the same single CAS, which
 *     is how hand-off gets past the one-cache-line-transfer-per-item ceiling;
 *   - take_all is one exchange and returns the chain newest first; tsq_llist_reverse() turns
 *     it into arrival (FIFO) order in O(n) without touching shared memory.
 *   There is deliberately no "delete first" operation: it is the ABA-prone one (it needs its
 *   consumers serialised) and nothing in tsq needs it.
 *
 * Usage
 *     struct job { int id; struct tsq_llist_node node; };
 *     static struct tsq_llist_head jobs = TSQ_LLIST_INIT;
 *
 *     // any thread
 *     if (tsq_llist_push(&jobs, &j->node)) wake_consumer();   // first item: one wake-up
 *
 *     // the consumer
 *     struct tsq_llist_node *n = tsq_llist_reverse(tsq_llist_take_all(&jobs)), *next;
 *     tsq_llist_for_each_safe(n, next, n) run(tsq_container_of(n, struct job, node));
 *
 * Synchronization table ('-': safe concurrently, 'X': the caller must serialise)
 *
 *                           push  push_batch(_seqcst)  take_all  empty  init
 *     push                    -           -               -        -     X
 *     push_batch(_seqcst)     -           -               -        -     X
 *     take_all                -           -               -        -     X
 *     empty                   -           -               -        -     X
 *     init                    X           X               X        X     X
 *   reverse, link_local and for_each work on a detached or private chain: only its owner
 *   calls them, and they touch no list head.
 *   A node belongs to the list from its push until a take_all returns it; it must not be
 *   pushed again, read or freed by the producer in between. A detached chain belongs to the
 *   thread that took it. Several consumers may call take_all concurrently (each gets a
 *   disjoint chain), but FIFO order then only holds within each chain.
 *
 * Memory ordering
 *   LLIST_R1 (push, push_batch): the successful CAS is a release: the node's contents and its next
 *   pointer are visible to whoever takes the list. Pairs with LLIST_A1.
 *   LLIST_A1 (take_all): the exchange is an acquire. Pairs with LLIST_R1.
 *   LLIST_S1 (push_batch_seqcst): LLIST_R1 made SEQ_CST, for Dekker callers (below). Pairs with
 *   LLIST_A1 and with the caller's own SEQ_CST accesses.
 *   empty() is a relaxed hint: true or false may already be stale when it returns.
 *   Callers that pair a push with a read of some other flag (a Dekker pattern, e.g. "list
 *   non-empty" vs "consumer is going to sleep") need sequential consistency on both sides:
 *   use tsq_llist_push_batch_seqcst(), whose CAS is SEQ_CST (the same instruction on x86).
 */
#ifndef TSQ_LLIST_H
#define TSQ_LLIST_H

#include "atomic.h"

#ifdef __cplusplus
extern "C" {
#endif

/* container_of for C and C++ alike (no typeof, no statement expressions). */
#define tsq_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct tsq_llist_node {
	struct tsq_llist_node *next;
};

struct tsq_llist_head {
	struct tsq_llist_node *first; /* NULL when empty; the newest node otherwise */
};

#define TSQ_LLIST_INIT \
	{              \
		NULL   \
	}

/*
 * Walk a detached chain (from take_all or reverse). The _safe form reads ->next before the
 * body runs, so the body may free or re-push the node.
 */
#define tsq_llist_for_each(pos, chain) for ((pos) = (chain); (pos) != NULL; (pos) = (pos)->next)
#define tsq_llist_for_each_safe(pos, tmp, chain) \
	for ((pos) = (chain); (pos) != NULL && ((tmp) = (pos)->next, 1); (pos) = (tmp))

/*
 * tsq_llist_init - make a list empty.
 * Context: before the list is shared (not concurrently with any other operation).
 * Blocks: never. Ordering: none (a relaxed store); publish the list to other threads the
 * usual way (thread creation, a release).
 */
static inline void tsq_llist_init(struct tsq_llist_head *head)
{
	tsq_store(&head->first, (struct tsq_llist_node *)NULL, TSQ_RELAXED);
}

/* Push with a caller-chosen success order (RELEASE or SEQ_CST). */
static inline bool tsq__llist_push_batch(struct tsq_llist_head *head, struct tsq_llist_node *first,
					 struct tsq_llist_node *last, int success_order)
{
	struct tsq_llist_node *old = tsq_load(&head->first, TSQ_RELAXED);

	do {
		/*
		 * TSQ_DEBUG: the commonest double push - the node is the list's newest already -
		 * would make a cycle that every later walk loops on. (A node deeper in the list
		 * cannot be found without a walk, which a concurrent take makes unsafe.)
		 */
		TSQ__MISUSE_IF(old == first || old == last, "tsq_llist_push",
			       "node pushed twice: it is already the list's newest node");
		/* Plain store: nobody reads last->next until the CAS below publishes it. */
		last->next = old;
	} while (!tsq_cmpxchg_weak(&head->first, &old, first, success_order, TSQ_RELAXED));
	return old == NULL;
}

/*
 * tsq_llist_push_batch - splice a chain first -> ... -> last (linked by the caller through
 * ->next; last->next is overwritten) onto the list with one CAS.
 * Context: any thread. Blocks: never (lock-free; retries only when another push wins).
 * Ordering: LLIST_R1, release on success: the chain's contents are published to take_all.
 * Return: true if the list was empty just before the splice, false otherwise.
 */
static inline bool tsq_llist_push_batch(struct tsq_llist_head *head, struct tsq_llist_node *first,
					struct tsq_llist_node *last)
{
	return tsq__llist_push_batch(head, first, last, TSQ_RELEASE); /* LLIST_R1 */
}

/*
 * tsq_llist_push_batch_seqcst - as tsq_llist_push_batch(), but the CAS is sequentially
 * consistent, for callers that then read a flag the consumer wrote before checking the list
 * (a Dekker pair: tsq/defer.h's idle protocol).
 * Context: any thread. Blocks: never (lock-free).
 * Ordering: LLIST_S1, a SEQ_CST RMW (includes LLIST_R1's release); it orders against the
 * caller's own SEQ_CST flag store and list load on the consumer side.
 * Return: true if the list was empty just before the splice.
 */
static inline bool tsq_llist_push_batch_seqcst(struct tsq_llist_head *head,
					       struct tsq_llist_node *first,
					       struct tsq_llist_node *last)
{
	return tsq__llist_push_batch(head, first, last, TSQ_SEQ_CST); /* LLIST_S1 */
}

/*
 * tsq_llist_push - push one node.
 * Context: any thread. Blocks: never (lock-free).
 * Ordering: LLIST_R1, release on success.
 * Return: true if the list was empty just before the push (the caller's cue for a wake-up).
 */
static inline bool tsq_llist_push(struct tsq_llist_head *head, struct tsq_llist_node *node)
{
	return tsq__llist_push_batch(head, node, node, TSQ_RELEASE); /* LLIST_R1 */
}

/*
 * tsq_llist_take_all - detach the whole list.
 * Context: the consumer (any thread, see the table). Blocks: never (one exchange).
 * Ordering: LLIST_A1, acquire: every node returned, and what its producer wrote before pushing it,
 * is visible.
 * Return: the chain, newest node first, NULL-terminated; NULL if the list was empty.
 */
static inline struct tsq_llist_node *tsq_llist_take_all(struct tsq_llist_head *head)
{
	/* Skip the exchange (and the cache-line ownership it takes) when there is nothing. */
	if (tsq_load(&head->first, TSQ_RELAXED) == NULL)
		return NULL;
	return tsq_xchg(&head->first, (struct tsq_llist_node *)NULL, TSQ_ACQUIRE); /* LLIST_A1 */
}

/*
 * tsq_llist_empty - whether the list looks empty.
 * Context: any thread. Blocks: never.
 * Ordering: relaxed; a hint that may be stale at once (take_all is what acquires).
 * Return: true if the head was NULL when read.
 */
static inline bool tsq_llist_empty(const struct tsq_llist_head *head)
{
	return tsq_load(&head->first, TSQ_RELAXED) == NULL;
}

/*
 * tsq_llist_reverse - reverse a detached chain (newest-first becomes arrival order).
 * Context: the thread that owns the chain. Blocks: never; O(n), no shared memory.
 * Ordering: none.
 * Return: the new first node (NULL for an empty chain).
 */
static inline struct tsq_llist_node *tsq_llist_reverse(struct tsq_llist_node *chain)
{
	struct tsq_llist_node *out = NULL;

	while (chain != NULL) {
		struct tsq_llist_node *next = chain->next;

		chain->next = out;
		out = chain;
		chain = next;
	}
	return out;
}

/*
 * tsq_llist_link_local - prepend a node to a private chain (no atomics); *last is set on the
 * first call. Builds the chain for tsq_llist_push_batch().
 * Context: the thread that owns the private chain. Blocks: never. Ordering: none (the push
 * that splices the chain publishes it).
 * Afterwards *first is the new head of the private chain.
 */
static inline void tsq_llist_link_local(struct tsq_llist_node **first, struct tsq_llist_node **last,
					struct tsq_llist_node *node)
{
	node->next = *first;
	if (*first == NULL)
		*last = node;
	*first = node;
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_LLIST_H */
