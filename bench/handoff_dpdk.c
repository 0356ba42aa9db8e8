/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff_dpdk.c - DPDK's rte_ring in the hand-off scenario:
 *   dpdk_ring          rte_ring_mp_enqueue() per item (multi-producer: a CAS on the
 *                      producer head, a copy, then a wait for earlier producers and a store
 *                      of the producer tail)
 *   dpdk_ring_bulk32   rte_ring_mp_enqueue_bulk() of HANDOFF_BATCH pointers at once
 * The owner rte_ring_sc_dequeue_burst()s up to HANDOFF_BURST pointers per call (single
 * consumer) and touches each item.
 *
 * The ring lives in memory from aligned_alloc() sized by rte_ring_get_memsize() and is set
 * up with rte_ring_init(): no EAL, no hugepages, no memzone. Only librte_ring is linked
 * (it pulls librte_eal in as a dependency, whose constructors run, but rte_eal_init() is
 * never called). A full ring makes a producer retry; HANDOFF_RING_SLOTS is far above the
 * window mode's P * 256 items in flight, so it only bites in free-running mode.
 */
#include "handoff.h"

#include <errno.h>

#include <rte_ring.h>

#define HANDOFF_RING_SLOTS 16384u

struct ring_bulk {
	void *objs[HANDOFF_BATCH];
	unsigned n;
};
static_assert(sizeof(struct ring_bulk) <= HANDOFF_PRODUCER_SCRATCH, "scratch");

static int ring_init(struct handoff_run *run, const char **why)
{
	ssize_t size = rte_ring_get_memsize(HANDOFF_RING_SLOTS);
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
	/* Multi-producer (the default), single consumer. */
	err = rte_ring_init(r, "tsq-bench", HANDOFF_RING_SLOTS, RING_F_SC_DEQ);
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

static void ring_fini(struct handoff_run *run)
{
	free(run->impl);
}

BENCH_INLINE void ring_push(struct handoff_run *run, struct handoff_producer *p, struct handoff_item *it)
{
	unsigned spins = 0;

	(void)p;
	while (rte_ring_mp_enqueue(run->impl, it) != 0)
		bench_spin(&spins);
}

static void ring_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, ring_push, handoff_no_flush);
}

BENCH_INLINE void ring_bulk_flush(struct handoff_run *run, struct handoff_producer *p)
{
	struct ring_bulk *b = (struct ring_bulk *)(void *)p->scratch;
	unsigned spins = 0;

	if (b->n == 0)
		return;
	/* Bulk: all or nothing, so a partly full ring makes the producer wait, like a batch CAS. */
	while (rte_ring_mp_enqueue_bulk(run->impl, b->objs, b->n, NULL) == 0)
		bench_spin(&spins);
	b->n = 0;
}

BENCH_INLINE void ring_bulk_push(struct handoff_run *run, struct handoff_producer *p, struct handoff_item *it)
{
	struct ring_bulk *b = (struct ring_bulk *)(void *)p->scratch;

	b->objs[b->n] = it;
	if (++b->n == HANDOFF_BATCH)
		ring_bulk_flush(run, p);
}

static void ring_bulk_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, ring_bulk_push, ring_bulk_flush);
}

static uint64_t ring_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	void *objs[HANDOFF_BURST];
	unsigned n = rte_ring_sc_dequeue_burst(run->impl, objs, HANDOFF_BURST, NULL);

	for (unsigned i = 0; i < n; i++)
		handoff_touch(acc, objs[i]);
	return n;
}

const struct handoff_ops handoff_dpdk_ring = {
	.name = "dpdk_ring",
	.preempt_sensitive = true,
	.init = ring_init,
	.fini = ring_fini,
	.produce = ring_produce,
	.drain = ring_drain,
};

const struct handoff_ops handoff_dpdk_ring_bulk32 = {
	.name = "dpdk_ring_bulk32",
	.preempt_sensitive = true,
	.init = ring_init,
	.fini = ring_fini,
	.produce = ring_bulk_produce,
	.drain = ring_drain,
};
