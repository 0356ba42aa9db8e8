/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/tables.c - the side-by-side tables of --tsq_tables, printed after the normal report
 * from the results the wrapper recorded (medians when --benchmark_repetitions is used):
 *   - hand-off: items/s, one table per mode, rows = producer count, columns = implementations,
 *     plus the goal column "best tsq / best peer";
 *   - remote free: buffers/s per implementation, with the ratio to the best allocator
 *     (glibc, mimalloc, jemalloc) and to the hand-written defer-to-owner version.
 * Only what ran is shown: a filter that selects nothing of a scenario prints nothing for it.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gbench.h"

#define T_MAX_COLS 24
#define T_MAX_ROWS 1024
#define T_NAME 96

struct table {
	char cols[T_MAX_COLS][T_NAME];
	char rows[T_MAX_ROWS][T_NAME];
	size_t ncols, nrows;
	/* value[row][col]: items/s; NAN = not run, -1 = failed */
	double value[T_MAX_ROWS][T_MAX_COLS];
};

static size_t t_index(char names[][T_NAME], size_t *n, size_t max, const char *name, size_t len)
{
	for (size_t i = 0; i < *n; i++)
		if (strlen(names[i]) == len && strncmp(names[i], name, len) == 0)
			return i;
	if (*n == max || len >= T_NAME)
		return max;
	memcpy(names[*n], name, len);
	names[*n][len] = '\0';
	return (*n)++;
}

static bool is_tsq(const char *impl)
{
	return strncmp(impl, "tsq_", 4) == 0;
}

/* "12.3M"-style cell; "skip" for a failed run, "-" for one that did not run. */
static void fmt_rate(char *buf, size_t n, double v)
{
	if (isnan(v))
		snprintf(buf, n, "-");
	else if (v < 0)
		snprintf(buf, n, "skip");
	else
		snprintf(buf, n, "%.2fM", v / 1e6);
}

/* Rows of one hand-off mode: "producers:P" (free-running) or "window:W/producers:P". */
static void print_handoff_mode(FILE *out, struct table *t, bool window)
{
	size_t width = 12, shown = 0, behind = 0, compared = 0;
	char cell[32];

	for (size_t c = 0; c < t->ncols; c++)
		if (strlen(t->cols[c]) + 2 > width)
			width = strlen(t->cols[c]) + 2;
	for (size_t r = 0; r < t->nrows; r++)
		if ((strncmp(t->rows[r], "window:", 7) == 0) == window)
			shown++;
	if (shown == 0)
		return;

	fprintf(out, "\nhand-off, %s: items/s (M = 10^6)\n",
		window ? "steady state, each producer at most 256 items ahead (window:256)"
		       : "free-running");
	fprintf(out, "%-24s", window ? "window:256/producers" : "producers");
	for (size_t c = 0; c < t->ncols; c++)
		fprintf(out, "%*s", (int)width, t->cols[c]);
	fprintf(out, "%*s\n", 22, "best tsq / best peer");
	for (size_t r = 0; r < t->nrows; r++) {
		const char *row = t->rows[r];
		const char *p = strstr(row, "producers:");
		double best_tsq = 0, best_peer = 0;

		if ((strncmp(row, "window:", 7) == 0) != window)
			continue;
		fprintf(out, "%-24s", p != NULL ? p + 10 : row);
		for (size_t c = 0; c < t->ncols; c++) {
			double v = t->value[r][c];

			fmt_rate(cell, sizeof(cell), v);
			fprintf(out, "%*s", (int)width, cell);
			if (isnan(v) || v < 0)
				continue;
			if (is_tsq(t->cols[c]))
				best_tsq = v > best_tsq ? v : best_tsq;
			else
				best_peer = v > best_peer ? v : best_peer;
		}
		if (best_tsq > 0 && best_peer > 0) {
			fprintf(out, "%*.2fx\n", 21, best_tsq / best_peer);
			compared++;
			behind += best_tsq < best_peer;
		} else {
			fprintf(out, "%*s\n", 22, "-");
		}
	}
	if (compared != 0)
		fprintf(out, "goal (best tsq >= best peer at every producer count): %s (%zu of %zu rows behind)\n",
			behind == 0 ? "met" : "NOT met", behind, compared);
}

static void print_handoff(FILE *out)
{
	static struct table t; /* large: keep it off the stack */
	const size_t n = gbench_result_count();

	memset(&t, 0, sizeof(t));
	for (size_t r = 0; r < T_MAX_ROWS; r++)
		for (size_t c = 0; c < T_MAX_COLS; c++)
			t.value[r][c] = NAN;
	for (size_t i = 0; i < n; i++) {
		const struct gbench_result *res = gbench_result_at(i);
		const char *impl, *rest;
		size_t c, r;

		if (strncmp(res->name, "handoff/", 8) != 0)
			continue;
		impl = res->name + 8;
		rest = strchr(impl, '/');
		if (rest == NULL)
			continue;
		c = t_index(t.cols, &t.ncols, T_MAX_COLS, impl, (size_t)(rest - impl));
		r = t_index(t.rows, &t.nrows, T_MAX_ROWS, rest + 1, strlen(rest + 1));
		if (c == T_MAX_COLS || r == T_MAX_ROWS)
			continue;
		t.value[r][c] = res->error ? -1.0 : res->items_per_second;
	}
	if (t.nrows == 0)
		return;
	print_handoff_mode(out, &t, false);
	print_handoff_mode(out, &t, true);
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
	const size_t n = gbench_result_count();
	double best_alloc = 0, hand = 0, best_defer = 0;
	const char *best_alloc_name = "-", *best_defer_name = "-";
	size_t shown = 0;

	for (size_t i = 0; i < n; i++) {
		const struct gbench_result *res = gbench_result_at(i);
		const char *impl = res->name + 12;

		if (strncmp(res->name, "remote_free/", 12) != 0 || res->error)
			continue;
		shown++;
		if (is_allocator(impl) && res->items_per_second > best_alloc) {
			best_alloc = res->items_per_second;
			best_alloc_name = impl;
		}
		if (strcmp(impl, "handwritten") == 0)
			hand = res->items_per_second;
		/* The goal is about the tsq_defer API (tsq_llist_batch is the bare primitive). */
		if (strncmp(impl, "tsq_defer", 9) == 0 && res->items_per_second > best_defer) {
			best_defer = res->items_per_second;
			best_defer_name = impl;
		}
	}
	if (shown == 0)
		return;

	fprintf(out, "\nremote free: 2 KiB buffers allocated on A, freed on B (buffers/s, M = 10^6)\n");
	fprintf(out, "%-18s%12s%12s%16s%16s  %s\n", "impl", "buffers/s", "ns/buffer", "x best alloc",
		"x handwritten", "notes");
	for (size_t i = 0; i < n; i++) {
		const struct gbench_result *res = gbench_result_at(i);
		const char *impl = res->name + 12;
		double v = res->items_per_second;
		char rate[32], ratio_a[32], ratio_h[32], notes[128] = "";

		if (strncmp(res->name, "remote_free/", 12) != 0)
			continue;
		if (res->error) {
			fprintf(out, "%-18s%12s  %s\n", impl, "skip", res->error_message);
			continue;
		}
		fmt_rate(rate, sizeof(rate), v);
		snprintf(ratio_a, sizeof(ratio_a), "-");
		snprintf(ratio_h, sizeof(ratio_h), "-");
		if (best_alloc > 0)
			snprintf(ratio_a, sizeof(ratio_a), "%.2fx", v / best_alloc);
		if (hand > 0)
			snprintf(ratio_h, sizeof(ratio_h), "%.2fx", v / hand);
		{
			double grown = gbench_result_counter(i, "grown", NAN);
			double fb = gbench_result_counter(i, "fallback", NAN);
			int len = 0;

			if (!isnan(grown))
				len += snprintf(notes + len, sizeof(notes) - (size_t)len, "grown=%.0f ", grown);
			if (!isnan(fb))
				snprintf(notes + len, sizeof(notes) - (size_t)len, "fallback=%.0f", fb);
		}
		fprintf(out, "%-18s%12s%12.1f%16s%16s  %s\n", impl, rate, v > 0 ? 1e9 / v : 0.0, ratio_a,
			ratio_h, notes);
	}
	fprintf(out, "best allocator: %s\n", best_alloc_name);
	if (best_alloc > 0 && hand > 0 && best_defer > 0)
		fprintf(out,
			"goals for tsq's defer-to-owner (best: %s): %.2fx best allocator (goal >= 10x: %s), "
			"%.2fx handwritten (goal >= 0.90x: %s)\n",
			best_defer_name, best_defer / best_alloc, best_defer >= 10 * best_alloc ? "met" : "NOT met",
			best_defer / hand, best_defer >= 0.9 * hand ? "met" : "NOT met");
}

static void print_calibration(FILE *out)
{
	const struct gbench_result *r = gbench_result_find("calibrate/cacheline_pingpong", NULL);
	size_t i;

	if (r == NULL || r->error || gbench_result_find("calibrate/cacheline_pingpong", &i) == NULL)
		return;
	fprintf(out, "\ncache-line hand-off between the owner's and a producer's CPU: %.1f ns one way "
		     "(calibrate/cacheline_pingpong)\n",
		gbench_result_counter(i, "ns_per_item", 0.0));
}

static void print_tables(FILE *out)
{
	print_calibration(out);
	print_handoff(out);
	print_remote_free(out);
}
GBENCH_TABLES_PRINTER(print_tables)
