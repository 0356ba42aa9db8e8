/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rx.c - the AF_XDP receiver: the engine's workers receive (one per queue) and deliver each
 * frame through its flow's tsq_owner, while one application thread owns every flow for a
 * "long operation" each millisecond - so frames also go through the owner backlog. At the
 * end: per-flow exactly-once accounting and every drop the receiver can count.
 */
#include "cli.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_xdp.h>

uint64_t rx_umem_bytes(const struct cli_args *o)
{
	return (uint64_t)o->queues * 2 * o->ring_size * o->frame_size;
}

struct rx_owner_app {
	struct xengine *e;
	const struct cli_args *o;
	int stop;
};

/* The receiving application: owns each flow for --own-us every millisecond, in steps,
 * letting the backlog in every 16 steps - frames arriving meanwhile go to the backlog. */
static void *rx_owner_main(void *arg)
{
	struct rx_owner_app *a = arg;
	struct cds_lfht_iter it;
	struct xflow *f;

	xeng_app_enter(a->e, 0);
	while (!tsq_load(&a->stop, TSQ_ACQUIRE)) {
		rcu_read_lock();
		cds_lfht_for_each_entry(a->e->table, &it, f, hnode)
		{
			unsigned ctr = 0;
			uint64_t end = xeng_now_ns() + (uint64_t)a->o->own_us * 1000;

			xflow_acquire(f);
			while (xeng_now_ns() < end)
				tsq_owner_flush_every(&f->own, &ctr, 16);
			xflow_release(f);
		}
		rcu_read_unlock();
		xeng_app_reclaim(a->e);
		usleep(1000);
	}
	xeng_app_reclaim(a->e);
	xeng_app_leave();
	return NULL;
}

/* Receive until --duration, or --idle-exit after the last frame, or a signal. */
static void rx_wait(const struct xengine *e, const struct cli_args *o)
{
	uint64_t t0, last_rx = 0, last_change;

	t0 = last_change = xeng_now_ns();
	while (!cli_interrupted) {
		uint64_t now = xeng_now_ns(), n = 0;

		usleep(10000);
		for (unsigned i = 0; i < e->nr_workers; i++)
			n += tsq_load(&e->workers[i].st.rx_frames, TSQ_RELAXED);
		if (n != last_rx) {
			last_rx = n;
			last_change = now;
		}
		if (now - t0 >= (uint64_t)(o->duration * 1e9))
			break;
		if (last_rx != 0 && now - last_change >= (uint64_t)o->idle_exit_ms * 1000000ull)
			break;
	}
}

/* The kernel's drops for our sockets, summed over the workers (after they stopped). */
static void rx_xdp_stats(struct xengine *e, struct xdp_statistics *xs)
{
	for (unsigned i = 0; i < e->nr_workers; i++) {
		socklen_t len = sizeof(struct xdp_statistics);
		struct xdp_statistics s;

		if (getsockopt(xsk_socket__fd(e->workers[i].xsk), SOL_XDP, XDP_STATISTICS, &s,
			       &len) == 0) {
			xs->rx_dropped += s.rx_dropped;
			xs->rx_invalid_descs += s.rx_invalid_descs;
			xs->rx_ring_full += s.rx_ring_full;
			xs->rx_fill_ring_empty_descs += s.rx_fill_ring_empty_descs;
		}
	}
}

struct rx_totals {
	uint64_t received, dups, missing, frames_seen;
	struct xworker_stats ws;
	struct xdp_statistics xs;
};

/* Per flow: received, duplicates, highest sequence, sequence numbers never seen. */
static void rx_report_flows(struct xengine *e, const struct cli_args *o, struct jw *j,
			    struct rx_totals *t)
{
	struct cds_lfht_iter it;
	struct xflow *f;

	if (o->json)
		jw_arr_begin(j, "flows");
	else
		printf("%6s %12s %10s %12s %10s\n", "flow", "received", "dups", "max_seq",
		       "missing");
	rcu_read_lock();
	cds_lfht_for_each_entry(e->table, &it, f, hnode)
	{
		uint64_t distinct = 0, miss;

		for (uint64_t k = 0; k < f->seen_cap; k++)
			distinct += f->seen[k];
		miss = f->rx_frames ? f->rx_max_seq + 1 - distinct : 0;
		t->received += f->rx_frames;
		t->dups += f->rx_dups;
		t->missing += miss;
		if (o->json) {
			jw_obj_begin(j, NULL);
			jw_u64(j, "id", f->id);
			jw_u64(j, "received", f->rx_frames);
			jw_u64(j, "duplicates", f->rx_dups);
			jw_u64(j, "max_seq", f->rx_max_seq);
			jw_u64(j, "missing", miss);
			jw_obj_end(j);
		} else {
			printf("%6u %12llu %10llu %12llu %10llu\n", f->id,
			       (unsigned long long)f->rx_frames, (unsigned long long)f->rx_dups,
			       (unsigned long long)f->rx_max_seq, (unsigned long long)miss);
		}
	}
	rcu_read_unlock();
	if (o->json)
		jw_arr_end(j);
}

static void rx_report(struct xengine *e, const struct cli_args *o, struct rx_totals *t)
{
	const struct xdp_statistics *xs = &t->xs;
	struct jw j = { 0 };

	for (unsigned i = 0; i < e->nr_workers; i++) {
		const struct xworker_stats *s = &e->workers[i].st;

		t->frames_seen += s->rx_frames;
		t->ws.rx_invalid += s->rx_invalid;
		t->ws.rx_direct += s->rx_direct;
		t->ws.rx_backlogged += s->rx_backlogged;
		t->ws.rx_backlog_drops += s->rx_backlog_drops;
	}
	if (o->json) {
		jw_doc_begin(&j, stdout);
		jw_str(&j, "role", "rx");
		jw_str(&j, "bind", xeng_bind_name(e));
		jw_str(&j, "attach", xdp_prog_mode_name(&e->prog));
	} else {
		printf("rx: bind %s, XDP %s\n", xeng_bind_name(e), xdp_prog_mode_name(&e->prog));
	}
	rx_report_flows(e, o, &j, t);
	if (!o->json) {
		printf("received %llu (direct %llu, via backlog %llu), duplicates %llu, missing %llu; "
		       "drops: backlog %llu, xsk rx_dropped %llu, rx_ring_full %llu\n",
		       (unsigned long long)t->received, (unsigned long long)t->ws.rx_direct,
		       (unsigned long long)t->ws.rx_backlogged, (unsigned long long)t->dups,
		       (unsigned long long)t->missing, (unsigned long long)t->ws.rx_backlog_drops,
		       (unsigned long long)xs->rx_dropped, (unsigned long long)xs->rx_ring_full);
		return;
	}
	jw_u64(&j, "received", t->received);
	jw_u64(&j, "duplicates", t->dups);
	jw_u64(&j, "missing", t->missing);
	jw_u64(&j, "frames_seen", t->frames_seen);
	jw_u64(&j, "not_ours", t->ws.rx_invalid);
	jw_u64(&j, "direct", t->ws.rx_direct);
	jw_u64(&j, "backlogged", t->ws.rx_backlogged);
	jw_u64(&j, "backlog_drops", t->ws.rx_backlog_drops);
	jw_u64(&j, "xdp_rx_dropped", xs->rx_dropped);
	jw_u64(&j, "xdp_rx_ring_full", xs->rx_ring_full);
	jw_u64(&j, "xdp_rx_invalid", xs->rx_invalid_descs);
	jw_u64(&j, "xdp_fill_ring_empty", xs->rx_fill_ring_empty_descs);
	jw_u64(&j, "drops", xs->rx_dropped + xs->rx_ring_full + t->ws.rx_backlog_drops);
	jw_doc_end(&j);
}

int cmd_rx(const struct cli_args *o)
{
	struct xengine e;
	struct xeng_cfg cfg = cli_engine_cfg(o);
	struct rx_owner_app app = { &e, o, 0 };
	struct rx_totals t = { 0 };
	pthread_t th;
	int err;

	cfg.rx = true;
	cfg.rx_frames = 2 * o->ring_size;
	cfg.backlog_limit = 256 * 1024;
	cfg.nr_app_shards = 1;
	err = xeng_create(&e, &cfg, NULL, 0);
	if (err) {
		int rc = setup_error(&e, err);

		xeng_destroy(&e);
		return rc;
	}
	if (xeng_start(&e) != 0) {
		fprintf(stderr, "tsq-xsk: %s\n", e.err);
		xeng_destroy(&e);
		return 1;
	}
	pthread_create(&th, NULL, rx_owner_main, &app);
	touch(o->ready_file);
	rx_wait(&e, o);
	tsq_store(&app.stop, 1, TSQ_RELEASE);
	pthread_join(th, NULL);
	xeng_stop(&e);
	for (unsigned i = 0; i < e.nr_workers; i++) {
		pthread_join(e.workers[i].thread, NULL);
		e.workers[i].started = false;
	}
	rx_xdp_stats(&e, &t.xs);
	rx_report(&e, o, &t);
	xeng_destroy(&e);
	return t.dups ? 1 : 0;
}
