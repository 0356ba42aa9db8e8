/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/remote_free/remote_free_handwritten.c - the defer-to-owner pattern written by hand,
 * without tsq, for this one case: B links 32 buffers privately and CASes the chain onto A's
 * return list; A, when its private list runs dry, takes the whole return list with one
 * exchange and uses it as its new free list as is (no walk, no per-buffer callback).
 */
#include "remote_free.h"

#include <errno.h>

struct hw_pool {
	/* B -> A: chains CASed on by B, taken whole by A. */
	_Alignas(TSQ_CACHELINE_SIZE) struct rf_hdr *ret;
	/* A's private free list. */
	_Alignas(TSQ_CACHELINE_SIZE) struct rf_hdr *pool;
	/* B's private chain. */
	_Alignas(TSQ_CACHELINE_SIZE) struct rf_hdr *first, *last;
	unsigned n;
};

static int hw_init(struct rf_run *run, const char **why)
{
	struct hw_pool *hw = bench_alloc_lines(sizeof(*hw));

	if (hw == NULL) {
		*why = "allocation";
		return -ENOMEM;
	}
	hw->pool = rf_pool_fill(run, NULL);
	run->impl = hw;
	return 0;
}

static void hw_fini(struct rf_run *run)
{
	struct hw_pool *hw = run->impl;

	rf_free_chain(hw->pool);
	rf_free_chain(tsq_xchg(&hw->ret, (struct rf_hdr *)NULL, TSQ_ACQUIRE));
	free(hw);
}

BENCH_INLINE struct rf_hdr *hw_alloc(struct rf_run *run)
{
	struct hw_pool *hw = run->impl;
	struct rf_hdr *b = hw->pool;

	if (tsq_unlikely(b == NULL)) {
		/* Peek, then take the whole return list: it becomes the free list as it is. */
		if (tsq_load(&hw->ret, TSQ_RELAXED) != NULL)
			b = tsq_xchg(&hw->ret, (struct rf_hdr *)NULL,
				     TSQ_ACQUIRE); /* H2, pairs with H1 */
		if (b == NULL) {
			run->grown++;
			return rf_pool_buf_new(run);
		}
	}
	hw->pool = RF_LINK(b, struct rf_next)->next;
	return b;
}

BENCH_INLINE void hw_flush(struct rf_run *run)
{
	struct hw_pool *hw = run->impl;
	struct rf_hdr *old;

	if (hw->n == 0)
		return;
	old = tsq_load(&hw->ret, TSQ_RELAXED);
	do
		RF_LINK(hw->last, struct rf_next)->next = old;
	while (!tsq_cmpxchg_weak(&hw->ret, &old, hw->first, TSQ_RELEASE, TSQ_RELAXED)); /* H1 */
	hw->first = hw->last = NULL;
	hw->n = 0;
}

BENCH_INLINE void hw_free(struct rf_run *run, struct rf_hdr *b)
{
	struct hw_pool *hw = run->impl;

	RF_LINK(b, struct rf_next)->next = hw->first;
	if (hw->first == NULL)
		hw->last = b;
	hw->first = b;
	if (++hw->n == RF_BATCH)
		hw_flush(run);
}

RF_INSTANTIATE(handwritten, hw_alloc, rf_nothing, hw_free, hw_flush)

const struct rf_ops rf_handwritten = {
	.name = "handwritten",
	.pool = true,
	.init = hw_init,
	.fini = hw_fini,
	.a_iteration = handwritten_a_iteration,
	.b_main = handwritten_b_main,
};
