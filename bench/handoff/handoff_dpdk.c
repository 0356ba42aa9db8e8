/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff/handoff_dpdk.c - DPDK's rte_ring in the hand-off scenario. Each name says the ring's
 * concurrency class:
 *   dpdk_ring_mpsc          multi-producer / single-consumer ring, rte_ring_mp_enqueue() per
 *                           item (a CAS on the producer head, a copy, then a wait for earlier
 *                           producers and a store of the producer tail)
 *   dpdk_ring_mpsc_bulk32   the same ring, rte_ring_mp_enqueue_bulk() of HANDOFF_BATCH
 *                           pointers at once: the MPSC class of the lists, and the reference
 *                           of the hand-off tables
 *   dpdk_ring_spsc_bulk32   single-producer / single-consumer ring (RING_F_SP_ENQ),
 *                           rte_ring_sp_enqueue_bulk() of HANDOFF_BATCH: no CAS, only a
 *                           store of the tail. Correct with one producer only, so it runs
 *                           with P = 1 (and the single-thread scenario) and is skipped above.
 * The owner rte_ring_sc_dequeue_burst()s up to HANDOFF_BURST (256) pointers per call and
 * dereferences every item (handoff_touch(), as the list owners do), from the array: the
 * loads of different items do not depend on each other, so their misses overlap.
 *
 * Ring size: handoff_pow2(handoff_ring_capacity() + 1) slots (a ring of 2^k slots holds
 * 2^k - 1), i.e. 512 slots at window:256 with one producer, and 16384 free-running: the
 * capacity the lists have in the same mode, no more. The ring's slots then stay in a few
 * cache lines that both sides keep reusing.
 *
 * The ring lives in memory from aligned_alloc() sized by rte_ring_get_memsize() and is set
 * up with rte_ring_init(): no EAL, no hugepages, no memzone. Only librte_ring is linked
 * (it pulls librte_eal in as a dependency, whose constructors run, but rte_eal_init() is
 * never called). A full ring makes a producer retry.
 */
#include "handoff.h"

#include <errno.h>

#include <rte_ring.h>

struct ring_bulk {
	void *objs[HANDOFF_BATCH];
	unsigned n;
};
static_assert(sizeof(struct ring_bulk) <= HANDOFF_PRODUCER_SCRATCH, "scratch");

static int ring_init_flags(struct handoff_run *run, const char **why, unsigned flags)
{
	const uint32_t slots = handoff_pow2(handoff_ring_capacity(run) + 1);
	ssize_t size = rte_ring_get_memsize(slots);
	struct rte_ring *r;
	int err;

	if (size < 0) {
		*why = "rte_ring_get_memsize";
		return (int)size;
	}
	r = bench_alloc_lines((size_t)size);
	if (r == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	err = rte_ring_init(r, "tsq-bench", slots, flags);
	if (err != 0) {
		free(r);
		*why = "rte_ring_init";
		return err;
	}
	for (unsigned i = 0; i < run->producers; i++)
		memset(run->prod[i].scratch, 0, sizeof(struct ring_bulk));
	run->impl = r;
	return 0;
}

static int ring_mpsc_init(struct handoff_run *run, const char **why)
{
	return ring_init_flags(run, why, RING_F_SC_DEQ);
}

static int ring_spsc_init(struct handoff_run *run, const char **why)
{
	if (run->producers != 1) {
		*why = "a single-producer ring takes one producer only";
		return -ENOTSUP;
	}
	return ring_init_flags(run, why, RING_F_SP_ENQ | RING_F_SC_DEQ);
}

static void ring_fini(struct handoff_run *run)
{
	free(run->impl);
}

BENCH_INLINE void ring_mp_push(struct handoff_run *run, struct handoff_producer *p,
			       struct handoff_item *it)
{
	unsigned spins = 0;

	(void)p;
	while (rte_ring_mp_enqueue(run->impl, it) != 0)
		bench_spin(&spins);
}

static void ring_mp_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, ring_mp_push, handoff_no_flush);
}

/* Bulk: all or nothing, so a partly full ring makes the producer wait, like a batch CAS. */
BENCH_INLINE void ring_mp_bulk_flush(struct handoff_run *run, struct handoff_producer *p)
{
	struct ring_bulk *b = (struct ring_bulk *)(void *)p->scratch;
	unsigned spins = 0;

	if (b->n == 0)
		return;
	while (rte_ring_mp_enqueue_bulk(run->impl, b->objs, b->n, NULL) == 0)
		bench_spin(&spins);
	b->n = 0;
}

BENCH_INLINE void ring_sp_bulk_flush(struct handoff_run *run, struct handoff_producer *p)
{
	struct ring_bulk *b = (struct ring_bulk *)(void *)p->scratch;
	unsigned spins = 0;

	if (b->n == 0)
		return;
	while (rte_ring_sp_enqueue_bulk(run->impl, b->objs, b->n, NULL) == 0)
		bench_spin(&spins);
	b->n = 0;
}

BENCH_INLINE void ring_mp_bulk_push(struct handoff_run *run, struct handoff_producer *p,
				    struct handoff_item *it)
{
	struct ring_bulk *b = (struct ring_bulk *)(void *)p->scratch;

	b->objs[b->n] = it;
	if (++b->n == HANDOFF_BATCH)
		ring_mp_bulk_flush(run, p);
}

BENCH_INLINE void ring_sp_bulk_push(struct handoff_run *run, struct handoff_producer *p,
				    struct handoff_item *it)
{
	struct ring_bulk *b = (struct ring_bulk *)(void *)p->scratch;

	b->objs[b->n] = it;
	if (++b->n == HANDOFF_BATCH)
		ring_sp_bulk_flush(run, p);
}

static void ring_mp_bulk_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, ring_mp_bulk_push, ring_mp_bulk_flush);
}

static void ring_sp_bulk_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, ring_sp_bulk_push, ring_sp_bulk_flush);
}

static uint64_t ring_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	void *objs[HANDOFF_BURST];
	unsigned n = rte_ring_sc_dequeue_burst(run->impl, objs, HANDOFF_BURST, NULL);

	for (unsigned i = 0; i < n; i++)
		handoff_touch(acc, objs[i]);
	return n;
}

const struct handoff_ops handoff_dpdk_ring_mpsc = {
	.name = "dpdk_ring_mpsc",
	.preempt_sensitive = true,
	.init = ring_mpsc_init,
	.fini = ring_fini,
	.produce = ring_mp_produce,
	.drain = ring_drain,
};

const struct handoff_ops handoff_dpdk_ring_mpsc_bulk32 = {
	.name = "dpdk_ring_mpsc_bulk32",
	.preempt_sensitive = true,
	.init = ring_mpsc_init,
	.fini = ring_fini,
	.produce = ring_mp_bulk_produce,
	.drain = ring_drain,
};

const struct handoff_ops handoff_dpdk_ring_spsc_bulk32 = {
	.name = "dpdk_ring_spsc_bulk32",
	.preempt_sensitive = true,
	.init = ring_spsc_init,
	.fini = ring_fini,
	.produce = ring_sp_bulk_produce,
	.drain = ring_drain,
};
