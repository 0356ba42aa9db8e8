/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/common/tables.h - the pieces the --tsq_tables printers share. Each scenario prints
 * its own tables (GBENCH_TABLES_PRINTER in its driver) from the results the wrapper recorded;
 * what they have in common is here:
 *   - a block: the results named <prefix><impl>[/<key>], one row per implementation;
 *   - per-round statistics. Ratios are throughput ratios (> 1: faster than the reference)
 *     taken *within a round* (--tsq_rounds=N: every benchmark runs once per round, back to
 *     back with the others of its block), then summarised as median [min..max] over the
 *     rounds (stats.h). This machine's speed swings by 3-10x between rounds
 *     (calibrate/cacheline_pingpong: ~14, ~33 or ~165 ns), and a ratio of two medians taken
 *     in different regimes says nothing; a same-round ratio does. Rates and ns/item are
 *     medians over the rounds, with [min..max] of ns/item;
 *   - the cell formats ("0.87x [0.77..0.89]", "12.3 [11.9..14.0]"; the range only when
 *     there is more than one round).
 * Only what ran is shown: a filter that selects nothing of a scenario prints nothing for it.
 */
#ifndef TSQ_BENCH_TABLES_H
#define TSQ_BENCH_TABLES_H

#include <stdbool.h>
#include <stddef.h>

#include "gbench.h"
#include "stats.h"

#define TABLES_MAX_ROWS 64
#define TABLES_MAX_ROUNDS 1000
#define TABLES_NAME 96

/* The rounds the statistics look at: gbench_rounds(), at most TABLES_MAX_ROUNDS. */
unsigned tables_rounds(void);

/* Min, median and max of the finite values of v[0..n) (copied first); false if none. */
bool tables_summary(const double *v, size_t n, struct bench_summary *s);

/* One cell: "-" if !ok; else the median with `digits` decimals and `unit` ("x" or ""),
 * followed by " [min..max]" when there is more than one round. */
void tables_cell(char *buf, size_t n, const struct bench_summary *s, bool ok, int digits,
		 const char *unit);

/* One block: the results named <prefix><impl>/<key> (or <prefix><impl> for key ""). */
struct tables_block {
	size_t idx[TABLES_MAX_ROWS]; /* result index per row */
	char impl[TABLES_MAX_ROWS][TABLES_NAME];
	size_t n;
};

void tables_collect(struct tables_block *b, const char *prefix, const char *key);
/* Row of `impl` in b, or -1. */
int tables_find(const struct tables_block *b, const char *impl);
/* ns per item over the rounds, and the ratio to the reference row (-1: none) per round. */
void tables_row_stats(const struct tables_block *b, size_t r, int ref, struct bench_summary *ns,
		      bool *ns_ok, struct bench_summary *ratio, bool *ratio_ok);

#endif /* TSQ_BENCH_TABLES_H */
