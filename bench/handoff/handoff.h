/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff/handoff.h - the hand-off scenario: P producers push items to one owner that drains.
 *
 * Structure (identical for every implementation; handoff.c is the driver)
 *   - The benchmark thread is the owner; P producer threads are created once per benchmark
 *     run (each call of the benchmark function), pinned one per CPU, and joined at its end.
 *   - One timed iteration: the owner bumps a generation number, each producer pushes its
 *     HANDOFF_ITEMS_PER_PRODUCER items, and the owner drains until it has touched every one
 *     (sum of a field, plus a per-producer count). Time = wall clock of the iteration
 *     (UseRealTime); items_per_second = P * items per producer * iterations / time.
 *   - Every implementation moves the same 64-byte item (struct handoff_item); its link
 *     field holds the implementation's node type, and the ring implementations pass pointers.
 *     The producer writes the item's payload before the push, the owner reads it after
 *     (handoff_touch(): every implementation dereferences every item, rings included).
 *   - Item order. By default each producer pushes its items in a random order: a
 *     permutation per producer, from a fixed seed that depends only on the producer's id, so
 *     every implementation gets exactly the same order. In address order ("sequential", a
 *     named variant) the owner's walk down a linked list goes through memory in a straight
 *     line, and the hardware prefetcher fetches the next items before the walk asks for
 *     them: the lists then do not pay the dependent cache miss per item that a real owner
 *     pays (its items were allocated and freed in no particular order). A ring owner holds an
 *     array of pointers and can have many of those misses in flight at once either way.
 *   - The owner's drain looks at the queue with a plain load first and only takes it when
 *     non-empty (tsq and DPDK do so internally; the others get the same peek here), so no
 *     implementation pays for exchanges on an empty queue.
 *   - Free-running mode: producers push as fast as they can (a full DPDK ring makes them
 *     retry; the lists are unbounded). Window mode ("window:256"): a producer may be at most
 *     256 items ahead of what the owner has touched of *its* items - the steady state of a
 *     real pipeline, where the queue stays short and both sides keep their lines hot. The
 *     owner publishes per-producer counts once per drain; batching producers flush their
 *     partial batch before they wait, or the owner would never see it.
 *   - Equal capacity: a ring has room for exactly what the lists can hold in the same mode
 *     (handoff_ring_capacity(): P * 256 in window mode, one whole iteration free-running),
 *     rounded up to the power of two a ring needs, so a ring never makes a producer wait
 *     where a list would not, and its slots are not spread over more memory than needed.
 *   - A checksum over the touched items is verified at the end; a mismatch fails the run
 *     (gbench_fail(): tsq-bench exits non-zero).
 *
 * An implementation is a struct handoff_ops: setup/teardown, the per-iteration producer body
 * (built from handoff_produce() with inline push/flush functions, so the per-item path has
 * no indirect call), and the owner's drain. The single-thread scenario (single.c)
 * runs the same ops with the owner as its own producer.
 */
#ifndef TSQ_BENCH_HANDOFF_H
#define TSQ_BENCH_HANDOFF_H

#include <assert.h>
#include <stdint.h>

#include "harness.h"
#include "tables.h"

/*
 * Items each producer pushes per timed iteration: 512 KiB of items, so that one producer's
 * items fit a 1 MiB L2 and the run measures hand-off, not memory bandwidth.
 */
#define HANDOFF_ITEMS_PER_PRODUCER 8192u
/* Private chain / bulk size of the batching implementations (= TSQ_DEFER_BATCH_MAX). */
#define HANDOFF_BATCH 32u
/* Run-ahead limit of the window mode. */
#define HANDOFF_WINDOW 256u
/*
 * Pointers a ring owner dequeues per call, at most: the window. A list owner takes everything
 * there is with one exchange; a ring owner limited to DPDK's customary burst of 32 pays its
 * head/tail traffic 8 times as often, and measured up to 1.6x slower free-running (same-round
 * runs, address order), never faster. So the ring gets the larger burst.
 */
#define HANDOFF_BURST 256u
/* Per-producer scratch an implementation may use (a private chain, a bulk buffer). */
#define HANDOFF_PRODUCER_SCRATCH 320u

/* The one item type every implementation hands over. */
struct handoff_item {
	uint32_t producer; /* written by the producer, read by the owner */
	uint32_t unused;
	uint64_t value; /* written by the producer, summed by the owner */
	/*
	 * The implementation's node (tsq_llist_node, tsq_defer_item, cds_wfcq_node, ...), after
	 * the payload: with a 24-byte node first and the payload behind it, every tsq form ran
	 * ~25% slower in steady state and DPDK's ring (which never touches the node) did not
	 * (bench/RESULTS.md, "Hand-off").
	 */
	_Alignas(16) unsigned char link[24];
	unsigned char pad[TSQ_CACHELINE_SIZE - 40];
} TSQ_CACHELINE_ALIGNED;

static_assert(sizeof(struct handoff_item) == TSQ_CACHELINE_SIZE, "one item, one cache line");

/* The item a node belongs to. */
#define HANDOFF_ITEM(node) \
	((struct handoff_item *)(void *)((char *)(node)-offsetof(struct handoff_item, link)))
#define HANDOFF_LINK(item, type) ((type *)(void *)(item)->link)
#define HANDOFF_LINK_FITS(type)                                                 \
	static_assert(sizeof(type) <= sizeof(((struct handoff_item *)0)->link), \
		      #type " fits the item's link")

/* Written by the owner only, one line per producer: how many of its items were touched. */
struct handoff_consumed {
	uint64_t n;
} TSQ_CACHELINE_ALIGNED;

struct handoff_run;

struct handoff_producer {
	struct handoff_run *run;
	pthread_t thread;
	unsigned id;
	struct handoff_item *items;  /* run->items of them, reused every iteration */
	struct handoff_item **order; /* the same items in push order (shuffled or address order) */
	uint64_t sent;               /* items pushed (or batched) so far, all iterations */
	uint64_t seen;               /* last value of consumed[id] read (window mode) */
	_Alignas(TSQ_CACHELINE_SIZE) unsigned char scratch[HANDOFF_PRODUCER_SCRATCH];
} TSQ_CACHELINE_ALIGNED;

/* The owner's private tally. */
struct handoff_acc {
	uint64_t sum;
	uint64_t consumed[BENCH_MAX_THREADS];
};

struct handoff_ops {
	const char *name;
	/*
	 * Stalls all producers while one of them is preempted at the wrong moment (DPDK's
	 * multi-producer ring: every producer waits, spinning, for the tail to reach its slot).
	 * With more threads than CPUs that costs whole time slices per item, and a run takes
	 * minutes, so such an implementation is skipped when oversubscribed.
	 */
	bool preempt_sensitive;
	/* Set up run->impl for run->producers producers; 0, or -errno with *why filled in. */
	int (*init)(struct handoff_run *run, const char **why);
	void (*fini)(struct handoff_run *run);
	/* One iteration's pushes of producer p (built with handoff_produce()). */
	void (*produce)(struct handoff_run *run, struct handoff_producer *p);
	/* Owner: take what is there, handoff_touch() each item; return how many. */
	uint64_t (*drain)(struct handoff_run *run, struct handoff_acc *acc);
	/* Optional: add implementation counters (fallbacks ...) at the end of the run. */
	void (*report)(struct handoff_run *run, struct gbench_state *st);
};

struct handoff_run {
	const struct handoff_ops *ops;
	unsigned producers;
	unsigned window; /* 0: free-running */
	uint32_t items; /* per producer per iteration (HANDOFF_ITEMS_PER_PRODUCER; 32 single-thread) */
	void *impl;     /* the implementation's queue */
	struct handoff_producer *prod;
	struct handoff_consumed *consumed;
	struct bench_cpus cpus;
	/* Written by the owner once per iteration, read by spinning producers: its own line. */
	_Alignas(TSQ_CACHELINE_SIZE) uint64_t gen;
};

/* The owner's work per item: the same for every implementation. */
BENCH_INLINE void handoff_touch(struct handoff_acc *acc, const struct handoff_item *it)
{
	acc->sum += it->value;
	acc->consumed[it->producer]++;
}

typedef void handoff_push_fn(struct handoff_run *run, struct handoff_producer *p,
			     struct handoff_item *it);
typedef void handoff_flush_fn(struct handoff_run *run, struct handoff_producer *p);

/*
 * The producer's iteration. Always inlined with constant push/flush, so each implementation
 * gets its own copy of the loop with its push inlined in it.
 */
BENCH_INLINE void handoff_produce(struct handoff_run *run, struct handoff_producer *p,
				  handoff_push_fn *push, handoff_flush_fn *flush)
{
	const uint64_t w = run->window;
	const uint32_t n = run->items;

	for (uint32_t i = 0; i < n; i++) {
		struct handoff_item *it = p->order[i];

		if (w != 0 && p->sent - p->seen >= w) {
			unsigned spins = 0;

			/* Whatever sits in a private batch counts as sent: hand it over first. */
			flush(run, p);
			/* Relaxed: a flow-control hint; items are reused only after the next gen. */
			while (p->sent -
				       (p->seen = tsq_load(&run->consumed[p->id].n, TSQ_RELAXED)) >=
			       w)
				bench_spin(&spins);
		}
		it->producer = p->id;
		it->value = (uint64_t)i + 1;
		push(run, p, it);
		p->sent++;
	}
	flush(run, p);
}

BENCH_INLINE void handoff_no_flush(struct handoff_run *run, struct handoff_producer *p)
{
	(void)run;
	(void)p;
}

/*
 * Most items a ring must hold so that it never makes a producer wait where a list would not:
 * what the window lets every producer have in flight, or a whole iteration free-running.
 */
static inline uint32_t handoff_ring_capacity(const struct handoff_run *run)
{
	return run->producers * (run->window != 0 ? run->window : run->items);
}

/* The smallest power of two >= n (n <= 2^31). */
static inline uint32_t handoff_pow2(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/*
 * Fill p->order with p->items[0 .. n) in address order, or shuffled (Fisher-Yates driven by
 * splitmix64 from a seed that depends only on the producer's id: every implementation, every
 * run, gets the same permutation).
 */
static inline void handoff_order_init(struct handoff_producer *p, uint32_t n, bool shuffled)
{
	uint64_t x = 0x7473710000000000ull + p->id; /* "tsq", then the producer */

	for (uint32_t i = 0; i < n; i++)
		p->order[i] = &p->items[i];
	if (!shuffled)
		return;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);
		uint32_t j;
		struct handoff_item *t;

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		j = (uint32_t)(z % (i + 1));
		t = p->order[i];
		p->order[i] = p->order[j];
		p->order[j] = t;
	}
}

/* The implementations, each in its own file; handoff_impls lists those built, in table order. */
extern const struct handoff_ops handoff_tsq_llist, handoff_tsq_llist_batch, handoff_tsq_defer,
	handoff_tsq_defer_batch, handoff_tsq_defer_shard, handoff_tsq_defer_shard_batch,
	handoff_tsq_defer_reg, handoff_handwritten_llist, handoff_mutex_list;
/* Built only once tsq/defer.h has its producer rings (it then defines TSQ_DEFER_RINGS_OFF). */
extern const struct handoff_ops handoff_tsq_defer_burst, handoff_tsq_defer_bulk;
#ifdef TSQ_BENCH_HAVE_URCU
extern const struct handoff_ops handoff_urcu_wfcq, handoff_urcu_lfstack;
#endif
#ifdef TSQ_BENCH_HAVE_CK
extern const struct handoff_ops handoff_ck_stack;
#endif
#ifdef TSQ_BENCH_HAVE_DPDK
extern const struct handoff_ops handoff_dpdk_ring_mpsc, handoff_dpdk_ring_mpsc_bulk32,
	handoff_dpdk_ring_spsc_bulk32;
#endif
extern const struct handoff_ops *const handoff_impls[];
extern const size_t handoff_nimpls;

/*
 * --tsq_tables: print one block of hand-off or single-thread results (handoff.c): items/s,
 * ns/item and the same-round ratio to the reference ring per implementation, then best tsq
 * against best peer. Nothing if the block is empty.
 */
void handoff_print_block(FILE *out, const char *title, const struct tables_block *b);

#endif /* TSQ_BENCH_HANDOFF_H */
