/* SPDX-License-Identifier: BSD-2-Clause */
/* report.c - percentiles, and tx's table and JSON (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------------------------------ */
/* Percentiles                                                                                 */
/* ------------------------------------------------------------------------------------------ */

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The nearest rank of p (in percent) among n samples: ceil(p / 100 * n), at least 1 - the
 * definition bench/common/stats.h gives tsq-bench and the simulations, so that "p99" means the
 * same in every program of the project (p * n compared exactly: p99 of 100 samples is the
 * 99th, not the 100th through a rounding error).
 */
static uint64_t nearest_rank(uint64_t n, double p)
{
	uint64_t rank = (uint64_t)(p * (double)n / 100.0);

	if ((double)rank * 100.0 < p * (double)n)
		rank++;
	return rank == 0 ? 1 : rank;
}

/* The percentile of sorted samples: always one of them. No sample: NAN, never a made-up 0. */
double pct_sorted(const uint64_t *v, size_t n, double p)
{
	uint64_t rank;

	if (n == 0)
		return NAN;
	rank = nearest_rank(n, p);
	return (double)v[(rank < n ? rank : n) - 1];
}

/* The bucket index (the value) at percentile p of a histogram. No sample: NAN. */
double pct_hist(const uint64_t *h, size_t buckets, double p)
{
	uint64_t total = 0, seen = 0, rank;

	for (size_t i = 0; i < buckets; i++)
		total += h[i];
	if (total == 0)
		return NAN;
	rank = nearest_rank(total, p);
	for (size_t i = 0; i < buckets; i++) {
		seen += h[i];
		if (seen >= rank)
			return (double)i;
	}
	return (double)(buckets - 1);
}

/* ------------------------------------------------------------------------------------------ */
/* tx and compare                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* A run's configuration and its headline figures. */
static void run_json_figures(struct jw *j, const struct run_result *r)
{
	jw_bool(j, "tsq", r->tsq);
	jw_bool(j, "bql", r->bql);
	jw_bool(j, "bare", r->bare);
	jw_bool(j, "zerocopy", r->zerocopy);
	jw_bool(j, "build_per_send", r->build_per_send);
	jw_str(j, "qdisc", r->bare ? "none" : r->qdisc == XENG_QDISC_FIFO ? "fifo" : "fq");
	jw_str(j, "build_on", r->bare ? "none" : r->build_worker ? "worker" : "app");
	jw_str(j, "config", run_label(r));
	jw_u64(j, "bulk_flows", r->bulk_flows);
	jw_u64(j, "queues", r->queues);
	jw_u64(j, "round", r->round);
	jw_str(j, "bind", r->bind);
	jw_num(j, "seconds", r->secs, 3);
	jw_num(j, "bulk_pps", r->bulk_pps, 0);
	jw_num(j, "bulk_gbps", r->bulk_gbps, 4);
	jw_num(j, "cpu_ns_per_frame", r->cpu_ns_per_frame, 1);
	jw_num(j, "cpu_share", r->cpu_share, 3);
	jw_num(j, "txring_occupancy_p50", r->occ_p50, 0);
	jw_num(j, "txring_occupancy_p99", r->occ_p99, 0);
	jw_num(j, "txring_occupancy_max", r->occ_max, 0);
	jw_num(j, "probe_latency_us_p50", r->lat_ring_p50, 1);
	jw_num(j, "probe_latency_us_p99", r->lat_ring_p99, 1);
	jw_num(j, "probe_send_latency_us_p50", r->lat_send_p50, 1);
	jw_num(j, "probe_send_latency_us_p99", r->lat_send_p99, 1);
	jw_u64(j, "probe_samples", r->probe_samples);
	/* In frames of other flows sent while a probe frame waited in the worker's queues. */
	jw_obj_begin(j, "probe_queue_wait");
	jw_num(j, "p50", r->qwait_p50, 0);
	jw_num(j, "p99", r->qwait_p99, 0);
	jw_num(j, "max", r->qwait_max, 0);
	jw_u64(j, "bound_exceeded", r->qwait_over);
	jw_u64(j, "others_max", r->qwait_others_max);
	jw_obj_end(j);
}

/* Zerocopy exactness, TSQ's, the owners' and BQL's counters. */
static void run_json_counters(struct jw *j, const struct run_result *r)
{
	jw_num(j, "zc_notices_per_send", r->zc_notices_per_send, 4);
	jw_obj_begin(j, "zc");
	jw_u64(j, "sends", r->zc_sends);
	jw_u64(j, "notices", r->zc_notices);
	jw_u64(j, "ids_notified", r->zc_notified);
	jw_u64(j, "ids_duplicate", r->zc_dups);
	jw_u64(j, "ids_missing", r->zc_missing);
	jw_u64(j, "copied_sends", r->zc_copied_sends);
	jw_u64(j, "copied_ids", r->zc_copied_ids);
	jw_obj_end(j);
	jw_u64(j, "tsq_throttles", r->throttles);
	jw_u64(j, "tsq_recheck_saves", r->recheck_saves);
	jw_u64(j, "tsq_restarts_queued", r->queued);
	jw_u64(j, "tsq_restarts_deferred", r->deferred);
	jw_u64(j, "backlog_flushes", r->backlog_flushes);
	jw_u64(j, "app_wakes", r->app_wakes);
	jw_u64(j, "app_naps", r->app_naps);
	/* Summed over the queues; limit: the largest queue's at the end of the run. */
	jw_obj_begin(j, "bql_stats");
	jw_u64(j, "limit", r->bql_limit);
	jw_u64(j, "stops", r->bql_stops);
	jw_u64(j, "restarts", r->bql_restarts);
	jw_u64(j, "recheck_saves", r->bql_recheck_saves);
	jw_u64(j, "grows", r->bql_grows);
	jw_u64(j, "shrinks", r->bql_shrinks);
	jw_u64(j, "blocked_fills", r->ws.bql_blocked);
	jw_obj_end(j);
}

/* The workers' counters (summed, then per queue), the run's checks, per flow. */
static void run_json_workers(struct jw *j, const struct run_result *r)
{
	jw_obj_begin(j, "worker");
	jw_u64(j, "tx_submitted", r->ws.tx_submitted);
	jw_u64(j, "tx_completed", r->ws.tx_completed);
	jw_u64(j, "kicks", r->ws.kicks);
	jw_u64(j, "kick_again", r->ws.kick_again);
	jw_u64(j, "kick_errors", r->ws.kick_errors);
	jw_u64(j, "kick_link_down", r->ws.kick_link_down);
	jw_u64(j, "ring_full", r->ws.ring_full);
	jw_u64(j, "restarts", r->ws.restarts);
	jw_u64(j, "defer_requeued", r->ws.defer_requeued);
	jw_u64(j, "complete_rounds", r->ws.complete_rounds);
	jw_u64(j, "ret_flushes", r->ws.ret_flushes);
	jw_u64(j, "idle_yields", r->ws.idle_yields);
	jw_u64(j, "idle_sleeps", r->ws.idle_sleeps);
	jw_u64(j, "queue_max", r->queue_max);
	jw_obj_end(j);
	jw_arr_begin(j, "workers");
	for (unsigned k = 0; k < r->nworkers; k++) {
		const struct worker_result *w = &r->w[k];

		jw_obj_begin(j, NULL);
		jw_u64(j, "queue", w->queue);
		jw_u64(j, "tx_submitted", w->ws.tx_submitted);
		jw_u64(j, "tx_completed", w->ws.tx_completed);
		jw_u64(j, "kicks", w->ws.kicks);
		jw_u64(j, "bql_limit", w->bql.limit);
		jw_u64(j, "bql_stops", w->bql.stops);
		jw_u64(j, "bql_restarts", w->bql.restarts);
		jw_obj_end(j);
	}
	jw_arr_end(j);
	jw_bool(j, "quiesced", r->quiesced);
	jw_u64(j, "umem_frames_leaked", r->leaked);
	jw_u64(j, "throttled_idle_flows", r->throttled_idle);
	jw_arr_begin(j, "flows");
	for (unsigned i = 0; i < r->nflows; i++) {
		jw_obj_begin(j, NULL);
		jw_u64(j, "id", i);
		jw_str(j, "kind", r->flow[i].kind == XFLOW_PROBE ? "probe" : "bulk");
		jw_u64(j, "sent", r->flow[i].sent);
		jw_u64(j, "bytes", r->flow[i].bytes);
		jw_obj_end(j);
	}
	jw_arr_end(j);
}

static void report_run_json(struct jw *j, const struct run_result *r)
{
	jw_obj_begin(j, NULL);
	run_json_figures(j, r);
	run_json_counters(j, r);
	run_json_workers(j, r);
	jw_obj_end(j);
}

void report_runs_json(FILE *out, const struct run_result *r, unsigned n)
{
	struct jw j;

	jw_doc_begin(&j, out);
	jw_arr_begin(&j, "runs");
	for (unsigned k = 0; k < n; k++)
		report_run_json(&j, &r[k]);
	jw_arr_end(&j);
	jw_doc_end(&j);
}

/* One cell: "-" where there is no sample. */
static const char *cell(char *buf, size_t size, const char *fmt, double v)
{
	if (isnan(v))
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, fmt, v);
	return buf;
}

void report_runs_table(const struct run_result *r, unsigned n)
{
	const char *rows[] = { "bulk Mpps",
			       "bulk Gbit/s",
			       "TX outstanding p50",
			       "TX outstanding p99",
			       "probe ring->completion p50 us",
			       "probe ring->completion p99 us",
			       "probe send->completion p50 us",
			       "probe send->completion p99 us",
			       "zc notices per send",
			       "tsq throttles",
			       "restarts queued / deferred" };

	printf("%-32s", "");
	for (unsigned k = 0; k < n; k++)
		printf(" %14s", r[k].tsq ? (r[k].bql ? "TSQ on (BQL)" : "TSQ on") :
					   (r[k].bql ? "TSQ off (BQL)" : "TSQ off"));
	printf("\n");
	for (unsigned row = 0; row < sizeof(rows) / sizeof(rows[0]); row++) {
		printf("%-32s", rows[row]);
		for (unsigned k = 0; k < n; k++) {
			const struct run_result *x = &r[k];
			char buf[64];

			switch (row) {
			case 0:
				cell(buf, sizeof(buf), "%.3f", x->bulk_pps / 1e6);
				break;
			case 1:
				cell(buf, sizeof(buf), "%.3f", x->bulk_gbps);
				break;
			case 2:
				cell(buf, sizeof(buf), "%.0f", x->occ_p50);
				break;
			case 3:
				cell(buf, sizeof(buf), "%.0f", x->occ_p99);
				break;
			case 4:
				cell(buf, sizeof(buf), "%.1f", x->lat_ring_p50);
				break;
			case 5:
				cell(buf, sizeof(buf), "%.1f", x->lat_ring_p99);
				break;
			case 6:
				cell(buf, sizeof(buf), "%.1f", x->lat_send_p50);
				break;
			case 7:
				cell(buf, sizeof(buf), "%.1f", x->lat_send_p99);
				break;
			case 8:
				cell(buf, sizeof(buf), "%.4f", x->zc_notices_per_send);
				break;
			case 9:
				snprintf(buf, sizeof(buf), "%llu",
					 (unsigned long long)x->throttles);
				break;
			default:
				snprintf(buf, sizeof(buf), "%llu / %llu",
					 (unsigned long long)x->queued,
					 (unsigned long long)x->deferred);
			}
			printf(" %14s", buf);
		}
		printf("\n");
	}
	if (n == 2 && r[1].lat_ring_p99 > 0) /* false for NAN too */
		printf("probe p99 ratio off/on: %.1fx; bulk throughput on/off: %.1f%%\n",
		       r[0].lat_ring_p99 / r[1].lat_ring_p99,
		       100.0 * r[1].bulk_pps / r[0].bulk_pps);
	printf("bind: %s; frames leaked: %llu; flows throttled with nothing in flight: %llu\n",
	       r[0].bind, (unsigned long long)(r[0].leaked + (n > 1 ? r[1].leaked : 0)),
	       (unsigned long long)(r[0].throttled_idle + (n > 1 ? r[1].throttled_idle : 0)));
}

const char *run_label(const struct run_result *r)
{
	/* /wb: the worker wrote the frames (--build-on worker) */
	static const char *const names[2][2][4] = {
		{ { "TSQ off", "TSQ", "BQL", "TSQ+BQL" },
		  { "TSQ off/fifo", "TSQ/fifo", "BQL/fifo", "TSQ+BQL/fifo" } },
		{ { "TSQ off/wb", "TSQ/wb", "BQL/wb", "TSQ+BQL/wb" },
		  { "TSQ off/fifo/wb", "TSQ/fifo/wb", "BQL/fifo/wb", "TSQ+BQL/fifo/wb" } }
	};

	if (r->bare)
		return r->build_per_send ? "bare+build" : "bare";
	return names[r->build_worker][r->qdisc == XENG_QDISC_FIFO][r->tsq + 2 * r->bql];
}

/* The run of `label` in round `round`, NULL if there is none. */
static const struct run_result *find_run(const struct run_result *r, unsigned n, unsigned round,
					 const char *label)
{
	for (unsigned k = 0; k < n; k++)
		if (r[k].round == round && !strcmp(run_label(&r[k]), label))
			return &r[k];
	return NULL;
}

/* An engine configuration of `round` under the matrix's own qdisc: fq's when there is one
 * (the FIFO run of --qdisc both is the comparison), else the FIFO's (--qdisc fifo); frames
 * built by the application when there is such a run (the worker's run of --build-on both is
 * the comparison), else by the worker (--build-on worker). */
static const struct run_result *find_cfg(const struct run_result *r, unsigned n, unsigned round,
					 const char *label)
{
	static const char *const sfx[] = { "", "/fifo", "/wb", "/fifo/wb" };
	const struct run_result *x = NULL;
	char name[32];

	for (unsigned i = 0; i < 4 && x == NULL; i++) {
		snprintf(name, sizeof(name), "%s%s", label, sfx[i]);
		x = find_run(r, n, round, name);
	}
	return x;
}

struct span {
	double lo, hi;
	unsigned n;
};

static void span_add(struct span *s, double v)
{
	if (isnan(v) || isinf(v))
		return;
	if (s->n == 0 || v < s->lo)
		s->lo = v;
	if (s->n == 0 || v > s->hi)
		s->hi = v;
	s->n++;
}

/* a / b into s when both are there and b > 0. */
static void span_ratio(struct span *s, const struct run_result *a, const struct run_result *b,
		       size_t field)
{
	double x, y;

	if (a == NULL || b == NULL)
		return;
	memcpy(&x, (const char *)a + field, sizeof(x));
	memcpy(&y, (const char *)b + field, sizeof(y));
	if (y > 0) /* false for NAN too */
		span_add(s, x / y);
}

static void span_print(const char *what, const struct span *s, const char *fmt_unit)
{
	if (s->n == 0)
		printf("  %-58s -\n", what);
	else
		printf("  %-58s %.2f .. %.2f%s\n", what, s->lo, s->hi, fmt_unit);
}

#define MAX_CFGS 8

/* The matrix's figures over its rounds: per configuration, and the same-round ratios. */
struct matrix_sum {
	const char *labels[MAX_CFGS];
	struct span pps[MAX_CFGS], p99[MAX_CFGS], send[MAX_CFGS];
	struct span lat_gain, vs_bare, vs_build, vs_tsq, cpu_bare;
	struct span fq_send, fq_ring, fq_pps;
	struct span wb_bare, wb_build, wb_app;
	unsigned rounds, nl;
};

/* One row per run; each run's figures into its configuration's spans. */
static void matrix_rows(const struct run_result *r, unsigned n, struct matrix_sum *m)
{
	char b1[32], b2[32], b3[32], b4[32], b5[32], b6[32], b7[32];

	printf("%-5s %-12s %8s %7s %10s %10s %10s %10s %8s %8s %6s\n", "round", "config", "Mpps",
	       "vs bare", "TX occ p99", "ring p99", "ring p50", "send p99", "qwait", "BQL lim",
	       "stops");
	for (unsigned k = 0; k < n; k++) {
		const struct run_result *x = &r[k], *bare = find_run(r, n, x->round, "bare");
		unsigned l;

		printf("%-5u %-12s %8.3f %7s %10s %10s %10s %10s %8s %8s %6llu\n", x->round + 1,
		       run_label(x), x->bulk_pps / 1e6,
		       cell(b1, sizeof(b1), "%.3f",
			    bare && x != bare ? x->bulk_pps / bare->bulk_pps : NAN),
		       cell(b2, sizeof(b2), "%.0f", x->occ_p99),
		       cell(b3, sizeof(b3), "%.1f", x->lat_ring_p99),
		       cell(b4, sizeof(b4), "%.1f", x->lat_ring_p50),
		       cell(b5, sizeof(b5), "%.1f", x->lat_send_p99),
		       cell(b7, sizeof(b7), "%.0f", x->qwait_max),
		       x->bql ? (snprintf(b6, sizeof(b6), "%u", x->bql_limit), b6) : "-",
		       (unsigned long long)x->bql_stops);
		m->rounds = x->round + 1 > m->rounds ? x->round + 1 : m->rounds;
		for (l = 0; l < m->nl && strcmp(m->labels[l], run_label(x)); l++)
			;
		if (l == m->nl && m->nl < MAX_CFGS)
			m->labels[m->nl++] = run_label(x);
		if (l < m->nl) {
			span_add(&m->pps[l], x->bulk_pps / 1e6);
			span_add(&m->p99[l], x->lat_ring_p99);
			span_add(&m->send[l], x->lat_send_p99);
		}
	}
}

/* The same-round ratios of `round`. */
static void matrix_ratios(const struct run_result *r, unsigned n, unsigned round,
			  struct matrix_sum *m)
{
	const size_t pps = offsetof(struct run_result, bulk_pps);
	const struct run_result *bare = find_run(r, n, round, "bare");
	const struct run_result *build = find_run(r, n, round, "bare+build");
	const struct run_result *tsq = find_cfg(r, n, round, "TSQ");
	const struct run_result *both = find_cfg(r, n, round, "TSQ+BQL");
	const struct run_result *fifo = find_run(r, n, round, "TSQ+BQL/fifo");
	const struct run_result *wb = find_run(r, n, round, "TSQ+BQL/wb");

	if (wb == NULL)
		wb = find_run(r, n, round, "TSQ+BQL/fifo/wb");
	if (fifo == NULL)
		fifo = find_run(r, n, round, "TSQ+BQL/fifo/wb");
	if (fifo == NULL)
		fifo = both;
	if (wb != NULL && wb != both) {
		span_ratio(&m->wb_bare, wb, bare, pps);
		span_ratio(&m->wb_build, wb, build, pps);
		span_ratio(&m->wb_app, wb, both, pps);
	}
	span_ratio(&m->lat_gain, tsq, both, offsetof(struct run_result, lat_ring_p99));
	span_ratio(&m->vs_bare, both, bare, pps);
	span_ratio(&m->cpu_bare, bare, both, offsetof(struct run_result, cpu_ns_per_frame));
	span_ratio(&m->vs_build, both, build, pps);
	span_ratio(&m->vs_tsq, both, tsq, pps);
	if (fifo != both) {
		span_ratio(&m->fq_send, fifo, both, offsetof(struct run_result, lat_send_p99));
		span_ratio(&m->fq_ring, fifo, both, offsetof(struct run_result, lat_ring_p99));
		span_ratio(&m->fq_pps, both, fifo, pps);
	}
}

static void matrix_summary(const struct matrix_sum *m)
{
	printf("over %u round(s), min .. max:\n", m->rounds);
	for (unsigned l = 0; l < m->nl; l++) {
		char what[64];

		snprintf(what, sizeof(what), "%s Mpps", m->labels[l]);
		span_print(what, &m->pps[l], "");
		if (strncmp(m->labels[l], "bare", 4) != 0) {
			snprintf(what, sizeof(what), "%s probe ring->completion p99 (us)",
				 m->labels[l]);
			span_print(what, &m->p99[l], "");
			snprintf(what, sizeof(what), "%s probe send->completion p99 (us)",
				 m->labels[l]);
			span_print(what, &m->send[l], "");
		}
	}
	span_print("probe ring p99 TSQ / TSQ+BQL (same round)", &m->lat_gain, "x");
	span_print("Mpps TSQ+BQL / bare (same round)", &m->vs_bare, "");
	span_print("Mpps TSQ+BQL / bare+build (same round)", &m->vs_build, "");
	span_print("Mpps TSQ+BQL / TSQ (same round)", &m->vs_tsq, "");
	span_print("sender CPU per frame bare / TSQ+BQL's worker (same round)", &m->cpu_bare, "");
	if (m->fq_send.n != 0) {
		span_print("probe send p99 TSQ+BQL fifo / fq (same round)", &m->fq_send, "x");
		span_print("probe ring p99 TSQ+BQL fifo / fq (same round)", &m->fq_ring, "x");
		span_print("Mpps TSQ+BQL fq / fifo (same round)", &m->fq_pps, "");
	}
	if (m->wb_bare.n != 0 || m->wb_app.n != 0) {
		span_print("Mpps TSQ+BQL/wb / bare (same round)", &m->wb_bare, "");
		span_print("Mpps TSQ+BQL/wb / bare+build (same round)", &m->wb_build, "");
		span_print("Mpps TSQ+BQL/wb / TSQ+BQL (same round)", &m->wb_app, "");
	}
}

void report_matrix_table(const struct run_result *r, unsigned n)
{
	struct matrix_sum m;

	memset(&m, 0, sizeof(m));
	matrix_rows(r, n, &m);
	for (unsigned round = 0; round < m.rounds; round++)
		matrix_ratios(r, n, round, &m);
	matrix_summary(&m);
	if (n > 0)
		printf("bind: %s; %u bulk flow(s), %u queue(s)\n", r[n - 1].bind,
		       r[n - 1].bulk_flows, r[n - 1].queues);
}

/* ------------------------------------------------------------------------------------------ */
/* Shared by the commands                                                                      */
/* ------------------------------------------------------------------------------------------ */

int setup_error(const struct xengine *e, int err)
{
	fprintf(stderr, "tsq-xsk: %s\n", e->err);
	if (err == -EPERM || err == -EACCES || err == -EAFNOSUPPORT || err == -EPROTONOSUPPORT)
		return EXIT_SKIP;
	return 1;
}

uint64_t thread_cpu_ns(pthread_t thread)
{
	struct timespec ts;
	clockid_t cid;

	if (pthread_getcpuclockid(thread, &cid) != 0 || clock_gettime(cid, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void touch(const char *path)
{
	FILE *f;

	if (path != NULL && (f = fopen(path, "w")) != NULL)
		fclose(f);
}
