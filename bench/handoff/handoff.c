/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/handoff/handoff.c - driver of the hand-off scenario (see handoff.h for its structure),
 * its --tsq_tables printer, and the registration of
 *     handoff/<impl>/window:256/producers:P              steady state, shuffled item order
 *     handoff/<impl>/producers:P                         free-running, shuffled
 *     handoff/<impl>/sequential/window:256/producers:P   the same two in address order
 *     handoff/<impl>/sequential/producers:P
 */
#include "handoff.h"

#include <tsq/defer.h> /* TSQ_DEFER_RINGS_OFF: whether tsq_defer_burst exists */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* gen value that tells the producers to exit. */
#define HANDOFF_STOP UINT64_MAX

struct handoff_cfg {
	const struct handoff_ops *ops;
	unsigned producers;
	unsigned window;
	bool sequential; /* items in address order instead of the shuffled default */
};

static void *handoff_producer_main(void *arg)
{
	struct handoff_producer *p = arg;
	struct handoff_run *run = p->run;
	uint64_t seen_gen = 0;

	/* First touch from the producer: its items start in its own cache. */
	memset(p->items, 0, sizeof(*p->items) * run->items);
	for (;;) {
		unsigned spins = 0;
		uint64_t g;

		/* Acquire: pairs with the owner's release of gen, which it issues only after it
		 * touched every item of the previous iteration, so the items may be rewritten. */
		while ((g = tsq_load(&run->gen, TSQ_ACQUIRE)) == seen_gen)
			bench_spin(&spins);
		if (g == HANDOFF_STOP)
			return NULL;
		seen_gen = g;
		run->ops->produce(run, p);
	}
}

static void handoff_stop_producers(struct handoff_run *run, unsigned started)
{
	tsq_store(&run->gen, HANDOFF_STOP, TSQ_RELEASE);
	for (unsigned i = 0; i < started; i++)
		pthread_join(run->prod[i].thread, NULL);
}

static void handoff_free(struct handoff_run *run)
{
	if (run->prod != NULL)
		for (unsigned i = 0; i < run->producers; i++) {
			free(run->prod[i].items);
			free(run->prod[i].order);
		}
	free(run->prod);
	free(run->consumed);
}

static void bm_handoff(struct gbench_state *st, const void *arg)
{
	const struct handoff_cfg *cfg = arg;
	const unsigned P = cfg->producers;
	const uint32_t N = HANDOFF_ITEMS_PER_PRODUCER;
	const uint64_t per_iter = (uint64_t)P * N;
	/* Every producer writes 1..N into its N items each iteration. */
	const uint64_t sum_per_iter = (uint64_t)P * N * (N + 1ull) / 2;
	struct handoff_run run;
	struct handoff_acc *acc;
	uint64_t published[BENCH_MAX_THREADS] = { 0 };
	uint64_t total = 0, iters = 0, drains = 0, t0;
	const char *why = NULL;
	unsigned started = 0;
	bool miscount;
	int err;

	if (cfg->ops->preempt_sensitive && P + 1 > gbench_nr_cpus()) {
		char msg[200];

		snprintf(msg, sizeof(msg),
			 "%s skipped: %u threads on %u CPUs, and a preempted producer stalls every "
			 "other producer for a time slice (not preemption-safe)",
			 cfg->ops->name, P + 1, gbench_nr_cpus());
		gbench_skip_with_error(st, msg);
		return;
	}
	memset(&run, 0, sizeof(run));
	run.ops = cfg->ops;
	run.producers = P;
	run.window = cfg->window;
	run.items = N;
	acc = calloc(1, sizeof(*acc));
	run.prod = bench_alloc_lines(sizeof(*run.prod) * P);
	run.consumed = bench_alloc_lines(sizeof(*run.consumed) * P);
	if (acc == NULL || run.prod == NULL || run.consumed == NULL) {
		gbench_skip_with_error(st, "out of memory");
		goto out_free;
	}
	for (unsigned i = 0; i < P; i++) {
		run.prod[i].run = &run;
		run.prod[i].id = i;
		run.prod[i].items = bench_alloc_lines(sizeof(struct handoff_item) * N);
		run.prod[i].order = bench_alloc_lines(sizeof(struct handoff_item *) * N);
		if (run.prod[i].items == NULL || run.prod[i].order == NULL) {
			gbench_skip_with_error(st, "out of memory");
			goto out_free;
		}
		handoff_order_init(&run.prod[i], N, !cfg->sequential);
	}
	err = run.ops->init(&run, &why);
	if (err != 0) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s: setup failed: %s (%s)", run.ops->name,
			 why != NULL ? why : "error", strerror(-err));
		gbench_skip_with_error(st, msg);
		goto out_free;
	}

	/* Producers are pinned to CPUs 1..P, the owner to CPU 0 (modulo the usable CPUs). */
	bench_cpus_get(&run.cpus);
	for (; started < P; started++) {
		if (pthread_create(&run.prod[started].thread, NULL, handoff_producer_main,
				   &run.prod[started]) != 0)
			break;
		bench_pin(&run.cpus, run.prod[started].thread, started + 1);
	}
	bench_pin(&run.cpus, pthread_self(), 0);
	if (started < P) {
		gbench_skip_with_error(st, "pthread_create failed");
		goto out_stop;
	}

	t0 = bench_now_ns();
	while (gbench_keep_running(st)) {
		const uint64_t target = total + per_iter;
		unsigned spins = 0;

		/* Release: the items' previous iteration is over (pairs with the producers' acquire). */
		tsq_store(&run.gen, ++iters, TSQ_RELEASE);
		while (total < target) {
			uint64_t got = run.ops->drain(&run, acc);

			if (got == 0) {
				bench_spin(&spins);
				continue;
			}
			spins = 0;
			total += got;
			drains++;
			if (run.window == 0)
				continue;
			/* One store per producer that made progress: the only owner->producer traffic. */
			for (unsigned i = 0; i < P; i++)
				if (acc->consumed[i] != published[i])
					tsq_store(&run.consumed[i].n,
						  published[i] = acc->consumed[i], TSQ_RELAXED);
		}
	}

	/* Exact counts, per producer and in total, and the payload sum. */
	miscount = acc->sum != sum_per_iter * iters || total != per_iter * iters;

	for (unsigned i = 0; i < P; i++)
		miscount |= acc->consumed[i] != (uint64_t)N * iters;
	if (miscount) {
		char msg[200];

		snprintf(
			msg, sizeof(msg),
			"%s: checksum mismatch: %llu items touched, %llu pushed (items lost or duplicated)",
			run.ops->name, (unsigned long long)total,
			(unsigned long long)(per_iter * iters));
		gbench_fail(st, msg);
	} else {
		bench_report_items(st, total, bench_now_ns() - t0);
		/* Items per non-empty drain: how much batching the queue gave the owner. */
		gbench_counter(st, "items_per_drain",
			       drains != 0 ? (double)total / (double)drains : 0.0,
			       GBENCH_COUNTER_DEFAULT);
		if (run.ops->report != NULL)
			run.ops->report(&run, st);
	}
out_stop:
	handoff_stop_producers(&run, started);
	bench_cpus_restore(&run.cpus);
	run.ops->fini(&run);
out_free:
	handoff_free(&run);
	free(acc);
}

/* Table order: tsq's, the hand-written baseline, then the peers; the reference ring last but one. */
const struct handoff_ops *const handoff_impls[] = {
	&handoff_tsq_llist,         &handoff_tsq_llist_batch,       &handoff_tsq_defer,
	&handoff_tsq_defer_batch,   &handoff_tsq_defer_shard,       &handoff_tsq_defer_shard_batch,
	&handoff_tsq_defer_reg,
#ifdef TSQ_DEFER_RINGS_OFF
	&handoff_tsq_defer_burst,   &handoff_tsq_defer_bulk,
#endif
	&handoff_handwritten_llist,
#ifdef TSQ_BENCH_HAVE_URCU
	&handoff_urcu_wfcq,         &handoff_urcu_lfstack,
#endif
#ifdef TSQ_BENCH_HAVE_CK
	&handoff_ck_stack,
#endif
#ifdef TSQ_BENCH_HAVE_DPDK
	&handoff_dpdk_ring_mpsc,    &handoff_dpdk_ring_mpsc_bulk32, &handoff_dpdk_ring_spsc_bulk32,
#endif
	&handoff_mutex_list,
};
const size_t handoff_nimpls = sizeof(handoff_impls) / sizeof(handoff_impls[0]);

/*
 * Grouped by order, then mode, then producer count, then implementation: the implementations
 * being compared run back to back in every round, so drifts of the machine affect them alike.
 * The shuffled order (the headline) comes first.
 */
static void handoff_register(void)
{
	const unsigned maxp = gbench_max_producers();
	const unsigned windows[] = { HANDOFF_WINDOW, 0 };

	for (unsigned seq = 0; seq < 2; seq++) {
		for (unsigned w = 0; w < 2; w++) {
			for (unsigned P = 1; P <= maxp; P++) {
				for (size_t i = 0; i < handoff_nimpls; i++) {
					/* Lives as long as the program: registration keeps the pointer. */
					struct handoff_cfg *cfg = malloc(sizeof(*cfg));
					char name[160], mode[32] = "";

					if (cfg == NULL)
						abort();
					cfg->ops = handoff_impls[i];
					cfg->producers = P;
					cfg->window = windows[w];
					cfg->sequential = seq != 0;
					if (cfg->window != 0)
						snprintf(mode, sizeof(mode), "window:%u/",
							 cfg->window);
					snprintf(name, sizeof(name), "handoff/%s/%s%sproducers:%u",
						 cfg->ops->name, seq ? "sequential/" : "", mode, P);
					gbench_unit(gbench_use_real_time(
							    gbench_register(name, bm_handoff, cfg)),
						    GBENCH_US);
				}
			}
		}
	}
}
GBENCH_REGISTRAR(handoff_register)

/* ---- --tsq_tables ----------------------------------------------------------------------- */
/*
 * One block per order x mode x producer count (and the single-thread block, single.c):
 * items/s and ns per item per implementation, and each one's same-round ratio to the
 * reference - DPDK's MPSC bulk ring (dpdk_ring_mpsc_bulk32; the hand-written llist where
 * DPDK is not built) - then best tsq against best peer.
 */

static bool is_tsq(const char *impl)
{
	return strncmp(impl, "tsq_", 4) == 0;
}

/* The hand-written baselines are neither tsq nor a peer library. */
static bool is_handwritten(const char *impl)
{
	return strncmp(impl, "handwritten", 11) == 0;
}

/* The reference of the hand-off and single-thread blocks: first one present. */
static int handoff_ref(const struct tables_block *b, const char **name)
{
	static const char *const refs[] = { "dpdk_ring_mpsc_bulk32", "handwritten_llist" };

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		int r = tables_find(b, refs[i]);

		if (r >= 0 && !gbench_result_at(b->idx[r])->error) {
			*name = refs[i];
			return r;
		}
	}
	*name = "-";
	return -1;
}

/* Per round: best of tsq's rows / best of the peer libraries' (hand-written ones left out). */
static bool handoff_best_ratio(const struct tables_block *b, struct bench_summary *s)
{
	static double q[TABLES_MAX_ROUNDS];
	const unsigned rounds = tables_rounds();

	for (unsigned k = 0; k < rounds; k++) {
		double best_tsq = 0, best_peer = 0;

		for (size_t r = 0; r < b->n; r++) {
			double x = gbench_result_round_ips(b->idx[r], k);

			if (!(x > 0) || is_handwritten(b->impl[r]))
				continue;
			if (is_tsq(b->impl[r]))
				best_tsq = x > best_tsq ? x : best_tsq;
			else
				best_peer = x > best_peer ? x : best_peer;
		}
		q[k] = best_tsq > 0 && best_peer > 0 ? best_tsq / best_peer : NAN;
	}
	return tables_summary(q, rounds, s);
}

void handoff_print_block(FILE *out, const char *title, const struct tables_block *b)
{
	const char *ref_name;
	int ref = handoff_ref(b, &ref_name);
	char head[64], ns_cell[64], ratio_cell[64];
	struct bench_summary st;

	if (b->n == 0)
		return;
	fprintf(out, "\n%s\n", title);
	snprintf(head, sizeof(head), "x %s", ref_name);
	fprintf(out, "%-24s%10s  %-24s  %-24s\n", "impl", "items/s", "ns/item", head);
	for (size_t r = 0; r < b->n; r++) {
		const struct gbench_result *res = gbench_result_at(b->idx[r]);
		struct bench_summary ns, ratio;
		bool ns_ok, ratio_ok;

		if (res->error) {
			fprintf(out, "%-24s%10s  %s\n", b->impl[r], "skip", res->error_message);
			continue;
		}
		tables_row_stats(b, r, ref, &ns, &ns_ok, &ratio, &ratio_ok);
		tables_cell(ns_cell, sizeof(ns_cell), &ns, ns_ok, 1, "");
		tables_cell(ratio_cell, sizeof(ratio_cell), &ratio, ratio_ok, 2, "x");
		fprintf(out, "%-24s%9.1fM  %-24s  %-24s\n", b->impl[r], res->items_per_second / 1e6,
			ns_cell, ratio_cell);
	}
	if (handoff_best_ratio(b, &st)) {
		tables_cell(ratio_cell, sizeof(ratio_cell), &st, true, 2, "x");
		fprintf(out,
			"best tsq / best peer, same round: %s (goal >= 1.00x: %s at the median)\n",
			ratio_cell, st.median >= 1.0 ? "met" : "NOT met");
	}
}

/* One block per key (the part after handoff/<impl>/), in the order they were registered. */
static void handoff_tables(FILE *out)
{
	static char keys[TABLES_MAX_ROWS][TABLES_NAME];
	const size_t n = gbench_result_count();
	size_t nkeys = 0;

	for (size_t i = 0; i < n; i++) {
		const char *name = gbench_result_at(i)->name, *rest;
		size_t k;

		if (strncmp(name, "handoff/", 8) != 0 || (rest = strchr(name + 8, '/')) == NULL)
			continue;
		rest++;
		for (k = 0; k < nkeys; k++)
			if (strcmp(keys[k], rest) == 0)
				break;
		if (k == nkeys && nkeys < TABLES_MAX_ROWS && strlen(rest) < TABLES_NAME)
			snprintf(keys[nkeys++], TABLES_NAME, "%s", rest);
	}
	for (size_t k = 0; k < nkeys; k++) {
		static struct tables_block b;
		char title[256];
		bool seq = strncmp(keys[k], "sequential/", 11) == 0;
		bool win = strstr(keys[k], "window:") != NULL;

		tables_collect(&b, "handoff/", keys[k]);
		snprintf(title, sizeof(title), "hand-off %.95s: %s, %s (M = 10^6)", keys[k],
			 win ? "steady state, each producer at most 256 items ahead" :
			       "free-running",
			 seq ? "items pushed in address order (prefetcher-friendly)" :
			       "items pushed in shuffled order");
		handoff_print_block(out, title, &b);
	}
}
GBENCH_TABLES_PRINTER(handoff_tables, 30)
