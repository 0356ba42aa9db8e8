/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/bits/defer_list.h - PRIVATE to tsq/defer.h, never included directly: the shared list
 * (any producer, the exact bound), the fallback run, and how the owner delivers what it took.
 *
 * The exact bound: a producer reserves room in shared.count (one relaxed add) before it links;
 * the owner gives the room of what it took back only after its take (DEFER_A1). So count is
 * at least what the list holds at every moment, and no drain takes more than `bound` pushed
 * items, whatever the preemption (defer_model.c property (b); twin (4) is the kernel's order,
 * which resets its count before llist_del_all).
 * Labels: DEFER_S1, the producer's CAS of the head (SEQ_CST, or release in the asymmetric
 * mode: see defer_wake.h), pairs with DEFER_A1, the owner's acquire exchange.
 */
#ifndef TSQ_BITS_DEFER_LIST_H
#define TSQ_BITS_DEFER_LIST_H
#ifndef TSQ__DEFER_INSIDE
#error "tsq/bits/defer_list.h is private to tsq/defer.h: #include <tsq/defer.h> instead"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* How far down the shared list an item's `ahead` hint points: the misses a walk overlaps. */
#define TSQ__DEFER_AHEAD 8u
/* Item pointers the owner's list walk collects before it delivers (2 KiB of its stack). */
#define TSQ__DEFER_WALK 256u

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
		TSQ__MISUSE_IF((item)->node.next != TSQ__DEFER_NOT_QUEUED, (call),           \
			       "item is already queued (pushed twice before the drain), or " \
			       "was not set up with tsq_defer_item_init()");                 \
		(item)->node.next = NULL;                                                    \
	} while (0)
#else
static inline void tsq__defer_mark_ready(struct tsq_defer_item *item)
{
	(void)item;
}
#define tsq__defer_check_ready(item, call) ((void)0)
#endif

/* The arguments every push-like call checks: -EINVAL cases shared by push and batch_add. */
static inline bool tsq__defer_bad_push(const struct tsq_defer_set *set, unsigned target,
				       unsigned self, const struct tsq_defer_item *item)
{
	return set == NULL || item == NULL || item->fn == NULL || target >= set->nr_shards ||
	       (self >= set->nr_producers && self != TSQ_DEFER_NO_SHARD);
}

/*
 * Whether any of items[0..n) or its function is NULL. Four at a time, each test without a
 * branch of its own: the check costs a bulk push less than the copy into the ring.
 */
static inline bool tsq__defer_bad_items(struct tsq_defer_item *const *items, unsigned n)
{
	unsigned i = 0;

	for (; i + 4 <= n; i += 4) {
		if ((items[i] == NULL) | (items[i + 1] == NULL) | (items[i + 2] == NULL) |
		    (items[i + 3] == NULL))
			return true;
		if ((items[i]->fn == NULL) | (items[i + 1]->fn == NULL) |
		    (items[i + 2]->fn == NULL) | (items[i + 3]->fn == NULL))
			return true;
	}
	for (; i < n; i++)
		if (items[i] == NULL || items[i]->fn == NULL)
			return true;
	return false;
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
TSQ__DEFER_COLD unsigned tsq__defer_list_over(struct tsq_defer_set *set, struct tsq_defer_shard *s,
					      uint64_t old, struct tsq_defer_item *const *items,
					      unsigned n)
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
 * Chain items[0..n) (oldest first) newest first, items[n-1] -> ... -> items[0], and set their
 * `ahead` hints, each an item a few links further down the owner's walk: eight within a long
 * chain, else four. The four before this chain are the shard's last linked items, `recent`,
 * indexed by the reservation's ticket (racy by design: a stale or torn hint only prefetches
 * a line in vain); this chain's newest four replace them.
 */
static inline void tsq__defer_chain(struct tsq_defer_shard *s, uint64_t ticket,
				    struct tsq_defer_item *const *items, unsigned n)
{
	struct tsq_defer_item **recent = s->shared.recent;
	unsigned i = 0;

	if (n == 1) { /* a push: the item four pushes ago, and this one in its place */
		struct tsq_defer_item **slot = &recent[ticket % TSQ__DEFER_RECENT];

		items[0]->ahead = tsq_load(slot, TSQ_RELAXED);
		tsq_store(slot, items[0], TSQ_RELAXED);
		return;
	}
	for (; i < n && i < TSQ__DEFER_RECENT; i++) {
		if (i != 0)
			items[i]->node.next = &items[i - 1]->node;
		items[i]->ahead = tsq_load(&recent[(ticket + i) % TSQ__DEFER_RECENT], TSQ_RELAXED);
	}
	for (; i < n; i++) {
		items[i]->node.next = &items[i - 1]->node;
		items[i]->ahead =
			items[i - (i >= TSQ__DEFER_AHEAD ? TSQ__DEFER_AHEAD : TSQ__DEFER_RECENT)];
	}
	for (i = n > TSQ__DEFER_RECENT ? n - TSQ__DEFER_RECENT : 0; i < n; i++)
		tsq_store(&recent[(ticket + i) % TSQ__DEFER_RECENT], items[i], TSQ_RELAXED);
}

/*
 * The shared list: link items[0..n) (oldest first) to `target`, or as many as the bound
 * lets in; the rest run here. Returns how many were linked.
 */
TSQ__DEFER_NOINLINE unsigned tsq__defer_list_link(struct tsq_defer_set *set, unsigned target,
						  struct tsq_defer_item *const *items, unsigned n,
						  bool bounded)
{
	struct tsq_defer_shard *s = &set->shards[target];
	/*
	 * Reserve room first (relaxed: the count is the bound, not a publication; DEFER_S1 below
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
	tsq__defer_chain(s, old, items, fit);
	/* DEFER_S1: publishes the items (DEFER_A1) before the look at idle (DEFER_S3). */
	if (set->asym)
		was_empty = tsq_llist_push_batch(&s->shared.list, &items[fit - 1]->node,
						 &items[0]->node);
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

/* How the owner consumes what it takes: each item's fn, or arrays to one burst function. */
struct tsq__defer_sink {
	tsq_defer_burst_fn *burst;
	void *ctx;
};

static inline void tsq__defer_deliver(const struct tsq__defer_sink *sink,
				      struct tsq_defer_item **items, unsigned n)
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

/*
 * The part of a take beyond what the owner's walk array holds (the oldest items of a long
 * list): reverse it in place into arrival order, counting, in one walk. Returns the count.
 */
TSQ__DEFER_COLD unsigned long tsq__defer_reverse_rest(struct tsq_llist_node **chain)
{
	struct tsq_llist_node *c = *chain, *fifo = NULL;
	unsigned long n = 0;

	while (c != NULL) {
		struct tsq_llist_node *next = c->next;

		__builtin_prefetch(tsq_container_of(c, struct tsq_defer_item, node)->ahead);
		c->next = fifo;
		fifo = c;
		c = next;
		n++;
	}
	*chain = fifo;
	return n;
}

/* Deliver a chain in arrival order (tsq__defer_reverse_rest()'s), in runs. */
TSQ__DEFER_COLD void tsq__defer_deliver_fifo(const struct tsq__defer_sink *sink,
					     struct tsq_llist_node *fifo)
{
	struct tsq_defer_item *run[TSQ_DEFER_BURST];
	unsigned k = 0;

	while (fifo != NULL) {
		run[k++] = tsq_container_of(fifo, struct tsq_defer_item, node);
		fifo = fifo->next;
		if (k == TSQ_DEFER_BURST || fifo == NULL) {
			tsq__defer_deliver(sink, run, k);
			k = 0;
		}
	}
}

/*
 * Drain the shared list: take it (DEFER_A1), give the room back, deliver oldest first.
 * The walk collects the item pointers, newest first, and never writes to the items: an item
 * the producer's core still holds is only read (one coherence transfer, not a read and then
 * an upgrade for a rewritten link), and the `ahead` hints keep several of those misses in
 * flight. Items beyond the array (the oldest of a long list) are delivered first.
 */
static inline unsigned long tsq__defer_drain_list(struct tsq_defer_set *set, unsigned self,
						  const struct tsq__defer_sink *sink)
{
	struct tsq_defer_shard *s = &set->shards[self];
	struct tsq_defer_item *walk[TSQ__DEFER_WALK];
	/* DEFER_A1: acquire exchange; pairs with DEFER_S1 in tsq__defer_list_link(). */
	struct tsq_llist_node *chain = tsq_llist_take_all(&s->shared.list); /* DEFER_A1 */
	unsigned long n;
	unsigned k = 0;

	if (chain == NULL)
		return 0;
	TSQ__DEFER_HOOK("taken", set, self);
	while (chain != NULL && k < TSQ__DEFER_WALK) {
		struct tsq_defer_item *it = tsq_container_of(chain, struct tsq_defer_item, node);

		__builtin_prefetch(it->ahead);
		walk[k++] = it;
		chain = chain->next;
	}
	n = k + (chain != NULL ? tsq__defer_reverse_rest(&chain) : 0);
	/*
	 * Give back the room of what was taken, after the take: until here a push counts these
	 * items as still on the list, so the list never holds more than `bound` (see Bounds).
	 */
	tsq_fetch_sub(&s->shared.count, (uint64_t)n, TSQ_RELAXED);
	if (chain != NULL)
		tsq__defer_deliver_fifo(sink, chain);
	/* Oldest first: reverse the array, then hand it over in runs. */
	for (unsigned i = 0, j = k - 1; i < j; i++, j--) {
		struct tsq_defer_item *x = walk[i];

		walk[i] = walk[j];
		walk[j] = x;
	}
	for (unsigned i = 0; i < k; i += TSQ_DEFER_BURST)
		tsq__defer_deliver(sink, walk + i,
				   k - i < TSQ_DEFER_BURST ? k - i : TSQ_DEFER_BURST);
	tsq_counter_add_owner(&s->owner.list_drained, n);
	return n;
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_BITS_DEFER_LIST_H */
