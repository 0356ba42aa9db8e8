/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff/handoff_ck.c - Concurrency Kit's stack in the hand-off scenario:
 *   ck_stack   ck_stack_push_upmc() per item (a CAS on the head); the owner
 *              ck_stack_batch_pop_upmc()s the whole stack (one exchange) and walks it
 *              newest first
 */
#include "handoff.h"

#include <errno.h>

#include <ck_stack.h>

HANDOFF_LINK_FITS(ck_stack_entry_t);

struct ck_q {
	ck_stack_t stack; /* alone on its line */
};

static int ck_init(struct handoff_run *run, const char **why)
{
	struct ck_q *q = bench_alloc_lines(sizeof(*q));

	if (q == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	ck_stack_init(&q->stack);
	run->impl = q;
	return 0;
}

static void ck_fini(struct handoff_run *run)
{
	free(run->impl);
}

BENCH_INLINE void ck_push(struct handoff_run *run, struct handoff_producer *p,
			  struct handoff_item *it)
{
	struct ck_q *q = run->impl;

	(void)p;
	ck_stack_push_upmc(&q->stack, HANDOFF_LINK(it, ck_stack_entry_t));
}

static void ck_produce(struct handoff_run *run, struct handoff_producer *p)
{
	handoff_produce(run, p, ck_push, handoff_no_flush);
}

static uint64_t ck_drain(struct handoff_run *run, struct handoff_acc *acc)
{
	struct ck_q *q = run->impl;
	ck_stack_entry_t *e, *next;
	uint64_t got = 0;

	/* ck_stack_batch_pop_upmc exchanges unconditionally: peek first, like every owner here. */
	if (ck_pr_load_ptr(&q->stack.head) == NULL)
		return 0;
	for (e = ck_stack_batch_pop_upmc(&q->stack); e != NULL; e = next) {
		next = e->next;
		handoff_touch(acc, HANDOFF_ITEM(e));
		got++;
	}
	return got;
}

const struct handoff_ops handoff_ck_stack = {
	.name = "ck_stack",
	.init = ck_init,
	.fini = ck_fini,
	.produce = ck_produce,
	.drain = ck_drain,
};
