/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/remote_free/remote_free.c - driver of the remote-free scenario (see remote_free.h for
 * its structure and the implementations), the registration of remote_free/<impl>, and its
 * --tsq_tables printer.
 */
#include "remote_free.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

#include <tsq/defer.h> /* TSQ_DEFER_RINGS_OFF: whether tsq_defer_burst exists */

#include "tables.h"

static void bm_remote_free(struct gbench_state *st, const void *arg)
{
	const struct rf_ops *ops = arg;
	struct rf_run run;
	const char *why = NULL;
	uint64_t iters = 0, t0, elapsed;
	bool started = false;
	int err;

	memset(&run, 0, sizeof(run));
	run.ops = ops;
	run.ring = bench_alloc_lines(sizeof(*run.ring));
	if (run.ring == NULL) {
		gbench_skip_with_error(st, "out of memory");
		return;
	}
	err = ops->init(&run, &why);
	if (err != 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "remote_free/%s skipped: %s", ops->name,
			 why != NULL ? why : strerror(-err));
		gbench_skip_with_error(st, msg);
		free(run.ring);
		return;
	}
	bench_cpus_get(&run.cpus);
	if (pthread_create(&run.b, NULL, ops->b_main, &run) != 0) {
		gbench_skip_with_error(st, "pthread_create failed");
	} else {
		started = true;
		bench_pin(&run.cpus, run.b, 1);
		bench_pin(&run.cpus, pthread_self(), 0);
	}

	t0 = bench_now_ns();
	while (gbench_keep_running(st)) {
		ops->a_iteration(&run);
		if (run.alloc_failed) {
			gbench_skip_with_error(st, "allocation failed");
			break;
		}
		iters++;
	}
	elapsed = bench_now_ns() - t0;

	if (started) {
		tsq_store(&run.stop, 1u, TSQ_RELEASE);
		pthread_join(run.b, NULL);
	}
	bench_cpus_restore(&run.cpus);
	if (!gbench_error_occurred(st)) {
		/* Each buffer adds seq + len + 3 * seq; seq runs 1..total over the whole run. */
		const uint64_t total = iters * RF_PER_ITER;
		const uint64_t want = 4 * (total * (total + 1) / 2) + total * RF_BUF_SIZE;

		if (run.b_sum != want || tsq_load(&run.b_done, TSQ_RELAXED) != total) {
			char msg[200];

			snprintf(msg, sizeof(msg),
				 "remote_free/%s: checksum mismatch: buffers lost or duplicated",
				 ops->name);
			gbench_fail(st, msg);
		} else {
			bench_report_items(st, total, elapsed);
			if (ops->pool) /* buffers malloc()ed because the pool ran dry */
				gbench_counter(st, "grown", (double)run.grown,
					       GBENCH_COUNTER_DEFAULT);
			if (ops->report != NULL)
				ops->report(&run, st);
		}
	}
	if (ops->fini != NULL)
		ops->fini(&run);
	free(run.ring);
}

/* Table order: the allocators, the mutex pool, tsq's, then the hand-written return list. */
static const struct rf_ops *const rf_impls[] = {
	&rf_glibc,
#ifdef TSQ_BENCH_MIMALLOC_PATH
	&rf_mimalloc,
#endif
#ifdef TSQ_BENCH_JEMALLOC_PATH
	&rf_jemalloc,
#endif
	&rf_mutex_pool,
	&rf_tsq_defer,
	&rf_tsq_defer_batch,
	&rf_tsq_defer_shard,
	&rf_tsq_defer_shard_batch,
#ifdef TSQ_DEFER_RINGS_OFF
	&rf_tsq_defer_burst,
#endif
	&rf_tsq_llist_batch,
	&rf_handwritten,
};

static void remote_free_register(void)
{
	for (size_t i = 0; i < sizeof(rf_impls) / sizeof(rf_impls[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "remote_free/%s", rf_impls[i]->name);
		gbench_unit(
			gbench_use_real_time(gbench_register(name, bm_remote_free, rf_impls[i])),
			GBENCH_US);
	}
}
GBENCH_REGISTRAR(remote_free_register)

/* ---- --tsq_tables ----------------------------------------------------------------------- */
/*
 * buffers/s per implementation, and per round its ratio to the best allocator of the same
 * round and to the hand-written return list; then the goals for the best tsq_defer variant.
 */

static const char *const allocators[] = { "glibc", "mimalloc", "jemalloc" };

static bool is_allocator(const char *impl)
{
	for (size_t i = 0; i < sizeof(allocators) / sizeof(allocators[0]); i++)
		if (strcmp(impl, allocators[i]) == 0)
			return true;
	return false;
}

/* The counters an implementation reports besides the rate, as "name=value " pairs. */
static void rf_notes(char *notes, size_t size, size_t idx)
{
	static const char *const counters[] = { "grown", "fallback", "kicks" };
	int len = 0;

	notes[0] = '\0';
	for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
		double v = gbench_result_counter(idx, counters[c], NAN);

		if (!isnan(v))
			len += snprintf(notes + len, size - (size_t)len, "%s=%.0f ", counters[c],
					v);
	}
}

/* Per round: x / best allocator (qa) and x / handwritten (qh), x being row r's rate or, for
 * r < 0, the best tsq_defer* rate of the round. */
static void rf_round_ratios(const struct tables_block *b, int r, int hand, const double *best_alloc,
			    double *qa, double *qh)
{
	const unsigned rounds = tables_rounds();

	for (unsigned k = 0; k < rounds; k++) {
		double x = r >= 0 ? gbench_result_round_ips(b->idx[r], k) : 0;
		double h = hand >= 0 ? gbench_result_round_ips(b->idx[hand], k) : NAN;

		for (size_t i = 0; r < 0 && i < b->n; i++) {
			double y = gbench_result_round_ips(b->idx[i], k);

			if (strncmp(b->impl[i], "tsq_defer", 9) == 0 && y > x)
				x = y;
		}
		qa[k] = x > 0 && best_alloc[k] > 0 ? x / best_alloc[k] : NAN;
		qh[k] = x > 0 && h > 0 ? x / h : NAN;
	}
}

static void remote_free_tables(FILE *out)
{
	static struct tables_block b;
	static double best_alloc[TABLES_MAX_ROUNDS], qa[TABLES_MAX_ROUNDS], qh[TABLES_MAX_ROUNDS];
	const unsigned rounds = tables_rounds();
	int hand;
	char ns_cell[64], ra[64], rh[64];
	struct bench_summary s_a, s_h, ns, unused;
	bool ok_a, ok_h, ns_ok, unused_ok;

	tables_collect(&b, "remote_free/", "");
	if (b.n == 0)
		return;
	hand = tables_find(&b, "handwritten");
	for (unsigned k = 0; k < rounds; k++) {
		best_alloc[k] = 0;
		for (size_t r = 0; r < b.n; r++) {
			double x = gbench_result_round_ips(b.idx[r], k);

			if (is_allocator(b.impl[r]) && x > best_alloc[k])
				best_alloc[k] = x;
		}
	}

	fprintf(out, "\nremote free: 2 KiB buffers allocated on A, freed on B (M = 10^6 buffers/s; "
		     "x: same-round ratio, median [min..max])\n");
	fprintf(out, "%-22s%10s  %-24s  %-24s  %-24s  %s\n", "impl", "buffers/s", "ns/buffer",
		"x best allocator", "x handwritten", "notes");
	for (size_t r = 0; r < b.n; r++) {
		const struct gbench_result *res = gbench_result_at(b.idx[r]);
		char notes[128];

		if (res->error) {
			fprintf(out, "%-22s%10s  %s\n", b.impl[r], "skip", res->error_message);
			continue;
		}
		rf_round_ratios(&b, (int)r, hand, best_alloc, qa, qh);
		ok_a = tables_summary(qa, rounds, &s_a);
		ok_h = tables_summary(qh, rounds, &s_h);
		tables_row_stats(&b, r, -1, &ns, &ns_ok, &unused, &unused_ok);
		tables_cell(ns_cell, sizeof(ns_cell), &ns, ns_ok, 1, "");
		tables_cell(ra, sizeof(ra), &s_a, ok_a, 2, "x");
		tables_cell(rh, sizeof(rh), &s_h, ok_h, 2, "x");
		rf_notes(notes, sizeof(notes), b.idx[r]);
		fprintf(out, "%-22s%9.2fM  %-24s  %-24s  %-24s  %s\n", b.impl[r],
			res->items_per_second / 1e6, ns_cell, ra, rh, notes);
	}
	/* The goals, for the best tsq_defer variant of each round. */
	rf_round_ratios(&b, -1, hand, best_alloc, qa, qh);
	ok_a = tables_summary(qa, rounds, &s_a);
	ok_h = tables_summary(qh, rounds, &s_h);
	if (ok_a && ok_h) {
		tables_cell(ra, sizeof(ra), &s_a, true, 2, "x");
		tables_cell(rh, sizeof(rh), &s_h, true, 2, "x");
		fprintf(out,
			"goals for tsq's defer-to-owner (best tsq_defer* of each round): %s best allocator "
			"(goal >= 10x: %s), %s handwritten (goal >= 0.90x: %s)\n",
			ra, s_a.median >= 10 ? "met" : "NOT met", rh,
			s_h.median >= 0.9 ? "met" : "NOT met");
	}
}
GBENCH_TABLES_PRINTER(remote_free_tables, 40)
