/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench/common/tables.c - the shared pieces of the --tsq_tables printers (see tables.h). The
 * printers themselves live with their scenarios: calibrate.c, handoff/handoff.c, handoff/single.c,
 * remote_free/remote_free.c, zc/zc.c.
 */
#include "tables.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

unsigned tables_rounds(void)
{
	return gbench_rounds() < TABLES_MAX_ROUNDS ? gbench_rounds() : TABLES_MAX_ROUNDS;
}

bool tables_summary(const double *v, size_t n, struct bench_summary *s)
{
	static double tmp[TABLES_MAX_ROUNDS];

	if (n > TABLES_MAX_ROUNDS)
		n = TABLES_MAX_ROUNDS;
	memcpy(tmp, v, n * sizeof(*v));
	return bench_summary_f64(tmp, n, s);
}

void tables_cell(char *buf, size_t n, const struct bench_summary *s, bool ok, int digits,
		 const char *unit)
{
	if (!ok)
		snprintf(buf, n, "-");
	else if (gbench_rounds() > 1)
		snprintf(buf, n, "%.*f%s [%.*f..%.*f]", digits, s->median, unit, digits, s->min,
			 digits, s->max);
	else
		snprintf(buf, n, "%.*f%s", digits, s->median, unit);
}

/* The implementation part of a name "<prefix><impl>[/<key>]", if the key matches. */
static bool tables_match(const char *name, const char *prefix, const char *key, char *impl,
			 size_t impl_len)
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

void tables_collect(struct tables_block *b, const char *prefix, const char *key)
{
	const size_t n = gbench_result_count();

	b->n = 0;
	for (size_t i = 0; i < n && b->n < TABLES_MAX_ROWS; i++) {
		if (!tables_match(gbench_result_at(i)->name, prefix, key, b->impl[b->n],
				  TABLES_NAME))
			continue;
		b->idx[b->n++] = i;
	}
}

int tables_find(const struct tables_block *b, const char *impl)
{
	for (size_t r = 0; r < b->n; r++)
		if (strcmp(b->impl[r], impl) == 0)
			return (int)r;
	return -1;
}

void tables_row_stats(const struct tables_block *b, size_t r, int ref, struct bench_summary *ns,
		      bool *ns_ok, struct bench_summary *ratio, bool *ratio_ok)
{
	static double v[TABLES_MAX_ROUNDS], q[TABLES_MAX_ROUNDS];
	const unsigned rounds = tables_rounds();

	for (unsigned k = 0; k < rounds; k++) {
		double x = gbench_result_round_ips(b->idx[r], k);
		double y = ref >= 0 ? gbench_result_round_ips(b->idx[ref], k) : NAN;

		v[k] = x > 0 ? 1e9 / x : NAN;
		q[k] = x > 0 && y > 0 ? x / y : NAN;
	}
	*ns_ok = tables_summary(v, rounds, ns);
	*ratio_ok = tables_summary(q, rounds, ratio);
}
