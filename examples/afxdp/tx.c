/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tx.c - tx, compare and matrix: one run of the engine (set up, start the application
 * threads, watch progress and the link, stop, collect the figures), once (tx), TSQ off then
 * on (compare), or the bare sender and the four TSQ x BQL runs, interleaved over several
 * rounds (matrix: on a shared machine only same-round ratios say something).
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long the link may be down in the middle of a run before tx gives up. */
#define LINK_DOWN_LIMIT_NS 1000000000ull

/* A tx run: the engine, the application threads, and why the run stopped. */
struct run {
	const struct cli_args *o;
	bool tsq, bql;
	enum xeng_qdisc qdisc;
	struct xengine e;
	struct xflow_spec specs[CLI_MAX_FLOWS + 1];
	struct app apps[CLI_MAX_FLOWS + 1];
	unsigned nflows;
	int done;
	uint64_t t0, t1, c0, cpu0, cpu1; /* cpu: the workers' CPU time, summed */
	char link_down[160];             /* set when the run stopped because the link went away */
};

unsigned tx_flow_specs(const struct cli_args *o, struct xflow_spec *specs)
{
	unsigned nflows = o->flows + (o->probe_rate > 0);

	for (unsigned i = 0; i < nflows; i++) {
		bool probe = i == o->flows;

		specs[i] = (struct xflow_spec){ .kind = probe ? XFLOW_PROBE : XFLOW_BULK,
						.pool_frames = probe ? 256 : o->pool_frames,
						.arena_frames = (!probe && o->zerocopy) ?
									128 * MSG_FRAMES :
									0,
						.app_slot = i };
	}
	return nflows;
}

uint64_t tx_umem_bytes(const struct cli_args *o)
{
	struct xflow_spec specs[CLI_MAX_FLOWS + 1];
	unsigned n = tx_flow_specs(o, specs);
	uint64_t frames = 0;

	for (unsigned i = 0; i < n; i++)
		frames += specs[i].pool_frames + specs[i].arena_frames;
	return frames * o->frame_size;
}

void read_src_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);

	memset(mac, 0, 6);
	mac[0] = 2;
	if (fd < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(fd);
}

static uint64_t workers_cpu_ns(const struct xengine *e)
{
	uint64_t ns = 0;

	for (unsigned i = 0; i < e->nr_workers; i++)
		ns += thread_cpu_ns(e->workers[i].thread);
	return ns;
}

static uint64_t bulk_completed(const struct xengine *e)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < e->nr_flows; i++)
		if (e->flows[i]->kind == XFLOW_BULK)
			n += tsq_load(&e->flows[i]->txq.completed, TSQ_RELAXED);
	return n;
}

/* Step 1: the engine, with one flow per bulk sender and one for the probe. */
static int run_create(struct run *rn)
{
	const struct cli_args *o = rn->o;
	struct xeng_cfg cfg = cli_engine_cfg(o);
	int err;

	cfg.tsq = rn->tsq;
	cfg.bql = rn->bql;
	cfg.qdisc = rn->qdisc;
	cfg.fq_quantum = o->fq_quantum;
	cfg.bql_limit_max = o->bql_limit_max;
	cfg.ret_hold_ns = o->ret_hold_ns;
	cfg.backlog_limit = 1 << 20;
	read_src_mac(o->ifname, cfg.src_mac);
	memcpy(cfg.dst_mac, o->dst_mac, 6);
	memcpy(cfg.src_ip, o->src_ip, 16);
	memcpy(cfg.dst_ip, o->dst_ip, 16);
	rn->nflows = tx_flow_specs(o, rn->specs);
	cfg.nr_app_shards = rn->nflows;
	err = xeng_create(&rn->e, &cfg, rn->specs, rn->nflows);
	if (err) {
		int rc = setup_error(&rn->e, err);

		xeng_destroy(&rn->e);
		return rc;
	}
	return 0;
}

/* Step 2: one application per flow, its zerocopy bookkeeping sized to its arena. */
static void run_apps_init(struct run *rn)
{
	const struct cli_args *o = rn->o;

	memset(rn->apps, 0, sizeof(rn->apps));
	for (unsigned i = 0; i < rn->nflows; i++) {
		struct app *a = &rn->apps[i];

		a->e = &rn->e;
		a->f = rn->e.flows[i];
		a->o = o;
		a->slot = i;
		a->done = &rn->done;
		a->zc.first_id = o->zc_first_id;
		tsq_zc_flow_set_next_id(&a->f->zc, o->zc_first_id);
		if (rn->specs[i].arena_frames) {
			a->zc.nslots = rn->specs[i].arena_frames / MSG_FRAMES;
			a->zc.slots = calloc(a->zc.nslots, sizeof(*a->zc.slots));
			a->heap_msg = malloc((size_t)MSG_FRAMES * o->pkt_size);
		}
	}
}

/*
 * Is the link still there? Two signs: the kernel refuses the kicks (ENETDOWN/ENXIO, which
 * the workers back off from), or the interface lost IFF_UP or its carrier (in copy mode
 * frames then "complete" without being sent). Either for LINK_DOWN_LIMIT_NS ends the run.
 */
static bool run_link_lost(struct run *rn, uint64_t now, uint64_t *down_since)
{
	char why[128];
	uint64_t since;
	int err = xeng_link_error(&rn->e, &since);

	if (err != 0 && now - since >= LINK_DOWN_LIMIT_NS) {
		snprintf(rn->link_down, sizeof(rn->link_down),
			 "the kernel refuses to send (%s) for %.1f s", strerror(err),
			 (double)(now - since) / 1e9);
		return true;
	}
	if (link_state(rn->o->ifname, why, sizeof(why)) == 0) {
		*down_since = 0;
		return false;
	}
	if (*down_since == 0)
		*down_since = now;
	if (now - *down_since < LINK_DOWN_LIMIT_NS)
		return false;
	snprintf(rn->link_down, sizeof(rn->link_down), "%s for %.1f s", why,
		 (double)(now - *down_since) / 1e9);
	return true;
}

/* Step 3: run until the duration, the count, a signal or a lost link; progress once a
 * second (rewritten in place on a terminal, plain lines otherwise). */
static void run_watch(struct run *rn)
{
	const struct cli_args *o = rn->o;
	bool tty = isatty(STDERR_FILENO);
	uint64_t last = rn->c0, lastt = rn->t0, link_since = 0;

	for (;;) {
		uint64_t now = xeng_now_ns(), c;
		bool counted_out = o->count && bulk_completed(&rn->e) >= o->count * o->flows;

		if (cli_interrupted || counted_out || now - rn->t0 >= (uint64_t)(o->duration * 1e9))
			break;
		if (run_link_lost(rn, now, &link_since))
			break;
		usleep(10000);
		if (now - lastt >= 1000000000ull && !o->quiet) {
			c = bulk_completed(&rn->e);
			fprintf(stderr,
				"%s[tsq %s bql %s] t=%.0fs bulk %.3f Mpps  outstanding %u%s",
				tty ? "\r" : "", rn->tsq ? "on " : "off", rn->bql ? "on " : "off",
				(double)(now - rn->t0) / 1e9,
				(double)(c - last) / ((double)(now - lastt) / 1e3),
				tsq_load(&rn->e.workers[0].outstanding, TSQ_RELAXED),
				tty ? "   " : "\n");
			last = c;
			lastt = now;
		}
	}
	if (!o->quiet && tty)
		fprintf(stderr, "\n");
}

/* Step 4: wait for what is in flight (not long when the link is gone), then stop the
 * application threads and the workers. Return: whether everything completed. */
static bool run_stop(struct run *rn)
{
	bool quiesced = xeng_quiesce(&rn->e, rn->link_down[0] ? 100 : 5000) == 0;

	tsq_store(&rn->done, 1, TSQ_RELEASE);
	for (unsigned i = 0; i < rn->nflows; i++)
		pthread_join(rn->apps[i].thread, NULL);
	xeng_stop(&rn->e);
	for (unsigned i = 0; i < rn->e.nr_workers; i++) {
		pthread_join(rn->e.workers[i].thread, NULL);
		rn->e.workers[i].started = false;
	}
	return quiesced;
}

/* Step 5a: throughput, TX ring occupancy, probe latency and counters, over all workers
 * (the probe's samples are on its home worker; occupancy is sampled per worker). */
static void run_figures_worker(struct run *rn, struct run_result *r)
{
	const struct cli_args *o = rn->o;
	size_t buckets = 2 * o->ring_size + 1, nlat = 0;
	uint64_t bytes = 0, *hist = calloc(buckets, sizeof(uint64_t)), *lr, *ls;
	uint64_t *qwh = calloc(XENG_QWAIT_BUCKETS, sizeof(uint64_t));
	uint32_t occ_max = 0, qw_max = 0;

	for (unsigned i = 0; i < rn->nflows; i++)
		if (rn->e.flows[i]->kind == XFLOW_BULK)
			bytes += rn->e.flows[i]->txq.completed_bytes;
	r->bulk_pps = (double)r->bulk_frames / r->secs;
	r->bulk_gbps = (double)bytes * 8 / r->secs / 1e9;
	for (unsigned k = 0; k < rn->e.nr_workers; k++)
		nlat += rn->e.workers[k].nlat;
	lr = calloc(nlat ? nlat : 1, sizeof(uint64_t));
	ls = calloc(nlat ? nlat : 1, sizeof(uint64_t));
	nlat = 0;
	r->nworkers = rn->e.nr_workers;
	for (unsigned k = 0; k < rn->e.nr_workers; k++) {
		struct xworker *w = &rn->e.workers[k];
		struct worker_result *wr = &r->w[k];
		uint64_t *dst = &r->ws.tx_submitted, *src = &w->st.tx_submitted;

		for (size_t b = 0; hist != NULL && b < buckets; b++)
			hist[b] += w->occ_hist[b];
		occ_max = w->occ_max > occ_max ? w->occ_max : occ_max;
		for (size_t b = 0; qwh != NULL && b < XENG_QWAIT_BUCKETS; b++)
			qwh[b] += w->qwait_hist[b];
		qw_max = w->qwait_max > qw_max ? w->qwait_max : qw_max;
		r->qwait_over += w->qwait_over;
		if (w->qwait_others_max > r->qwait_others_max)
			r->qwait_others_max = w->qwait_others_max;
		if (w->queued_max > r->queue_max)
			r->queue_max = w->queued_max;
		if (lr != NULL && ls != NULL) {
			memcpy(lr + nlat, w->lat_ring, w->nlat * sizeof(uint64_t));
			memcpy(ls + nlat, w->lat_send, w->nlat * sizeof(uint64_t));
			nlat += w->nlat;
		}
		/* xworker_stats is all u64 counters: sum them field by field. */
		for (size_t f = 0; f < sizeof(w->st) / sizeof(uint64_t); f++)
			dst[f] += src[f];
		wr->queue = w->queue;
		wr->ws = w->st;
		if (w->dql != NULL) {
			tsq_dql_stats(w->dql, &wr->bql);
			r->bql_stops += wr->bql.stops;
			r->bql_restarts += wr->bql.restarts;
			r->bql_recheck_saves += wr->bql.recheck_saves;
			r->bql_grows += wr->bql.grows;
			r->bql_shrinks += wr->bql.shrinks;
			r->bql_limit = wr->bql.limit > r->bql_limit ? wr->bql.limit : r->bql_limit;
		}
	}
	r->occ_p50 = hist ? pct_hist(hist, buckets, 50) : NAN;
	r->occ_p99 = hist ? pct_hist(hist, buckets, 99) : NAN;
	r->occ_max = isnan(r->occ_p50) ? NAN : occ_max;
	r->qwait_p50 = qwh ? pct_hist(qwh, XENG_QWAIT_BUCKETS, 50) : NAN;
	r->qwait_p99 = qwh ? pct_hist(qwh, XENG_QWAIT_BUCKETS, 99) : NAN;
	r->qwait_max = isnan(r->qwait_p50) ? NAN : qw_max;
	free(qwh);
	if (lr != NULL && ls != NULL) {
		qsort(lr, nlat, sizeof(uint64_t), cmp_u64);
		qsort(ls, nlat, sizeof(uint64_t), cmp_u64);
	} else {
		nlat = 0;
	}
	r->probe_samples = nlat;
	r->lat_ring_p50 = pct_sorted(lr, nlat, 50) / 1e3;
	r->lat_ring_p99 = pct_sorted(lr, nlat, 99) / 1e3;
	r->lat_send_p50 = pct_sorted(ls, nlat, 50) / 1e3;
	r->lat_send_p99 = pct_sorted(ls, nlat, 99) / 1e3;
	free(hist);
	free(lr);
	free(ls);
}

/* Step 5b: per flow - what was sent, TSQ's counters, leaks, zerocopy exactness. */
static void run_figures_flows(struct run *rn, struct run_result *r)
{
	r->nflows = rn->nflows;
	for (unsigned i = 0; i < rn->nflows; i++) {
		struct xflow *f = rn->e.flows[i];
		struct tsq_flow_stats fs = { 0 };
		struct tsq_owner_stats os = { 0 };
		struct app *a = &rn->apps[i];

		tsq_flow_stats(&f->tsq, &fs);
		tsq_owner_stats(&f->own, &os);
		r->flow[i].sent = f->txq.completed;
		r->flow[i].bytes = f->txq.completed_bytes;
		r->flow[i].kind = f->kind;
		r->throttles += fs.budget.throttles;
		r->recheck_saves += fs.budget.recheck_saves;
		r->queued += fs.queued;
		r->deferred += fs.deferred;
		r->backlog_flushes += os.flushes;
		r->app_wakes += a->waits;
		r->app_naps += a->naps;
		/* Every TX frame home, every arena slot free. */
		r->leaked += f->pool_frames - f->pool_free;
		for (unsigned s = 0; s < a->zc.nslots; s++)
			r->leaked += a->zc.slots[s].busy ? MSG_FRAMES : 0;
		if ((fs.flags & TSQ_F_THROTTLED) && tsq_budget_inflight(&f->tsq.budget) == 0)
			r->throttled_idle++;
		if (rn->o->zerocopy && f->kind == XFLOW_BULK) {
			r->zc_sends += a->zc.sends;
			r->zc_notices += a->zc.notices;
			r->zc_notified += a->zc.notified;
			r->zc_dups += a->zc.dups;
			r->zc_copied_sends += a->zc.copied_sends;
			r->zc_copied_ids += a->zc.copied_ids;
			for (uint64_t k = 0; k < a->zc.sends; k++)
				if (k >= a->zc.cap || !a->zc.seen[k])
					r->zc_missing++;
		}
	}
	r->zc_notices_per_send = r->zc_sends ? (double)r->zc_notices / (double)r->zc_sends : NAN;
}

static void run_free(struct run *rn)
{
	for (unsigned i = 0; i < rn->nflows; i++) {
		free(rn->apps[i].zc.slots);
		free(rn->apps[i].zc.seen);
		free(rn->apps[i].heap_msg);
	}
	xeng_destroy(&rn->e);
}

static int run_tx(const struct cli_args *o, bool tsq, bool bql, enum xeng_qdisc qdisc,
		  struct run_result *r)
{
	struct run *rn = calloc(1, sizeof(*rn));
	char why[128];
	int rc;

	memset(r, 0, sizeof(*r));
	r->tsq = tsq;
	r->bql = bql;
	r->qdisc = qdisc;
	r->bulk_flows = o->flows;
	r->queues = o->queues;
	r->zerocopy = o->zerocopy;
	r->build_worker = o->build_worker;
	if (rn == NULL) {
		fprintf(stderr, "tsq-xsk: out of memory\n");
		return 1;
	}
	rn->o = o;
	rn->tsq = tsq;
	rn->bql = bql;
	rn->qdisc = qdisc;
	if (link_state(o->ifname, why, sizeof(why)) !=
	    0) { /* again: compare's second run comes later */
		fprintf(stderr, "tsq-xsk: link down on %s: %s\n", o->ifname, why);
		free(rn);
		return 1;
	}
	rc = run_create(rn);
	if (rc != 0) {
		free(rn);
		return rc;
	}
	r->bind = xeng_bind_name(&rn->e);
	run_apps_init(rn);
	if (xeng_start(&rn->e) != 0) {
		fprintf(stderr, "tsq-xsk: %s\n", rn->e.err);
		run_free(rn);
		free(rn);
		return 1;
	}
	rn->t0 = xeng_now_ns();
	rn->cpu0 = workers_cpu_ns(&rn->e);
	rn->c0 = bulk_completed(&rn->e);
	for (unsigned i = 0; i < rn->nflows; i++)
		pthread_create(&rn->apps[i].thread, NULL,
			       rn->specs[i].kind == XFLOW_PROBE ? probe_main : bulk_main,
			       &rn->apps[i]);
	run_watch(rn);
	rn->t1 = xeng_now_ns();
	rn->cpu1 = workers_cpu_ns(&rn->e);
	r->bulk_frames = bulk_completed(&rn->e) - rn->c0;
	r->secs = (double)(rn->t1 - rn->t0) / 1e9;
	r->cpu_ns_per_frame = r->bulk_frames ? (double)(rn->cpu1 - rn->cpu0) / r->bulk_frames : NAN;
	r->cpu_share = (double)(rn->cpu1 - rn->cpu0) / (double)(rn->t1 - rn->t0) / rn->e.nr_workers;
	r->quiesced = run_stop(rn);
	run_figures_worker(rn, r);
	run_figures_flows(rn, r);
	rc = 0;
	if (rn->link_down[0]) {
		fprintf(stderr,
			"tsq-xsk: link down on %s: %s; %llu bulk frames completed before "
			"(check `ip link show %s` and the peer)\n",
			o->ifname, rn->link_down, (unsigned long long)r->bulk_frames, o->ifname);
		rc = 1;
	}
	run_free(rn);
	free(rn);
	return rc;
}

const char *run_check(const struct run_result *r)
{
	if (!r->quiesced)
		return "frames still in flight after 5 s";
	if (r->leaked)
		return "UMEM frames leaked";
	if (r->throttled_idle)
		return "a flow was left throttled with nothing in flight";
	if (r->zc_dups || r->zc_missing)
		return "zerocopy ids notified twice or never";
	return NULL;
}

static int runs_report(const struct cli_args *o, const struct run_result *r, unsigned n)
{
	if (o->json_file != NULL) {
		FILE *f = fopen(o->json_file, "w");

		if (f == NULL) {
			fprintf(stderr, "tsq-xsk: --json-file %s: %s\n", o->json_file,
				strerror(errno));
			return 1;
		}
		report_runs_json(f, r, n);
		fclose(f);
	}
	if (o->json)
		report_runs_json(stdout, r, n);
	else if (o->cmd == CMD_MATRIX)
		report_matrix_table(r, n);
	else
		report_runs_table(r, n);
	for (unsigned k = 0; k < n; k++) {
		const char *why = run_check(&r[k]);

		if (why != NULL) {
			fprintf(stderr, "tsq-xsk: run %u (%s) failed its checks: %s\n", k + 1,
				run_label(&r[k]), why);
			return 1;
		}
	}
	return 0;
}

int cmd_tx(const struct cli_args *o, bool compare)
{
	struct run_result r[2];
	unsigned n = 0;
	int rc;

	if (compare) {
		rc = run_tx(o, false, o->bql, o->qdisc, &r[n++]);
		if (rc == 0)
			rc = run_tx(o, true, o->bql, o->qdisc, &r[n++]);
	} else {
		rc = run_tx(o, o->tsq, o->bql, o->qdisc, &r[n++]);
	}
	if (rc != 0)
		return rc;
	return runs_report(o, r, n);
}

/* One run of a matrix round. */
struct matrix_cfg {
	bool bare, build_per_send; /* the bare sender; frames built per send */
	bool tsq, bql, build_worker;
	enum xeng_qdisc qdisc;
};

/*
 * The runs of a round: the bare sender (frames built once: xdpsock's anchor; then built per
 * send, as the engine's applications do), then TSQ off, TSQ, BQL, TSQ+BQL (with --qdisc both,
 * TSQ+BQL with a FIFO first; with --build-on both, TSQ+BQL with frames written by the worker
 * last). Return: how many (at most 8).
 */
static unsigned matrix_cfgs(const struct cli_args *o, struct matrix_cfg *c)
{
	unsigned n = 0;

	c[n++] = (struct matrix_cfg){ .bare = true };
	c[n++] = (struct matrix_cfg){ .bare = true, .build_per_send = true };
	for (unsigned k = 0; k < 4; k++) {
		if (k == 3 && o->qdisc_both)
			c[n++] = (struct matrix_cfg){ .tsq = true,
						      .bql = true,
						      .qdisc = XENG_QDISC_FIFO,
						      .build_worker = o->build_worker };
		c[n++] = (struct matrix_cfg){ .tsq = k & 1,
					      .bql = k >> 1,
					      .qdisc = o->qdisc,
					      .build_worker = o->build_worker };
	}
	if (o->build_both)
		c[n++] = (struct matrix_cfg){
			.tsq = true, .bql = true, .qdisc = o->qdisc, .build_worker = true
		};
	return n;
}

static int matrix_run(const struct cli_args *o, const struct matrix_cfg *c, struct run_result *r)
{
	struct cli_args oc = *o;

	oc.build_per_send = c->build_per_send;
	oc.build_worker = c->build_worker;
	if (c->bare)
		return run_bare(&oc, r);
	return run_tx(&oc, c->tsq, c->bql, c->qdisc, r);
}

/* Progress: with --quiet one line rewritten in place on a terminal (nothing elsewhere);
 * without, a line per round. */
static void matrix_progress(const struct cli_args *o, unsigned round, unsigned k, unsigned nk)
{
	if (!o->quiet && k == nk)
		fprintf(stderr, "tsq-xsk: matrix round %u of %u done\n", round + 1, o->rounds);
	else if (o->quiet && isatty(STDERR_FILENO) && k < nk)
		fprintf(stderr, "\r  matrix: round %u of %u, run %u of %u ", round + 1, o->rounds,
			k + 1, nk);
	else if (o->quiet && isatty(STDERR_FILENO) && round + 1 == o->rounds)
		fprintf(stderr, "\r%40s\r", "");
}

/*
 * --rounds rounds of the runs matrix_cfgs() lists, in the same order every round, so that
 * every configuration sees the machine's drift in each round, and ratios are taken within a
 * round.
 */
int cmd_matrix(const struct cli_args *o)
{
	struct matrix_cfg cfgs[8];
	unsigned n = 0, nc = matrix_cfgs(o, cfgs);
	struct run_result *r = calloc((size_t)o->rounds * nc, sizeof(*r));
	int rc = 0;

	if (r == NULL) {
		fprintf(stderr, "tsq-xsk: out of memory\n");
		return 1;
	}
	for (unsigned round = 0; round < o->rounds && rc == 0 && !cli_interrupted; round++) {
		for (unsigned k = 0; k < nc && rc == 0 && !cli_interrupted; k++) {
			matrix_progress(o, round, k, nc);
			rc = matrix_run(o, &cfgs[k], &r[n]);
			r[n++].round = round;
		}
		if (rc == 0)
			matrix_progress(o, round, nc, nc);
	}
	if (rc == 0)
		rc = runs_report(o, r, n);
	free(r);
	return rc;
}
