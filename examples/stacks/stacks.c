/* SPDX-License-Identifier: BSD-2-Clause */
/* stacks.c - the common command line and the rounds (see stacks.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stacks.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probe.h"
#include "report.h"
#include "stats.h"
#include "testbed.h"

#define ST_MAX_ROWS 1024

struct st_opts {
	unsigned link_mbit, bulk_flows, rounds, tsq_mask; /* tsq_mask: 1 off, 2 on */
	double seconds;
	uint64_t bulk_bytes;
	const char *json;
	bool kernel, verbose;
};

static void st__usage(FILE *f, const char *prog, const struct stack_ops *s)
{
	fprintf(f,
		"usage: %s [options]\n"
		"Runs %s's TCP bulk flows and a probe (%d-byte TCP echo round trips) through a tbf in\n"
		"two network namespaces it creates, with tsq off and on, beside the kernel's TCP.\n"
		"  --link-mbit N     tbf rate in Mbit/s (1..10000, default 20)\n"
		"  --bulk-flows N    bulk flows (1..16, default 1)\n"
		"  --tsq on|off|both (default both)\n"
		"  --seconds S       probe window per row (0.1..600, default 3)\n"
		"  --rounds N        rounds; each runs every row once (1..64, default 1)\n"
		"  --bulk-bytes N    each bulk flow sends exactly N bytes, then closes (check mode)\n"
		"  --no-kernel       leave out the kernel's anchor row\n"
		"  --json FILE       also write the runs as JSON (\"-\": stdout)\n"
		"  --verbose         show the setup commands\n%s",
		prog, s->name, TB_PROBE_BYTES, s->usage ? s->usage : "");
}

/* Exit 2 naming the option when `val` is not a number in [lo, hi]. */
double stacks_opt_num(const char *prog, const char *opt, const char *val, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = val ? strtod(val, &end) : 0;
	if (val == NULL || *val == '\0' || *end != '\0' || errno != 0 || !(v >= lo && v <= hi)) {
		fprintf(stderr, "%s: %s: bad value '%s' (want %g..%g)\n", prog, opt, val ? val : "",
			lo, hi);
		exit(2);
	}
	return v;
}

static unsigned st__uint(const char *prog, const char *opt, const char *val, unsigned lo,
			 unsigned hi)
{
	double v = stacks_opt_num(prog, opt, val, lo, hi);

	if (v != (double)(unsigned)v) {
		fprintf(stderr, "%s: %s: bad value '%s' (want a whole number)\n", prog, opt, val);
		exit(2);
	}
	return (unsigned)v;
}

static void st__parse(int argc, char **argv, const char *prog, const struct stack_ops *s,
		      struct st_opts *o)
{
	*o = (struct st_opts){ 20, 1, 1, 3, 3.0, 0, NULL, true, false };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int used = 1;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			st__usage(stdout, prog, s);
			exit(0);
		} else if (strcmp(a, "--no-kernel") == 0) {
			o->kernel = false;
			used = 0;
		} else if (strcmp(a, "--verbose") == 0) {
			o->verbose = true;
			used = 0;
		} else if (strcmp(a, "--link-mbit") == 0) {
			o->link_mbit = st__uint(prog, a, v, 1, 10000);
		} else if (strcmp(a, "--bulk-flows") == 0) {
			o->bulk_flows = st__uint(prog, a, v, 1, 16);
		} else if (strcmp(a, "--rounds") == 0) {
			o->rounds = st__uint(prog, a, v, 1, 64);
		} else if (strcmp(a, "--seconds") == 0) {
			o->seconds = stacks_opt_num(prog, a, v, 0.1, 600);
		} else if (strcmp(a, "--bulk-bytes") == 0) {
			o->bulk_bytes = (uint64_t)stacks_opt_num(prog, a, v, 1, 1e12);
		} else if (strcmp(a, "--json") == 0 && v != NULL) {
			o->json = v;
		} else if (strcmp(a, "--tsq") == 0 && v != NULL &&
			   (!strcmp(v, "on") || !strcmp(v, "off") || !strcmp(v, "both"))) {
			o->tsq_mask = !strcmp(v, "on") ? 2 : !strcmp(v, "off") ? 1 : 3;
		} else if (s->parse != NULL && (used = s->parse(s->ctx, argc, argv, &i)) > 0) {
			continue;
		} else {
			fprintf(stderr, "%s: %s%s%s\n", prog,
				used < 0 || (a[0] == '-' && v == NULL) ?
					"bad or missing value for " :
					"unknown option ",
				a, strcmp(a, "--tsq") ? "" : " (want on, off or both)");
			exit(2);
		}
		i += used;
	}
}

/* Wait (up to 3 s) for the tbf to empty: a row must not inherit the last one's queue. */
static void st__settle(struct tb *tb)
{
	struct timespec ms = { 0, 1000000 };

	for (int t = 0; t < 3000 && tb_qdisc_backlog(tb) > 0; t++)
		nanosleep(&ms, NULL);
}

static void st__sleep(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* One row: sink and echo up, the stack's flows, warm-up, the probe's window, stop, check. */
static int st__row(struct tb *tb, struct tb_qdisc_sampler *qs, const struct stack_ops *s,
		   const struct stack_cfg *cfg, const struct st_opts *o, struct stacks_row *r)
{
	struct pk_sink *sink = pk_sink_start(tb);
	struct pk_echo *echo = pk_echo_start(tb);
	struct pk_probe_result pr;
	struct pk_sink_result sr;
	struct stack_row_extra ex;
	uint64_t b0, b1, t0, t1;

	if (sink == NULL || echo == NULL || s->row_start(s->ctx, cfg) != 0) {
		fprintf(stderr, "%s: could not start its flows\n", s->name);
		if (sink != NULL)
			pk_sink_stop(sink, 0, 0, &sr);
		pk_echo_stop(echo);
		return -1;
	}
	st__sleep(o->seconds * 0.2 > 0.3 ? o->seconds * 0.2 : 0.3); /* slow start, queues fill */
	tb_qdisc_take_max(qs);
	if (s->window != NULL)
		s->window(s->ctx);
	b0 = s->delivered ? s->delivered(s->ctx) : pk_sink_bytes(sink);
	t0 = bench_now_ns();
	pk_probe_run(s->probe_rt, s->ctx, o->seconds, PK_PROBE_PERIOD_US, &pr);
	b1 = s->delivered ? s->delivered(s->ctx) : pk_sink_bytes(sink);
	t1 = bench_now_ns();
	r->qdisc_backlog_max = tb_qdisc_take_max(qs);
	memset(&ex, 0, sizeof(ex));
	ex.failed = s->row_stop(s->ctx, &ex) != 0 || ex.failed;
	pk_sink_stop(sink, s->delivered ? 0 : cfg->bulk_flows, cfg->bulk_bytes ? 20000 : 3000, &sr);
	pk_echo_stop(echo);
	r->stack = s->name;
	r->tsq = cfg->tsq;
	r->bulk_flows = cfg->bulk_flows;
	r->link_mbit = cfg->link_mbit;
	r->goodput_mbit = (double)(b1 - b0) * 8e3 / (double)(t1 - t0);
	r->p50_us = pr.p50_us;
	r->p99_us = pr.p99_us;
	r->max_us = pr.max_us;
	r->samples = pr.samples;
	r->probe_errors = pr.errors;
	r->bytes_in_device_max = ex.bytes_in_device_max >= 0 ? ex.bytes_in_device_max :
							       (int64_t)r->qdisc_backlog_max;
	r->device_source = ex.bytes_in_device_max >= 0 ? "budget" : "qdisc";
	r->throttles = ex.throttles;
	r->restarts = ex.restarts;
	r->deferred = ex.deferred;
	r->sink_bytes = sr.bytes;
	r->bad_bytes = sr.bad_bytes;
	r->failed = ex.failed || sr.bad_bytes != 0 || pr.errors != 0 || pr.samples == 0 ||
		    (cfg->bulk_bytes != 0 && s->delivered == NULL &&
		     (sr.bytes != cfg->bulk_bytes * cfg->bulk_flows ||
		      sr.clean_eofs != cfg->bulk_flows || sr.errors != 0));
	if (r->failed)
		fprintf(stderr,
			"%s (tsq %s): FAILED: %llu bytes received (%llu bad), %llu clean closes, "
			"%llu errors, %llu probe errors\n",
			s->name, cfg->tsq ? "on" : "off", (unsigned long long)sr.bytes,
			(unsigned long long)sr.bad_bytes, (unsigned long long)sr.clean_eofs,
			(unsigned long long)sr.errors, (unsigned long long)pr.errors);
	return 0;
}

static unsigned st__rounds(struct tb *tb, const struct stack_ops *s, const struct st_opts *o,
			   struct stacks_row *rows)
{
	struct tb_qdisc_sampler *qs = tb_qdisc_start(tb, 1000);
	const struct stack_ops *who[3] = { &pk_kernel_stack, s, s };
	bool tsq[3] = { true, false, true },
	     want[3] = { o->kernel, o->tsq_mask & 1, o->tsq_mask & 2 };
	unsigned n = 0;

	for (unsigned round = 1; round <= o->rounds; round++)
		for (unsigned j = 0; j < 3; j++) {
			unsigned k = (j + round - 1) % 3; /* rotate: no row always runs first */
			struct stack_cfg cfg = { o->bulk_flows, o->link_mbit, tsq[k],
						 o->bulk_bytes };

			if (!want[k] || n == ST_MAX_ROWS)
				continue;
			st__settle(tb);
			memset(&rows[n], 0, sizeof(rows[n]));
			rows[n].round = round;
			if (st__row(tb, qs, who[k], &cfg, o, &rows[n]) != 0)
				rows[n].failed = true, rows[n].stack = who[k]->name,
				rows[n].device_source = "-";
			n++;
		}
	tb_qdisc_stop(qs);
	return n;
}

int stacks_main(int argc, char **argv, const char *prog, const struct stack_ops *s)
{
	static struct stacks_row rows[ST_MAX_ROWS];
	struct st_opts o;
	struct tb tb;
	const char *why;
	unsigned n;
	int rc = 0;

	st__parse(argc, argv, prog, s, &o);
	signal(SIGPIPE, SIG_IGN);
	why = tb_unavailable();
	if (why != NULL) {
		printf("%s: skipped: %s\n", prog, why);
		return 77;
	}
	/* Unnamed namespaces: they go with this process, whatever ends it. */
	if (tb_setup(&tb, o.link_mbit, o.verbose) != 0)
		return 1;
	if (pk_kernel_stack.init(NULL, &tb) != 0 || s->init(s->ctx, &tb) != 0) {
		fprintf(stderr, "%s: stack setup failed\n", prog);
		tb_teardown(&tb);
		return 1;
	}
	n = st__rounds(&tb, s, &o, rows);
	report_table(stdout, rows, n);
	report_ratios(stdout, rows, n);
	if (o.json != NULL && report_json(o.json, rows, n) != 0) {
		fprintf(stderr, "%s: --json %s: %s\n", prog, o.json, strerror(errno));
		rc = 1;
	}
	for (unsigned i = 0; i < n; i++)
		rc |= rows[i].failed;
	if (s->fini != NULL)
		s->fini(s->ctx);
	tb_teardown(&tb);
	return rc;
}
