/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/tables.c - the side-by-side tables of --tsq_tables, printed after the normal report
 * from the results the wrapper recorded:
 *   - hand-off (one block per order x mode x producer count), single-thread: items/s and
 *     ns per item per implementation, and each one's ratio to the reference - DPDK's MPSC
 *     bulk ring (dpdk_ring_mpsc_bulk32; the hand-written llist where DPDK is not built);
 *   - remote free: buffers/s per implementation, the ratio to the best allocator of the same
 *     round and to the hand-written return list.
 * Ratios are throughput ratios (> 1: faster than the reference) taken *within a round*
 * (--tsq_rounds=N: every benchmark runs once per round, back to back with the others of its
 * block), then summarised as median [min..max] over the rounds. This machine's speed swings
 * by 3-10x between rounds (calibrate/cacheline_pingpong: ~14, ~33 or ~165 ns), and a ratio
 * of two medians taken in different regimes says nothing; a same-round ratio does.
 * Rates and ns/item are medians over the rounds, with [min..max] of ns/item.
 * Only what ran is shown: a filter that selects nothing of a scenario prints nothing for it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbench.h"

#define T_MAX_ROWS 64
#define T_MAX_ROUNDS 1000
#define T_NAME 96

/* Median, min and max of the finite values of v[0..n); false if there are none. */
struct t_stat {
	double med, min, max;
};

static int t_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static bool t_summary(const double *v, size_t n, struct t_stat *s)
{
	static double tmp[T_MAX_ROUNDS];
	size_t k = 0;

	for (size_t i = 0; i < n && i < T_MAX_ROUNDS; i++)
		if (isfinite(v[i]))
			tmp[k++] = v[i];
	if (k == 0)
		return false;
	qsort(tmp, k, sizeof(tmp[0]), t_cmp);
	s->med = k % 2 != 0 ? tmp[k / 2] : (tmp[k / 2 - 1] + tmp[k / 2]) / 2;
	s->min = tmp[0];
	s->max = tmp[k - 1];
	return true;
}

/* "0.87x [0.77..0.89]"; the range only when there is more than one round. */
static void fmt_ratio(char *buf, size_t n, const struct t_stat *s, bool ok, unsigned rounds)
{
	if (!ok)
		snprintf(buf, n, "-");
	else if (rounds > 1)
		snprintf(buf, n, "%.2fx [%.2f..%.2f]", s->med, s->min, s->max);
	else
		snprintf(buf, n, "%.2fx", s->med);
}

/* One block: the results named <scenario>/<impl>/<key> (or <scenario>/<impl> for key ""). */
struct block {
	size_t idx[T_MAX_ROWS]; /* result index per row */
	const char *impl[T_MAX_ROWS];
	size_t n;
};

/* The implementation part of a name "<prefix><impl>[/<key>]", if the key matches. */
static bool t_match(const char *name, const char *prefix, const char *key, char *impl, size_t impl_len)
{
	size_t pl = strlen(prefix), il;
	const char *rest, *slash;

	if (strncmp(name, prefix, pl) != 0)
		return false;
	rest = name + pl;
	slash = strchr(rest, '/');
	if (key[0] == '\0' ? slash != NULL : slash == NULL || strcmp(slash + 1, key) != 0)
		return false;
	il = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	if (il >= impl_len)
		return false;
	memcpy(impl, rest, il);
	impl[il] = '\0';
	return true;
}

static void t_collect(struct block *b, const char *prefix, const char *key)
{
	static char names[T_MAX_ROWS][T_NAME];
	const size_t n = gbench_result_count();

	b->n = 0;
	for (size_t i = 0; i < n && b->n < T_MAX_ROWS; i++) {
		if (!t_match(gbench_result_at(i)->name, prefix, key, names[b->n], T_NAME))
			continue;
		b->idx[b->n] = i;
		b->impl[b->n] = names[b->n];
		b->n++;
	}
}

/* Row of `impl` in b, or -1. */
static int t_find(const struct block *b, const char *impl)
{
	for (size_t r = 0; r < b->n; r++)
		if (strcmp(b->impl[r], impl) == 0)
			return (int)r;
	return -1;
}

/* ns per item over the rounds, and the ratio to the reference row (-1: none) per round. */
static void t_row_stats(const struct block *b, size_t r, int ref, struct t_stat *ns, bool *ns_ok,
			struct t_stat *ratio, bool *ratio_ok)
{
	static double v[T_MAX_ROUNDS], q[T_MAX_ROUNDS];
	const unsigned rounds = gbench_rounds() < T_MAX_ROUNDS ? gbench_rounds() : T_MAX_ROUNDS;

	for (unsigned k = 0; k < rounds; k++) {
		double x = gbench_result_round_ips(b->idx[r], k);
		double y = ref >= 0 ? gbench_result_round_ips(b->idx[ref], k) : NAN;

		v[k] = x > 0 ? 1e9 / x : NAN;
		q[k] = x > 0 && y > 0 ? x / y : NAN;
	}
	*ns_ok = t_summary(v, rounds, ns);
	*ratio_ok = t_summary(q, rounds, ratio);
}

static void fmt_ns(char *buf, size_t n, const struct t_stat *s, bool ok, unsigned rounds)
{
	if (!ok)
		snprintf(buf, n, "-");
	else if (rounds > 1)
		snprintf(buf, n, "%.1f [%.1f..%.1f]", s->med, s->min, s->max);
	else
		snprintf(buf, n, "%.1f", s->med);
}

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
static int t_ref(const struct block *b, const char **name)
{
	static const char *const refs[] = {"dpdk_ring_mpsc_bulk32", "handwritten_llist"};

	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		int r = t_find(b, refs[i]);

		if (r >= 0 && !gbench_result_at(b->idx[r])->error) {
			*name = refs[i];
			return r;
		}
	}
	*name = "-";
	return -1;
}

/* Per round: best of tsq's rows / best of the peer libraries' (hand-written ones left out). */
static bool t_best_ratio(const struct block *b, struct t_stat *s)
{
	static double q[T_MAX_ROUNDS];
	const unsigned rounds = gbench_rounds() < T_MAX_ROUNDS ? gbench_rounds() : T_MAX_ROUNDS;

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
	return t_summary(q, rounds, s);
}

/* A hand-off or single-thread block: one row per implementation. */
static void print_items_block(FILE *out, const char *title, const struct block *b)
{
	const unsigned rounds = gbench_rounds();
	const char *ref_name;
	int ref = t_ref(b, &ref_name);
	char head[64], ns_cell[64], ratio_cell[64];
	struct t_stat st;

	if (b->n == 0)
		return;
	fprintf(out, "\n%s\n", title);
	snprintf(head, sizeof(head), "x %s", ref_name);
	fprintf(out, "%-24s%10s  %-24s  %-24s\n", "impl", "items/s", "ns/item", head);
	for (size_t r = 0; r < b->n; r++) {
		const struct gbench_result *res = gbench_result_at(b->idx[r]);
		struct t_stat ns, ratio;
		bool ns_ok, ratio_ok;

		if (res->error) {
			fprintf(out, "%-24s%10s  %s\n", b->impl[r], "skip", res->error_message);
			continue;
		}
		t_row_stats(b, r, ref, &ns, &ns_ok, &ratio, &ratio_ok);
		fmt_ns(ns_cell, sizeof(ns_cell), &ns, ns_ok, rounds);
		fmt_ratio(ratio_cell, sizeof(ratio_cell), &ratio, ratio_ok, rounds);
		fprintf(out, "%-24s%9.1fM  %-24s  %-24s\n", b->impl[r], res->items_per_second / 1e6, ns_cell,
			ratio_cell);
	}
	if (t_best_ratio(b, &st)) {
		fmt_ratio(ratio_cell, sizeof(ratio_cell), &st, true, rounds);
		fprintf(out, "best tsq / best peer, same round: %s (goal >= 1.00x: %s at the median)\n", ratio_cell,
			st.med >= 1.0 ? "met" : "NOT met");
	}
}

/* Keys of the hand-off blocks, in the order they were registered. */
static void print_handoff(FILE *out)
{
	static char keys[T_MAX_ROWS][T_NAME];
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
		if (k == nkeys && nkeys < T_MAX_ROWS && strlen(rest) < T_NAME)
			snprintf(keys[nkeys++], T_NAME, "%s", rest);
	}
	for (size_t k = 0; k < nkeys; k++) {
		static struct block b;
		char title[256];
		bool seq = strncmp(keys[k], "sequential/", 11) == 0;
		bool win = strstr(keys[k], "window:") != NULL;

		t_collect(&b, "handoff/", keys[k]);
		snprintf(title, sizeof(title), "hand-off %.95s: %s, %s (M = 10^6)", keys[k],
			 win ? "steady state, each producer at most 256 items ahead" : "free-running",
			 seq ? "items pushed in address order (prefetcher-friendly)" : "items pushed in shuffled order");
		print_items_block(out, title, &b);
	}
}

static void print_single(FILE *out)
{
	static struct block b;

	t_collect(&b, "single/", "");
	print_items_block(out, "single thread: push 32 items, then drain them (the instruction path; M = 10^6)", &b);
}

static const char *const allocators[] = {"glibc", "mimalloc", "jemalloc"};

static bool is_allocator(const char *impl)
{
	for (size_t i = 0; i < sizeof(allocators) / sizeof(allocators[0]); i++)
		if (strcmp(impl, allocators[i]) == 0)
			return true;
	return false;
}

static void print_remote_free(FILE *out)
{
	static struct block b;
	static double best_alloc[T_MAX_ROUNDS], qa[T_MAX_ROUNDS], qh[T_MAX_ROUNDS];
	const unsigned rounds = gbench_rounds() < T_MAX_ROUNDS ? gbench_rounds() : T_MAX_ROUNDS;
	int hand;
	char ns_cell[64], ra[64], rh[64];
	struct t_stat s_a, s_h, ns, unused;
	bool ok_a, ok_h, ns_ok, unused_ok;

	t_collect(&b, "remote_free/", "");
	if (b.n == 0)
		return;
	hand = t_find(&b, "handwritten");
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
	fprintf(out, "%-22s%10s  %-24s  %-24s  %-24s  %s\n", "impl", "buffers/s", "ns/buffer", "x best allocator",
		"x handwritten", "notes");
	for (size_t r = 0; r < b.n; r++) {
		const struct gbench_result *res = gbench_result_at(b.idx[r]);
		char notes[128] = "";
		int len = 0;

		if (res->error) {
			fprintf(out, "%-22s%10s  %s\n", b.impl[r], "skip", res->error_message);
			continue;
		}
		for (unsigned k = 0; k < rounds; k++) {
			double x = gbench_result_round_ips(b.idx[r], k);
			double h = hand >= 0 ? gbench_result_round_ips(b.idx[hand], k) : NAN;

			qa[k] = x > 0 && best_alloc[k] > 0 ? x / best_alloc[k] : NAN;
			qh[k] = x > 0 && h > 0 ? x / h : NAN;
		}
		ok_a = t_summary(qa, rounds, &s_a);
		ok_h = t_summary(qh, rounds, &s_h);
		t_row_stats(&b, r, -1, &ns, &ns_ok, &unused, &unused_ok);
		fmt_ns(ns_cell, sizeof(ns_cell), &ns, ns_ok, gbench_rounds());
		fmt_ratio(ra, sizeof(ra), &s_a, ok_a, gbench_rounds());
		fmt_ratio(rh, sizeof(rh), &s_h, ok_h, gbench_rounds());
		{
			static const char *const counters[] = {"grown", "fallback", "kicks"};

			for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
				double v = gbench_result_counter(b.idx[r], counters[c], NAN);

				if (!isnan(v))
					len += snprintf(notes + len, sizeof(notes) - (size_t)len, "%s=%.0f ", counters[c], v);
			}
		}
		fprintf(out, "%-22s%9.2fM  %-24s  %-24s  %-24s  %s\n", b.impl[r], res->items_per_second / 1e6, ns_cell, ra,
			rh, notes);
	}
	/* The goals, for the best tsq_defer variant of each round. */
	for (unsigned k = 0; k < rounds; k++) {
		double best = 0, h = hand >= 0 ? gbench_result_round_ips(b.idx[hand], k) : NAN;

		for (size_t r = 0; r < b.n; r++) {
			double x = gbench_result_round_ips(b.idx[r], k);

			if (strncmp(b.impl[r], "tsq_defer", 9) == 0 && x > best)
				best = x;
		}
		qa[k] = best > 0 && best_alloc[k] > 0 ? best / best_alloc[k] : NAN;
		qh[k] = best > 0 && h > 0 ? best / h : NAN;
	}
	ok_a = t_summary(qa, rounds, &s_a);
	ok_h = t_summary(qh, rounds, &s_h);
	if (ok_a && ok_h) {
		fmt_ratio(ra, sizeof(ra), &s_a, true, gbench_rounds());
		fmt_ratio(rh, sizeof(rh), &s_h, true, gbench_rounds());
		fprintf(out,
			"goals for tsq's defer-to-owner (best tsq_defer* of each round): %s best allocator "
			"(goal >= 10x: %s), %s handwritten (goal >= 0.90x: %s)\n",
			ra, s_a.med >= 10 ? "met" : "NOT met", rh, s_h.med >= 0.9 ? "met" : "NOT met");
	}
}

static void print_calibration(FILE *out)
{
	static double v[T_MAX_ROUNDS];
	const unsigned rounds = gbench_rounds() < T_MAX_ROUNDS ? gbench_rounds() : T_MAX_ROUNDS;
	struct t_stat s;
	char cell[64];
	size_t i;

	if (gbench_result_find("calibrate/cacheline_pingpong", &i) == NULL || gbench_result_at(i)->error)
		return;
	/* items/s there are one-way hand-offs per second. */
	for (unsigned k = 0; k < rounds; k++) {
		double x = gbench_result_round_ips(i, k);

		v[k] = x > 0 ? 1e9 / x : NAN;
	}
	if (!t_summary(v, rounds, &s))
		return;
	fmt_ns(cell, sizeof(cell), &s, true, gbench_rounds());
	fprintf(out, "\ncache-line hand-off between the owner's and a producer's CPU: %s ns one way "
		     "(calibrate/cacheline_pingpong%s)\n",
		cell, gbench_rounds() > 1 ? ", median [min..max] over the rounds" : "");
}

static void print_tables(FILE *out)
{
	print_calibration(out);
	print_single(out);
	print_handoff(out);
	print_remote_free(out);
}
GBENCH_TABLES_PRINTER(print_tables)
