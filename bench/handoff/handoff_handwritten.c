/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff/handoff_handwritten.c - the baseline written by hand, without any library:
 *   handwritten_llist   a bare intrusive stack: the producer links the item and CASes it onto
 *                       the head in a plain loop (release on success); the owner peeks, takes
 *                       the whole list with one exchange (acquire) and walks it newest first.
 * It is what tsq_llist_push() compiles to, written out, so that any cost tsq's wrappers add
 * shows up as a difference between the two.
 */
#include "handoff.h"

#include <errno.h>

struct hw_node {
	struct hw_node *next;
};
HANDOFF_LINK_FITS(struct hw_node);

struct hw_q {
	struct hw_node *head; /* alone on its line (bench_alloc_lines) */
};

static int hw_init(struct handoff_run *run, const char **why)
{
	struct hw_q *q = bench_alloc_lines(sizeof(*q));

	if (q == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	run->impl = q;
	return 0;
}

static void hw_fini(struct handoff_run *run)
{
	free(run->impl);
}

BENCH_INLINE void hw_push(struct handoff_run *run, struct handoff_producer *p,
			  struct handoff_item *it)
{
	struct hw_q *q = run->impl;
	struct hw_node *n = HANDOFF_LINK(it, struct hw_node);
	struct hw_node *old = __atomic_load_n(&q->head, __ATOMIC_RELAXED);

	(void)p;
	do
		n->next = old;
	while (!__atomic_compare_exchange_n(&q->head, &old, n, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
}

static void hw_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, hw_push, handoff_no_flush);
}

static uint64_t hw_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	struct hw_q *q = run->impl;
	struct hw_node *n, *next;
	uint64_t got = 0;

	if (__atomic_load_n(&q->head, __ATOMIC_RELAXED) == NULL)
		return 0;
	for (n = __atomic_exchange_n(&q->head, NULL, __ATOMIC_ACQUIRE); n != NULL; n = next) {
		next = n->next;
		handoff_touch(acc, HANDOFF_ITEM(n));
		got++;
	}
	return got;
}

const struct handoff_ops handoff_handwritten_llist = {
	.name = "handwritten_llist",
	.init = hw_init,
	.fini = hw_fini,
	.produce = hw_produce,
	.drain = hw_drain,
};
