/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff/single.c - the instruction path: one thread pushes 32 items, then drains them
 * as the owner, and again (single/<impl>; ns_per_item), and its --tsq_tables block.
 *
 * No second CPU is involved, so no cache line moves between cores: what is left is each
 * implementation's own instructions and atomics per item (a CAS or an exchange costs ~20
 * cycles even on a line the thread owns). It is the floor under the hand-off numbers and the
 * case the hand-off runs cannot show apart from the cache traffic.
 *
 * Every implementation of the hand-off scenario (handoff_impls[]) runs here through its
 * handoff_ops, unchanged: the benchmark thread is producer 0 and the owner at once, with
 * run->items = 32 and no window. tsq_defer pushes from a non-shard thread, tsq_defer_shard
 * from shard 1 to shard 0 ("another shard": it is never the inline path), the batching
 * variants hand the 32 over with one splice / one bulk enqueue. The cost of the two indirect
 * calls per round (produce, drain) is the same for all and is included.
 * A round whose drains do not return exactly the 32 items fails the run.
 */
#include "handoff.h"

#include <errno.h>
#include <stdio.h>

/* Items per round: the bulk / batch size. */
#define SINGLE_ITEMS HANDOFF_BATCH
/* Rounds per timed iteration: 8192 items, as in one hand-off iteration. */
#define SINGLE_ROUNDS (HANDOFF_ITEMS_PER_PRODUCER / SINGLE_ITEMS)

static void bm_single(struct gbench_state *st, const void *arg)
{
	const struct handoff_ops *ops = arg;
	struct handoff_run run;
	struct handoff_acc *acc = calloc(1, sizeof(*acc));
	struct handoff_producer *p = bench_alloc_lines(sizeof(*p));
	uint64_t rounds = 0, total = 0, t0;
	const char *why = NULL;
	bool miscount = false;
	int err;

	memset(&run, 0, sizeof(run));
	run.ops = ops;
	run.producers = 1;
	run.window = 0;
	run.items = SINGLE_ITEMS;
	run.prod = p;
	if (acc == NULL || p == NULL ||
	    (p->items = bench_alloc_lines(sizeof(struct handoff_item) * SINGLE_ITEMS)) == NULL ||
	    (p->order = bench_alloc_lines(sizeof(struct handoff_item *) * SINGLE_ITEMS)) == NULL) {
		gbench_skip_with_error(st, "out of memory");
		goto out;
	}
	p->run = &run;
	p->id = 0;
	p->thread = pthread_self();
	handoff_order_init(p, SINGLE_ITEMS, false);
	err = ops->init(&run, &why);
	if (err != 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s: setup failed: %s (%s)", ops->name,
			 why != NULL ? why : "error", strerror(-err));
		gbench_skip_with_error(st, msg);
		goto out;
	}

	t0 = bench_now_ns();
	while (gbench_keep_running(st) && !miscount) {
		for (unsigned r = 0; r < SINGLE_ROUNDS; r++) {
			uint64_t got = 0, n;

			ops->produce(&run, p);
			/* Everything was pushed by this thread before it drains: nothing may be missing. */
			while (got < SINGLE_ITEMS && (n = ops->drain(&run, acc)) != 0)
				got += n;
			total += got;
			miscount |= got != SINGLE_ITEMS;
		}
		rounds += SINGLE_ROUNDS;
	}
	/* Each round writes 1..32 into the items. */
	if (miscount || total != rounds * SINGLE_ITEMS || acc->consumed[0] != total ||
	    acc->sum != rounds * (SINGLE_ITEMS * (SINGLE_ITEMS + 1ull) / 2)) {
		char msg[200];

		snprintf(msg, sizeof(msg), "%s: miscount: %llu items drained in %llu rounds of %u",
			 ops->name, (unsigned long long)total, (unsigned long long)rounds,
			 SINGLE_ITEMS);
		gbench_fail(st, msg);
	} else {
		bench_report_items(st, total, bench_now_ns() - t0);
		if (ops->report != NULL)
			ops->report(&run, st);
	}
	ops->fini(&run);
out:
	if (p != NULL) {
		free(p->items);
		free(p->order);
	}
	free(p);
	free(acc);
}

static void single_register(void)
{
	for (size_t i = 0; i < handoff_nimpls; i++) {
		char name[128];

		snprintf(name, sizeof(name), "single/%s", handoff_impls[i]->name);
		gbench_unit(
			gbench_use_real_time(gbench_register(name, bm_single, handoff_impls[i])),
			GBENCH_US);
	}
}
GBENCH_REGISTRAR(single_register)

static void single_tables(FILE *out)
{
	static struct tables_block b;

	tables_collect(&b, "single/", "");
	handoff_print_block(
		out,
		"single thread: push 32 items, then drain them (the instruction path; M = 10^6)",
		&b);
}
GBENCH_TABLES_PRINTER(single_tables, 20)
