/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tsq/bits/defer_ring.h - PRIVATE to tsq/defer.h, never included directly: the per-pair
 * rings (one producer, one owner; allocated at a pair's first push; a full ring spills to the
 * shared list), and the owner's drain over the rings, then the list.
 *
 * Labels: DEFER_S2, the producer's store of a ring tail (release, or a SEQ_CST exchange in the
 * symmetric mode: see defer_wake.h), pairs with DEFER_A2, the owner's acquire load of it.
 * DEFER_R3, the owner's release store of the head after delivering the slots, pairs with
 * DEFER_A3, the producer's acquire load of the head when its cached copy says "full" or
 * "over half": only then is a slot reused. DEFER_R5, the producer's SEQ_CST store of a new
 * ring's pointer into the table, pairs with DEFER_A5, the owner's load before it reads the
 * ring. DEFER_A7, a spilling producer's look at the list head: NULL after its own link is a
 * take since (coherence), and its acquire keeps the ring pushes that follow after the look.
 */
#ifndef TSQ_BITS_DEFER_RING_H
#define TSQ_BITS_DEFER_RING_H
#ifndef TSQ__DEFER_INSIDE
#error "tsq/bits/defer_ring.h is private to tsq/defer.h: #include <tsq/defer.h> instead"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* One (producer -> target) ring. Slots follow the two lines. */
struct tsq__defer_ring {
	struct {
		uint32_t tail;       /* next slot to fill; DEFER_S2 publishes it */
		uint32_t head_cache; /* the producer's last view of cons.head */
		uint32_t stop;       /* the tail at which a push takes the slow path */
		uint32_t spilling;   /* items it spilled may still be on the list: push there */
		uint64_t spilled; /* items sent to the shared list instead (ring full, spilling) */
	} prod TSQ_CACHELINE_ALIGNED;
	struct {
		uint32_t head;     /* next slot to read; DEFER_R3 frees the slots before it */
		uint64_t consumed; /* items delivered from here (owner-only counter) */
	} cons TSQ_CACHELINE_ALIGNED;
};

/* A pair whose ring could not be allocated: it uses the shared list from then on. */
#define TSQ__DEFER_RING_NOMEM ((struct tsq__defer_ring *)(uintptr_t)1)

static inline struct tsq_defer_item **tsq__defer_slots(struct tsq__defer_ring *r)
{
	return (struct tsq_defer_item **)(void *)(r + 1);
}

/* Test hook: tests define it to make a ring allocation fail. */
#ifndef TSQ__DEFER_RING_ALLOC
#define TSQ__DEFER_RING_ALLOC(bytes) aligned_alloc(TSQ_CACHELINE_SIZE, (bytes))
#endif

/* The ring table: one pointer per (target, producer); the rings come when a pair pushes. */
static inline int tsq__defer_alloc_rings(struct tsq_defer_set *set, uint32_t ring_size)
{
	uint32_t slots = 8;
	size_t n = (size_t)set->nr_shards * set->nr_producers, bytes;

	set->rings = NULL;
	set->ring_size = set->ring_mask = 0;
	if (ring_size == TSQ_DEFER_RINGS_OFF || set->nr_producers < 2)
		return 0;
	if (ring_size == 0)
		ring_size = TSQ_DEFER_RING_DEFAULT;
	if (ring_size > TSQ_DEFER_RING_MAX)
		return -EINVAL;
	while (slots < ring_size)
		slots <<= 1;
	if (n > (SIZE_MAX - TSQ_CACHELINE_SIZE) / sizeof(*set->rings))
		return -ENOMEM;
	/* Whole cache lines: the owner reads its row every drain, no other object shares them. */
	bytes = (n * sizeof(*set->rings) + TSQ_CACHELINE_SIZE - 1) / TSQ_CACHELINE_SIZE *
		TSQ_CACHELINE_SIZE;
	set->rings = (struct tsq__defer_ring **)aligned_alloc(TSQ_CACHELINE_SIZE, bytes);
	if (set->rings == NULL)
		return -ENOMEM;
	memset(set->rings, 0, bytes);
	set->ring_size = slots;
	set->ring_mask = slots - 1;
	return 0;
}

static inline void tsq__defer_free_rings(struct tsq_defer_set *set)
{
	size_t n = (size_t)set->nr_shards * set->nr_producers;

	for (size_t i = 0; set->rings != NULL && i < n; i++)
		if (set->rings[i] != TSQ__DEFER_RING_NOMEM)
			free(set->rings[i]);
	free(set->rings);
	set->rings = NULL;
}

/*
 * Cold: the first push of pair (self -> target) allocates its ring. Only `self` writes this
 * entry, so no race; a failed allocation marks the pair for good (it uses the list).
 */
TSQ__DEFER_COLD struct tsq__defer_ring *
tsq__defer_ring_create(struct tsq_defer_set *set, unsigned target, struct tsq__defer_ring **entry)
{
	size_t bytes = sizeof(struct tsq__defer_ring) + (size_t)set->ring_size * sizeof(void *);
	struct tsq__defer_ring *r = (struct tsq__defer_ring *)TSQ__DEFER_RING_ALLOC(bytes);

	if (r == NULL) {
		tsq_counter_add_shared(&set->shards[target].shared.ring_nomem, 1);
		tsq_store(entry, TSQ__DEFER_RING_NOMEM, TSQ_RELAXED);
		return NULL;
	}
	memset(r, 0, bytes);
	r->prod.stop = set->ring_size / 2;
	/*
	 * DEFER_R5: publish the zeroed ring to the owner's DEFER_A5. SEQ_CST (once per pair):
	 * idle_enter's SEQ_CST look must not miss a ring whose tail is already published.
	 */
	tsq_store(entry, r, TSQ_SEQ_CST);
	return r;
}

/* The ring of pair (self -> target), NULL if the pair has none (then: the list). */
static inline struct tsq__defer_ring *tsq__defer_ring_of(struct tsq_defer_set *set, unsigned target,
							 unsigned self)
{
	struct tsq__defer_ring **entry = &set->rings[(size_t)target * set->nr_producers + self];
	struct tsq__defer_ring *r = tsq_load(entry, TSQ_RELAXED); /* only this producer writes it */

	if (tsq_likely((uintptr_t)r > (uintptr_t)TSQ__DEFER_RING_NOMEM))
		return r;
	if (r == TSQ__DEFER_RING_NOMEM)
		return NULL;
	return tsq__defer_ring_create(set, target, entry);
}

/*
 * Where the next push from `tail` must take the slow path, by the producer's cached head:
 * when it would cross half the ring (from used == half), or when the ring looks full; at
 * once while the producer is spilling.
 */
static inline void tsq__defer_ring_restop(const struct tsq_defer_set *set,
					  struct tsq__defer_ring *r, uint32_t tail)
{
	uint32_t used = tail - r->prod.head_cache, half = set->ring_size / 2;

	if (r->prod.spilling)
		r->prod.stop = tail;
	else
		r->prod.stop = r->prod.head_cache + (used <= half ? half : set->ring_size);
}

/*
 * The producer spilled: are its spilled items taken? FIFO per producer needs them to run
 * before anything it queues on its ring now (a drain takes the rings first; the drain that
 * took them delivers them before it looks at the rings again). If they may still be queued,
 * the new items go behind them on the list, while the list has room.
 */
static inline bool tsq__defer_still_spilling(struct tsq_defer_set *set, unsigned target,
					     struct tsq__defer_ring *r, unsigned n)
{
	const struct tsq_defer_shard *s = &set->shards[target];

	/* DEFER_A7: NULL, read after this producer's last link, is a take since that link. */
	if (tsq_load(&s->shared.list.first, TSQ_ACQUIRE) == NULL) {
		r->prod.spilling = 0;
		return false;
	}
	return tsq_load(&s->shared.count, TSQ_RELAXED) + n <= set->bound;
}

/* The ring looked full to the producer's cached head: how many of n fit really (DEFER_A3). */
static inline uint32_t tsq__defer_ring_room(const struct tsq_defer_set *set,
					    struct tsq__defer_ring *r, uint32_t tail, uint32_t n)
{
	/* DEFER_A3: pairs with DEFER_R3: the owner is done with the slots before `head`. */
	uint32_t head = r->prod.head_cache = tsq_load(&r->cons.head, TSQ_ACQUIRE);
	uint32_t room = set->ring_size - (tail - head);

	return n < room ? n : room;
}

/*
 * After a publish that crossed half the ring (by the producer's cached head) or found the
 * owner idle: kick if the ring is really over half, or if the owner is idle.
 */
TSQ__DEFER_COLD void tsq__defer_ring_wake(struct tsq_defer_set *set, struct tsq__defer_ring *r,
					  unsigned target, uint32_t tail, bool crossed, bool idle)
{
	struct tsq_defer_shard *s = &set->shards[target];

	if (crossed && !idle) {
		/* Crossing half with a stale cached head says little: look again (DEFER_A3). */
		uint32_t head = r->prod.head_cache = tsq_load(&r->cons.head, TSQ_ACQUIRE);

		tsq__defer_ring_restop(set, r, tail);
		if (tail - head <= set->ring_size / 2)
			return;
	}
	tsq__defer_kick(set, s, target);
}

/* DEFER_S2: publish the slots (DEFER_A2) before the look at idle (DEFER_S3). */
static inline void tsq__defer_ring_publish(const struct tsq_defer_set *set,
					   struct tsq__defer_ring *r, uint32_t tail)
{
	if (set->asym)
		tsq_store(&r->prod.tail, tail, TSQ_RELEASE);
	else
		tsq_xchg(&r->prod.tail, tail, TSQ_SEQ_CST);
}

/* Copy items[0..n) into the slots from `tail`: two contiguous copies around the wrap. */
static inline void tsq__defer_ring_copy(const struct tsq_defer_set *set, struct tsq__defer_ring *r,
					uint32_t tail, struct tsq_defer_item *const *items,
					uint32_t n)
{
	struct tsq_defer_item **slot = tsq__defer_slots(r);
	uint32_t at = tail & set->ring_mask, i = set->ring_size - at;

	if (n == 1) {
		slot[at] = items[0];
		return;
	}
	i = i < n ? i : n;
	memcpy(&slot[at], items, i * sizeof(*items));
	memcpy(&slot[0], items + i, (n - i) * sizeof(*items));
}

/*
 * Pair (self -> target)'s ring, every case: queue items[0..n) (oldest first), as many as
 * fit; the rest spill to the shared list (bounded there; what the bound refuses runs here).
 * Returns how many were queued. Out of line: the common case is tsq__defer_ring_put().
 */
TSQ__DEFER_COLD unsigned tsq__defer_ring_put_slow(struct tsq_defer_set *set, unsigned target,
						  struct tsq__defer_ring *r,
						  struct tsq_defer_item *const *items, unsigned n)
{
	/* Only this producer writes prod: relaxed loads of its own fields. */
	uint32_t tail = tsq_load(&r->prod.tail, TSQ_RELAXED);
	uint32_t used = tail - r->prod.head_cache; /* in use, as far as this producer knows */
	uint32_t fit = n, half = set->ring_size / 2;
	bool crossed, idle;

	if (r->prod.spilling && tsq__defer_still_spilling(set, target, r, n)) {
		fit = 0;
		goto spill;
	}
	if (used + n > set->ring_size) {
		fit = tsq__defer_ring_room(set, r, tail, n);
		used = tail - r->prod.head_cache;
		if (fit == 0)
			goto spill;
	}
	tsq__defer_ring_copy(set, r, tail, items, fit);
	tsq__defer_ring_publish(set, r, tail + fit);
	tsq__defer_ring_restop(set, r, tail + fit);
	TSQ__DEFER_HOOK("published", set, target);
	crossed = used <= half && half < used + fit;
	idle = tsq__defer_idle(set, &set->shards[target]);
	if (crossed || idle)
		tsq__defer_ring_wake(set, r, target, tail + fit, crossed, idle);
	if (fit == n)
		return n;
spill:
	/* Newer than the ring's items, so a drain (rings first) runs them after those. */
	tsq_counter_add_owner(&r->prod.spilled, n - fit);
	r->prod.spilling = 1;
	tsq__defer_ring_restop(set, r, tail + fit);
	TSQ__DEFER_HOOK("spilling", set, target);
	return fit + tsq__defer_list_link(set, target, items + fit, n - fit, true);
}

/*
 * The common case, inline: the n items fit by the producer's cached view of the head and do
 * not cross half the ring. A slot store (or two copies), the tail store (symmetric mode: an
 * exchange), the next stop and one load of `idle`; anything else goes to the slow path.
 */
static inline unsigned tsq__defer_ring_put(struct tsq_defer_set *set, unsigned target,
					   struct tsq__defer_ring *r,
					   struct tsq_defer_item *const *items, unsigned n)
{
	uint32_t tail = tsq_load(&r->prod.tail, TSQ_RELAXED);
	uint32_t used = tail - r->prod.head_cache, half = set->ring_size / 2;

	/* Slow: crossing half (used <= half < used + n), not fitting past half, or spilling. */
	if (tsq_unlikely(used + n > (used <= half ? half : set->ring_size) || r->prod.spilling)) {
		if (r->prod.spilling)
			return tsq__defer_ring_put_slow(set, target, r, items, n);
		/* Most come from a stale cached head: one load (DEFER_A3), as DPDK's enqueue. */
		r->prod.head_cache = tsq_load(&r->cons.head, TSQ_ACQUIRE);
		used = tail - r->prod.head_cache;
		if (used + n > (used <= half ? half : set->ring_size))
			return tsq__defer_ring_put_slow(set, target, r, items, n);
	}
	tsq__defer_ring_copy(set, r, tail, items, n);
	tsq__defer_ring_publish(set, r, tail + n);
	tsq__defer_ring_restop(set, r, tail + n);
	TSQ__DEFER_HOOK("published", set, target);
	if (tsq_unlikely(tsq__defer_idle(set, &set->shards[target])))
		tsq__defer_ring_wake(set, r, target, tail + n, false, true);
	return n;
}

/*
 * tsq_defer_push()'s common case, one item: a slot store, the tail store (symmetric mode: an
 * exchange) and one load of `idle`. The tail at `stop` (crossing half the ring, or a
 * full-looking ring) and an idle owner go to the slow path or the wake. Returns 1 if queued.
 */
static inline unsigned tsq__defer_ring_put1(struct tsq_defer_set *set, unsigned target,
					    struct tsq__defer_ring *r, struct tsq_defer_item *item)
{
	uint32_t tail = tsq_load(&r->prod.tail, TSQ_RELAXED);
	bool idle;

	if (tsq_unlikely(tail == r->prod.stop))
		return tsq__defer_ring_put_slow(set, target, r, &item, 1);
	tsq__defer_slots(r)[tail & set->ring_mask] = item;
	if (set->asym) {
		tsq_store(&r->prod.tail, tail + 1, TSQ_RELEASE); /* DEFER_S2, pairs with DEFER_A2 */
		tsq_compiler_barrier();
		idle = tsq_load(&set->shards[target].wake.idle, TSQ_RELAXED) != 0; /* DEFER_S3 */
	} else {
		tsq_xchg(&r->prod.tail, tail + 1, TSQ_SEQ_CST); /* DEFER_S2, pairs with DEFER_A2 */
		idle = tsq_load(&set->shards[target].wake.idle, TSQ_SEQ_CST) != 0; /* DEFER_S3 */
	}
	TSQ__DEFER_HOOK("published", set, target);
	if (tsq_unlikely(idle))
		tsq__defer_ring_wake(set, r, target, tail + 1, false, true);
	return 1;
}

/* Queue items[0..n) from `self` to `target` by the path `self` has; returns how many queued. */
static inline unsigned tsq__defer_put(struct tsq_defer_set *set, unsigned target, unsigned self,
				      struct tsq_defer_item *const *items, unsigned n)
{
	struct tsq__defer_ring *r;

	if (self != TSQ_DEFER_NO_SHARD && set->rings != NULL &&
	    (r = tsq__defer_ring_of(set, target, self)) != NULL)
		return tsq__defer_ring_put(set, target, r, items, n);
	return tsq__defer_list_link(set, target, items, n, true);
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
 * a time, then free them (DEFER_R3).
 */
static inline unsigned long tsq__defer_drain_ring(const struct tsq_defer_set *set,
						  struct tsq__defer_ring *r,
						  const struct tsq__defer_sink *sink)
{
	struct tsq_defer_item **slot = tsq__defer_slots(r);
	uint32_t head = tsq_load(&r->cons.head, TSQ_RELAXED); /* only the owner writes it */
	uint32_t tail = tsq_load(&r->prod.tail, TSQ_ACQUIRE); /* DEFER_A2, pairs with DEFER_S2 */
	unsigned long total = tail - head;

	while (head != tail) {
		uint32_t at = head & set->ring_mask, n = tail - head;
		struct tsq_defer_item **run = &slot[at];

		n = n < set->ring_size - at ? n : set->ring_size - at;
		n = n < TSQ_DEFER_BURST ? n : TSQ_DEFER_BURST;
		/*
		 * The pointers are independent loads. One function call per item keeps the core
		 * from overlapping their misses: start them all now. A burst function gets the array
		 * and loads the items itself, as a DPDK consumer does; prefetching for it measured
		 * slower (bench/RESULTS.md, "Hand-off").
		 */
		if (sink->burst == NULL)
			tsq__defer_prefetch_run(run, n);
		tsq__defer_deliver(sink, run, n);
		head += n;
		/* DEFER_R3: the slots are consumed; pairs with DEFER_A3 (the producer refills). */
		tsq_store(&r->cons.head, head, TSQ_RELEASE);
	}
	tsq_counter_add_owner(&r->cons.consumed, total);
	return total;
}

/*
 * Deliver every ring leading to `self`. Ring slots are delivered in place and freed after;
 * a drain called again from one of their functions must not deliver them a second time: it
 * leaves the rings to the outer drain (which picks up what arrived meanwhile). Returns how
 * many were delivered.
 */
static inline unsigned long tsq__defer_drain_rings(struct tsq_defer_set *set, unsigned self,
						   const struct tsq__defer_sink *sink)
{
	struct tsq_defer_shard *s = &set->shards[self];
	struct tsq__defer_ring **entry = &set->rings[(size_t)self * set->nr_producers];
	unsigned long n = 0;

	s->owner.in_rings = 1;
	for (unsigned p = 0; p < set->nr_producers; p++) {
		/* DEFER_A5: pairs with DEFER_R5, the ring's creation (zeroed before). */
		struct tsq__defer_ring *r = tsq_load(&entry[p], TSQ_ACQUIRE);

		if ((uintptr_t)r > (uintptr_t)TSQ__DEFER_RING_NOMEM)
			n += tsq__defer_drain_ring(set, r, sink);
	}
	s->owner.in_rings = 0;
	return n;
}

static inline long tsq__defer_drain(struct tsq_defer_set *set, unsigned self,
				    const struct tsq__defer_sink *sink)
{
	struct tsq_defer_shard *s = &set->shards[self];
	bool rings = set->rings != NULL && !s->owner.in_rings; /* not from a ring item's fn */
	unsigned long n = 0;

	/*
	 * DEFER_R4 (and its relaxed pre-check): re-arm the kick before taking, so that a push
	 * landing after the take can kick; pairs with DEFER_A4 in tsq__defer_kick().
	 */
	if (tsq_load(&s->wake.kick_pending, TSQ_RELAXED) &&
	    (!tsq_llist_empty(&s->shared.list) || set->rings != NULL))
		tsq_store(&s->wake.kick_pending, 0u, TSQ_RELEASE);
	if (rings)
		n += tsq__defer_drain_rings(set, self, sink);
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
 * Whether shard `self` has work: the list, then each ring. From idle_enter these loads are
 * the owner's look of the Dekker pair (after its DEFER_S3 store: SEQ_CST, or acquire after
 * DEFER_S6); they pair with the producers' DEFER_S1/S2. Relaxed for tsq_defer_pending().
 */
static inline bool tsq__defer_has_work(const struct tsq_defer_set *set, unsigned self, int order)
{
	const struct tsq_defer_shard *s = &set->shards[self];

	if (tsq_load(&s->shared.list.first, order) != NULL)
		return true;
	if (set->rings == NULL)
		return false;
	for (unsigned p = 0; p < set->nr_producers; p++) {
		/* DEFER_A5, at least acquire (SEQ_CST in the symmetric idle_enter, as DEFER_R5). */
		struct tsq__defer_ring *r =
			tsq_load(&set->rings[(size_t)self * set->nr_producers + p],
				 order == TSQ_SEQ_CST ? TSQ_SEQ_CST : TSQ_ACQUIRE);

		if ((uintptr_t)r <= (uintptr_t)TSQ__DEFER_RING_NOMEM)
			continue;
		if (tsq_load(&r->prod.tail, order) != tsq_load(&r->cons.head, TSQ_RELAXED))
			return true;
	}
	return false;
}

/* Add the counters of the rings that lead to `shard` to out->pushed and out->spilled. */
static inline void tsq__defer_ring_stats(const struct tsq_defer_set *set, unsigned shard,
					 struct tsq_defer_stats *out)
{
	for (unsigned p = 0; set->rings != NULL && p < set->nr_producers; p++) {
		/* DEFER_A5: the ring's fields are initialised before its pointer. */
		struct tsq__defer_ring *r =
			tsq_load(&set->rings[(size_t)shard * set->nr_producers + p], TSQ_ACQUIRE);

		if ((uintptr_t)r <= (uintptr_t)TSQ__DEFER_RING_NOMEM)
			continue;
		/*
		 * The ring's pushes: what the owner delivered plus what it holds now (while the owner
		 * drains, off by what it is delivering). Spilled items are the list's already.
		 */
		out->pushed += tsq_load(&r->cons.consumed, TSQ_RELAXED) +
			       (uint32_t)(tsq_load(&r->prod.tail, TSQ_RELAXED) -
					  tsq_load(&r->cons.head, TSQ_RELAXED));
		out->spilled += tsq_load(&r->prod.spilled, TSQ_RELAXED);
	}
}

/* Whether any shard still has queued items (teardown: no other call can run). */
static inline bool tsq__defer_any_work(const struct tsq_defer_set *set)
{
	for (unsigned i = 0; i < set->nr_shards; i++)
		if (tsq__defer_has_work(set, i, TSQ_RELAXED))
			return true;
	return false;
}

#ifdef __cplusplus
}
#endif

#endif /* TSQ_BITS_DEFER_RING_H */
