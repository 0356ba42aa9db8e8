/* SPDX-License-Identifier: BSD-2-Clause */
/* report.c - the table, the JSON and the same-round ratios (see report.h). */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "stats.h"

void report_table(FILE *out, const struct stacks_row *rows, unsigned n)
{
	fprintf(out, "%-7s %-4s %5s %5s %5s %9s %9s %9s %7s %10s %10s %9s %s\n", "stack", "tsq",
		"flows", "mbit", "round", "goodput", "p50_us", "p99_us", "samples", "device_max",
		"qdisc_max", "throttles", "");
	for (unsigned i = 0; i < n; i++) {
		const struct stacks_row *r = &rows[i];

		fprintf(out,
			"%-7s %-4s %5u %5u %5u %9.2f %9.0f %9.0f %7llu %10lld %10llu %9llu %s\n",
			r->stack, r->tsq ? "on" : "off", r->bulk_flows, r->link_mbit, r->round,
			r->goodput_mbit, r->p50_us, r->p99_us, (unsigned long long)r->samples,
			(long long)r->bytes_in_device_max, (unsigned long long)r->qdisc_backlog_max,
			(unsigned long long)r->throttles, r->failed ? "FAILED" : "");
	}
}

int report_json(const char *path, const struct stacks_row *rows, unsigned n)
{
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");

	if (f == NULL)
		return -1;
	fprintf(f, "{\"schema\":1,\"runs\":[");
	for (unsigned i = 0; i < n; i++) {
		const struct stacks_row *r = &rows[i];

		fprintf(f,
			"%s\n{\"stack\":\"%s\",\"tsq\":%s,\"bulk_flows\":%u,\"link_mbit\":%u,"
			"\"round\":%u,\"goodput_mbit\":%.3f,\"probe_rtt_us_p50\":%.1f,"
			"\"probe_rtt_us_p99\":%.1f,\"bytes_in_device_max\":%lld,"
			"\"bytes_in_device_source\":\"%s\",\"qdisc_backlog_max\":%llu,"
			"\"probe_rtt_us_max\":%.1f,\"probe_samples\":%llu,\"probe_errors\":%llu,"
			"\"throttles\":%llu,\"restarts\":%llu,\"deferred\":%llu,\"sink_bytes\":%llu,"
			"\"bad_bytes\":%llu,\"failed\":%s}",
			i ? "," : "", r->stack, r->tsq ? "true" : "false", r->bulk_flows,
			r->link_mbit, r->round, r->goodput_mbit, r->p50_us, r->p99_us,
			(long long)r->bytes_in_device_max, r->device_source,
			(unsigned long long)r->qdisc_backlog_max, r->max_us,
			(unsigned long long)r->samples, (unsigned long long)r->probe_errors,
			(unsigned long long)r->throttles, (unsigned long long)r->restarts,
			(unsigned long long)r->deferred, (unsigned long long)r->sink_bytes,
			(unsigned long long)r->bad_bytes, r->failed ? "true" : "false");
	}
	fprintf(f, "\n]}\n");
	if (f != stdout)
		return fclose(f) == 0 ? 0 : -1;
	return fflush(f) == 0 ? 0 : -1;
}

/* The row of `stack` with `tsq` in round `round`, or NULL. */
static const struct stacks_row *report__find(const struct stacks_row *rows, unsigned n,
					     const char *stack, bool tsq, unsigned round)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(rows[i].stack, stack) == 0 && rows[i].round == round &&
		    (rows[i].tsq == tsq || strcmp(stack, "kernel") == 0))
			return &rows[i];
	return NULL;
}

static void report__ratio(FILE *out, const char *what, double *v, unsigned k)
{
	if (k == 0)
		return;
	qsort(v, k, sizeof(*v), bench_cmp_f64);
	fprintf(out, "  %-34s %8.2f [%.2f..%.2f] (%u rounds)\n", what, v[(k - 1) / 2], v[0],
		v[k - 1], k);
}

void report_ratios(FILE *out, const struct stacks_row *rows, unsigned n)
{
	const char *stack = NULL;
	double p99[3][64], gp[3][64];
	unsigned k[3] = { 0, 0, 0 };

	for (unsigned i = 0; i < n && stack == NULL; i++)
		if (strcmp(rows[i].stack, "kernel") != 0)
			stack = rows[i].stack;
	if (stack == NULL)
		return;
	for (unsigned i = 0; i < n; i++) {
		const struct stacks_row *on = &rows[i], *off, *kern;

		if (strcmp(on->stack, stack) != 0 || !on->tsq)
			continue;
		off = report__find(rows, n, stack, false, on->round);
		kern = report__find(rows, n, "kernel", true, on->round);
		if (off != NULL && on->p99_us > 0 && k[0] < 64) {
			p99[0][k[0]] = off->p99_us / on->p99_us;
			gp[0][k[0]++] =
				off->goodput_mbit > 0 ? on->goodput_mbit / off->goodput_mbit : 0;
		}
		if (kern != NULL && kern->p99_us > 0 && k[1] < 64) {
			p99[1][k[1]] = on->p99_us / kern->p99_us;
			gp[1][k[1]++] =
				kern->goodput_mbit > 0 ? on->goodput_mbit / kern->goodput_mbit : 0;
		}
	}
	if (k[0] == 0 && k[1] == 0)
		return;
	fprintf(out, "same-round ratios, median [min..max]:\n");
	report__ratio(out, "probe p99, tsq off / on", p99[0], k[0]);
	report__ratio(out, "goodput, tsq on / off", gp[0], k[0]);
	report__ratio(out, "probe p99, tsq on / kernel", p99[1], k[1]);
	report__ratio(out, "goodput, tsq on / kernel", gp[1], k[1]);
}
